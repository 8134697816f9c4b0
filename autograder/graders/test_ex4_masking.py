"""Hidden checks for ex4: ``DynamicMasker`` (RoBERTa's dynamic masking with BERT's 80/10/10 recipe).

The statistical bounds behind every rate and spread compared here, and the chance that a correct masker
fails, are in :mod:`autograder.graders.masking_support`.
"""

from __future__ import annotations

import pytest
import torch

from autograder.graders.masking_support import (
    MASK_ID,
    NEVER_SELECTED,
    NOTHING_DRAWN,
    RECIPE,
    SLACK,
    VOCAB_SIZE,
    binomial_cdf,
    check_consistency,
    check_rate,
    check_some_labels_left_out,
    labels_only_at_mask,
    labels_only_where_changed,
    make,
    mask,
    nothing_drawn,
    ordinary_ids,
    outcome_rates,
    settings_text,
    token_ids,
    tolerance,
)
from autograder.graders.support import describe, fail, warm_up
from autograder.wire import values as protocol
from solutions.support.diagnosis import diagnose, replacement_mistakes

# The large inputs, built once in the engine's parent process.
warm_up(
    lambda: (
        [
            token_ids(*shape, seed=seed)
            for shape, seed in [((100, 200), s) for s in (1, 3, 5)] + [((400, 500), s) for s in (7, 9, 11)]
        ]
        + [ordinary_ids(4000, 20, seed=23), ordinary_ids(4000, 1, seed=25)]
    )
)


# A masker does its job when it selects at the rate asked and draws a new mask on every call: one that
# masks a fixed pattern (every 7th token) is static masking, and earns no side check's points.
MASKS_AT_RANDOM = (
    "test_masker_selection_rate_matches_mlm_probability",
    "test_masker_draws_a_new_mask_on_every_call",
)


@pytest.fixture(scope="module")
def masker_class(submission):
    return submission.ex4.DynamicMasker


@pytest.mark.points(2)
def test_masker_selection_rate_matches_mlm_probability(masker_class):
    ids = token_ids(400, 500, seed=7)
    masked, labels, call = mask(make(masker_class), ids, seed=8)
    check_some_labels_left_out(labels, call)
    rates = outcome_rates(ids, masked, labels)
    everything = rates["selected"] / ids.numel()
    hint = labels_only_at_mask(ids, masked, labels) or labels_only_where_changed(ids, masked, labels)
    if not hint and abs(everything - 0.15) <= tolerance(ids.numel()) + SLACK:
        hint = (
            "That looks like 15% of all positions including the special ones: draw over the non-special "
            "positions only (each one with probability mlm_probability)."
        )
    if not hint and rates["selected"] == rates["candidates"]:
        hint = (
            "Every non-special token was selected: select each one on its own with probability "
            "mlm_probability (torch.bernoulli, or torch.rand(...) < mlm_probability)."
        )
    check_rate(
        rates["selection"],
        0.15,
        rates["candidates"],
        call=call,
        what="the share of non-special tokens selected",
        hint=hint,
    )
    # The rate alone is met by a fixed pattern (every 7th token): the selection must be drawn.
    small = token_ids(20, 100, seed=16)
    masker = make(masker_class)
    (_, first, _), (_, second, call) = mask(masker, small, seed=8), mask(masker, small, seed=9)
    if torch.equal(first != -100, second != -100) and not nothing_drawn(small, first):
        fail(
            f"Called {call}, and with seed=8 before it, and both selected the same positions: the "
            "selection is not drawn (a fixed pattern, a mask drawn once and reused, or a seed fixed inside "
            "the call). Select each non-special position on its own with probability mlm_probability, "
            "drawing from the generator given: torch.bernoulli(..., generator=generator)."
        )


@pytest.mark.points(1)
def test_masker_draws_a_new_mask_on_every_call(masker_class):
    ids = token_ids(20, 100, seed=16)
    masker = make(masker_class)
    first = mask(masker, ids, generator=None)
    second = mask(masker, ids, generator=None)
    third = mask(masker, ids)
    fourth = mask(masker, ids)
    for _, labels, call in (first, third):
        check_some_labels_left_out(labels, call)
    for a, b in ((first, second), (third, fourth)):
        if torch.equal(a[1], b[1]) and nothing_drawn(ids, a[1]):
            fail(f"Called {b[2]} twice and got the same mask both times: {NOTHING_DRAWN.format('calls')}.")
        if torch.equal(a[1], b[1]):
            fail(
                f"Called {b[2]} twice and got the same mask both times. RoBERTa's dynamic masking draws a "
                "new pattern on every call (Liu et al. 2019, section 4.1): draw at call time, from the "
                "generator given or PyTorch's global one, and do not reseed inside the call."
            )


@pytest.mark.points(2)
@pytest.mark.requires(*MASKS_AT_RANDOM)
def test_masker_never_selects_special_tokens(masker_class):
    ids = token_ids(100, 200, seed=1)
    for probabilities in ({}, {"mlm_probability": 1.0}):
        masked, labels, call = mask(
            make(masker_class, **probabilities),
            ids,
            seed=2,
            recipe=RECIPE.format(settings_text(**probabilities)),
        )
        check_consistency(ids, masked, labels, call)
    listed_mask_id = masker_class(
        vocab_size=VOCAB_SIZE, mask_token_id=MASK_ID, special_token_ids=NEVER_SELECTED, mlm_probability=1.0
    )
    recipe = RECIPE.replace("[0, 101, 102]", str(NEVER_SELECTED)).format(settings_text(mlm_probability=1.0))
    masked, labels, call = mask(listed_mask_id, ids, seed=2, recipe=recipe)
    check_consistency(ids, masked, labels, call)


@pytest.mark.points(1)
@pytest.mark.requires(*MASKS_AT_RANDOM)
def test_masker_labels_hold_original_ids_at_selected_positions(masker_class):
    ids = token_ids(100, 200, seed=3)
    masked, labels, call = mask(make(masker_class), ids, seed=4)
    check_consistency(ids, masked, labels, call, specials=False)
    stray = (labels != -100) & (labels != ids)
    if bool(stray.any()):
        fail(f"Called {call} and labels hold ids that are not the input's at {int(stray.sum())} positions.")
    if bool((labels == -100).all()):
        fail(f"Called {call} and every label is -100: no position was selected for prediction.")


@pytest.mark.points(1)
@pytest.mark.requires(*MASKS_AT_RANDOM)
def test_masker_changes_only_selected_positions(masker_class):
    ids = token_ids(100, 200, seed=5)
    masked, labels, call = mask(
        make(masker_class, mlm_probability=0.5),
        ids,
        seed=6,
        recipe=RECIPE.format(settings_text(mlm_probability=0.5)),
    )
    changed_unselected = (masked != ids) & (labels == -100)
    slip = labels_only_at_mask(ids, masked, labels)
    if slip:
        fail(
            f"Called {call} and {int(changed_unselected.sum())} positions changed in masked_ids although "
            f"their label is -100. {slip}"
        )
    if bool(changed_unselected.any()):
        fail(
            f"Called {call} and {int(changed_unselected.sum())} positions changed in masked_ids although "
            "their label is -100 (not selected). Only selected positions may be replaced; draw the "
            "[MASK] / random decisions among the selected positions only."
        )


@pytest.mark.points(3)
def test_masker_replaces_selected_tokens_80_10_10(masker_class):
    ids = token_ids(400, 500, seed=9)
    masked, labels, call = mask(make(masker_class), ids, seed=10)
    check_consistency(ids, masked, labels, call, specials=False)
    rates = outcome_rates(ids, masked, labels)
    n = rates["selected"]
    if not n:
        fail(
            f"Called {call} and no non-special position was selected (their labels are all -100): there "
            "are no selected tokens to split 80% [MASK], 10% random, 10% unchanged."
        )
    observed = torch.tensor([rates["mask"], rates["random"], rates["unchanged"]], dtype=torch.float64)
    slip = labels_only_at_mask(ids, masked, labels)
    right = torch.tensor([0.8, 0.1, 0.1], dtype=torch.float64)
    slip = slip or diagnose(
        observed, replacement_mistakes(0.8, 0.1), expected=right, atol=tolerance(n) + SLACK
    )
    if slip:
        fail(
            f"Called {call}: {rates['mask']:.1%} of the selected tokens became [MASK], {rates['random']:.1%} "
            f"random ids and {rates['unchanged']:.1%} stayed unchanged; expected 80%, 10% and 10%. {slip}"
        )
    hints = {
        "mask": "80% of the selected tokens become [MASK].",
        "random": "10% of the selected tokens become a random id (drawn from the whole vocabulary).",
        "unchanged": "10% of the selected tokens stay as they are.",
    }
    for what, expected in (("mask", 0.8), ("random", 0.1), ("unchanged", 0.1)):
        check_rate(
            rates[what], expected, n, call=call, what=f"the share of selected tokens {what}", hint=hints[what]
        )
    random_ids = rates["random_ids"]
    if bool(((random_ids < 0) | (random_ids >= VOCAB_SIZE)).any()):
        fail(f"Called {call} and some random replacements lie outside the vocabulary [0, {VOCAB_SIZE}).")
    distinct = int(random_ids.unique().numel())
    if distinct < VOCAB_SIZE // 4:
        fail(
            f"Called {call} and the {random_ids.numel()} random replacements use only {distinct} "
            f"different ids; draw each one uniformly from the vocabulary (torch.randint({VOCAB_SIZE}, ...))."
        )


@pytest.mark.points(2)
def test_masker_selects_positions_independently(masker_class):
    rows, length, probability = 4000, 20, 0.15
    ids = ordinary_ids(rows, length, seed=23)
    masked, labels, call = mask(make(masker_class), ids, seed=24)
    check_some_labels_left_out(labels, call)
    counts = (labels != -100).sum(dim=1)
    observed = torch.stack([(counts <= k).double().mean() for k in range(length + 1)])
    distance = float((observed - binomial_cdf(length, probability)).abs().max())
    bound = tolerance(rows)
    if distance > bound:
        spread = float(counts.double().var())
        fixed = int(counts.min()) == int(counts.max())
        hint = (
            f"Every row had exactly {int(counts[0])} positions selected: a fixed number per row is not "
            "independent selection. Draw each position on its own (torch.bernoulli, or torch.rand(...) < p) "
            "so that the count varies from row to row."
            if fixed and int(counts[0]) > 0
            else "No position was selected in any row: select each non-special position on its own with "
            "probability mlm_probability."
            if fixed
            else labels_only_at_mask(ids, masked, labels)
            or "Select each non-special position on its own with probability mlm_probability."
        )
        fail(
            f"Called {call} on {rows} rows of {length} ordinary tokens: the number selected per row has "
            f"variance {spread:.3g}; independent selection gives Binomial({length}, {probability}), variance "
            f"{length * probability * (1 - probability):.3g} (the distribution functions differ by "
            f"{distance:.3f}, more than {bound:.3f}). {hint}"
        )
    short = ordinary_ids(4000, 1, seed=25)
    _, labels, call = mask(make(masker_class), short, seed=26)
    selected = int((labels != -100).sum())
    check_rate(
        selected / short.numel(),
        probability,
        short.numel(),
        call=call,
        what="the share of one-token rows selected",
        hint="A short row can be masked too: select each position independently, never "
        "int(mlm_probability * length) positions per row (0 for a short row).",
    )


@pytest.mark.points(1)
@pytest.mark.requires(*MASKS_AT_RANDOM)
def test_masker_can_draw_every_eligible_id(masker_class):
    vocab, mask_id, specials = 8, 3, [0, 1, 2]
    ids = torch.randint(4, vocab, (50, 8), generator=torch.Generator().manual_seed(27))
    recipe = f"DynamicMasker(vocab_size={vocab}, mask_token_id={mask_id}, special_token_ids={specials}, "
    recipe += "mlm_probability=1.0, mask_replace_prob=0.0, random_replace_prob=1.0)"
    masker = masker_class(
        vocab_size=vocab,
        mask_token_id=mask_id,
        special_token_ids=list(specials),
        mlm_probability=1.0,
        mask_replace_prob=0.0,
        random_replace_prob=1.0,
    )
    masked, labels, call = mask(masker, ids, seed=28, recipe=recipe)
    outside = masked[(masked < 0) | (masked >= vocab)]
    if outside.numel():
        fail(f"Called {call} and got the random id {int(outside[0])}, outside the vocabulary [0, {vocab}).")
    drawn = set(masked.unique().tolist())
    never = [token for token in range(4, vocab) if token not in drawn]
    draws = (
        f"{ids.numel()} draws, {int((masked != ids).sum())} of them changed the id; the ids in masked_ids: "
        f"{sorted(drawn)}" + (f", never drawn: {never}" if never else "")
    )
    as_mask = int((masked == mask_id).sum())
    unlabelled = int((labels == -100).sum())
    if unlabelled:
        slip = ""
        if unlabelled == ids.numel() and bool((masked != ids).any()):
            slip = (
                " Every label is -100 although ids were replaced: labels holds the original id at every "
                "selected position, whatever replaced it (here no position becomes [MASK])."
            )
        fail(
            f"Called {call}: {unlabelled} of the {ids.numel()} ordinary positions have the label -100 "
            f"({draws}); with mlm_probability=1.0 every ordinary token is selected and labelled.{slip}"
        )
    if never and as_mask > ids.numel() // 2:  # a uniform draw gives the mask id 1 time in 8
        fail(
            f"Called {call}: {draws}; {as_mask} became [MASK] although mask_replace_prob=0.0. With "
            "random_replace_prob=1.0 every selected token becomes a random id: use the probabilities the "
            "masker was given."
        )
    if never:
        fail(
            f"Called {call}: {draws}. Every id from 4 to {vocab - 1} should come up. Draw from the whole "
            "vocabulary, torch.randint(vocab_size, ...)"
            + (
                ": its upper bound is excluded already, so vocab_size - 1 would never be drawn."
                if never == [vocab - 1]
                else "."
            )
        )


@pytest.mark.points(2)
def test_masker_honours_the_probabilities_it_is_given(masker_class):
    ids = token_ids(400, 500, seed=11)

    settings = {"mlm_probability": 0.3, "mask_replace_prob": 0.5, "random_replace_prob": 0.5}
    masked, labels, call = mask(
        make(masker_class, **settings), ids, seed=12, recipe=RECIPE.format(settings_text(**settings))
    )
    check_consistency(ids, masked, labels, call, specials=False)
    rates = outcome_rates(ids, masked, labels)
    check_rate(
        rates["selection"],
        0.3,
        rates["candidates"],
        call=call,
        what="the share selected",
        hint=labels_only_at_mask(ids, masked, labels),
    )
    for what, expected in (("mask", 0.5), ("random", 0.5), ("unchanged", 0.0)):
        check_rate(
            rates[what], expected, rates["selected"], call=call, what=f"the share of selected tokens {what}"
        )

    # The settings below have exact answers (at the non-special positions: special tokens are the
    # business of the check about them): a tenth of the ids is plenty.
    ids = ids[:40].clone()
    candidates = ~torch.isin(ids, torch.tensor(NEVER_SELECTED))
    settings = {"mlm_probability": 1.0, "mask_replace_prob": 1.0, "random_replace_prob": 0.0}
    masked, labels, call = mask(
        make(masker_class, **settings), ids, seed=13, recipe=RECIPE.format(settings_text(**settings))
    )
    selected, as_mask = labels[candidates] != -100, masked[candidates] == MASK_ID
    if not bool(selected.all()) or not bool(as_mask.all()):
        fail(
            f"Called {call} and {int(selected.sum())} of the {int(candidates.sum())} non-special tokens were "
            f"selected, {int(as_mask.sum())} became [MASK] ({MASK_ID}); with mlm_probability=1.0 and "
            "mask_replace_prob=1.0 every one is selected and becomes [MASK]."
        )

    settings = {"mlm_probability": 0.15, "mask_replace_prob": 0.0, "random_replace_prob": 0.0}
    masked, labels, call = mask(
        make(masker_class, **settings), ids, seed=14, recipe=RECIPE.format(settings_text(**settings))
    )
    selected = labels[candidates] != -100
    changed = masked[candidates] != ids[candidates]
    if bool(changed.any()):
        to_mask = int((changed & (masked[candidates] == MASK_ID)).sum())
        fail(
            f"Called {call} and {int(changed.sum())} of the {int(selected.sum())} selected tokens were "
            f"replaced ({to_mask} by [MASK], {int(changed.sum()) - to_mask} by other ids); with "
            "mask_replace_prob=0.0 and random_replace_prob=0.0 every selected token stays as it is (it is "
            "left unchanged with probability 1 - mask_replace_prob - random_replace_prob)."
        )
    if not bool(selected.any()):
        fail(
            f"Called {call} and every label is -100: about 15% should be selected, then all left unchanged "
            "(selection does not depend on the replacement probabilities), and labels hold their original "
            "ids, also where the token stays as it is (labels kept only where a token changed give this)."
        )

    settings = {"mlm_probability": 0.0}
    masked, labels, call = mask(
        make(masker_class, **settings), ids, seed=15, recipe=RECIPE.format(settings_text(**settings))
    )
    if not torch.equal(masked[candidates], ids[candidates]) or not bool((labels[candidates] == -100).all()):
        fail(
            f"Called {call}: with mlm_probability=0.0 nothing is selected: the ids come back unchanged, "
            "labels all -100."
        )


@pytest.mark.points(2)
@pytest.mark.requires(*MASKS_AT_RANDOM)
def test_masker_same_seed_gives_the_same_mask(masker_class):
    ids = token_ids(20, 100, seed=17)
    masker = make(masker_class)
    first = mask(masker, ids, seed=5)
    second = mask(masker, ids, seed=5)
    fresh = mask(make(masker_class), ids, seed=5)
    check_some_labels_left_out(first[1], first[2])
    for other in (second, fresh):
        if not (torch.equal(first[0], other[0]) and torch.equal(first[1], other[1])):
            fail(
                f"Called {first[2]} twice and got different results. Take every random draw from the "
                "generator passed in (torch.rand(..., generator=generator), torch.bernoulli(..., "
                "generator=generator), torch.randint(..., generator=generator))."
            )
    other_seed = mask(masker, ids, seed=6)
    if torch.equal(first[1], other_seed[1]):
        if nothing_drawn(ids, first[1]):
            why = NOTHING_DRAWN.format("seeds")
        elif not torch.equal(mask(make(masker_class), ids, seed=6)[1], first[1]):
            why = (
                "a new masker given seed 6 draws another mask, so this masker kept its mask from the call "
                "before: draw a new one on every call"
            )
        else:
            why = "the mask does not depend on the generator: draw every random number from it"
        fail(f"Called {other_seed[2]} and got the same mask as with seed 5: {why}.")


@pytest.mark.points(1)
@pytest.mark.requires(*MASKS_AT_RANDOM)
def test_masker_leaves_its_input_unchanged(masker_class):
    ids = token_ids(50, 100, seed=18)
    original = ids.clone()
    masker = make(masker_class, mlm_probability=0.5)
    result = masker.call(ids, generator=protocol.Seeded(19), arguments=True)
    if not torch.equal(result.args[0], original):
        fail(
            f"Called masker({describe(ids)}, generator=...) and the input_ids passed in were changed by the "
            "call. Work on input_ids.clone(): the caller's batch must stay as it was."
        )


@pytest.mark.points(1)
@pytest.mark.requires(*MASKS_AT_RANDOM)
def test_masker_works_on_any_shape(masker_class):
    masker = make(masker_class, mlm_probability=0.5)
    recipe = RECIPE.format(settings_text(mlm_probability=0.5))
    for shape in ((300,), (4, 6, 50)):
        ids = token_ids(*shape, seed=20)
        masked, labels, call = mask(masker, ids, seed=21, recipe=recipe)
        check_consistency(ids, masked, labels, call, specials=False)
        if bool((labels == -100).all()):
            fail(f"Called {call} and nothing was selected; expected about half of the non-special tokens.")


@pytest.mark.points(1)
@pytest.mark.requires(*MASKS_AT_RANDOM)
def test_masker_rejects_bad_probabilities(masker_class):
    ids = token_ids(4, 10, seed=22)
    problems = []
    for settings, why in (
        ({"mlm_probability": 1.5}, "a probability above 1"),
        ({"mlm_probability": -0.1}, "a negative probability"),
        ({"mask_replace_prob": 1.2, "random_replace_prob": 0.0}, "a probability above 1"),
        ({"random_replace_prob": -0.2}, "a negative probability"),
        ({"mask_replace_prob": 0.9, "random_replace_prob": 0.2}, "mask + random replacement above 1"),
    ):
        call = RECIPE.format(settings_text(**settings))
        try:
            masker = make(masker_class, **settings)
            masker(ids, generator=protocol.Seeded(0))
        except protocol.SubmissionRaised as raised:
            if not raised.is_a("ValueError"):
                problems.append(f"{call} raised {raised.type_name}; expected a ValueError ({why}).")
            continue
        problems.append(f"{call} was accepted; expected a ValueError ({why}).")
    if problems:
        fail(" ".join(problems) + " Check the probabilities in __init__.")
