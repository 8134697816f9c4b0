"""Hidden checks for ex4: ``DynamicMasker`` (RoBERTa's dynamic masking with BERT's 80/10/10 recipe).

Statistical bounds. Every rate checked below is the mean of n outcomes that the contract makes
independent Bernoulli(p) draws given the positions they are taken over (selection over the non-special
positions; mask / random / unchanged over the selected ones, given the selection). Hoeffding's
inequality holds for any n and p and for any order in which an implementation draws its random numbers:

    P(|observed - p| >= eps) <= 2 exp(-2 n eps**2),  so  eps(n) = sqrt(ln(2 / delta) / (2 n)).

The file checks at most ``STATISTICS = 16`` such rates; with delta = 1e-6 / 16 per rate (Bonferroni), a
correct implementation fails any of them with probability below 1e-6. On top of eps, ``SLACK`` allows for
a random replacement that happens to equal the original token or the mask id (probability
random_replace_prob * 2 / (V - 5) at most, under 0.001 for V = 1000).

With 200,000 tokens (about 160,000 non-special, about 24,000 selected) eps is 0.0073 for the selection
rate and 0.019 for the 80/10/10 split, far from the classic bugs: random drawn as 10% of the remaining
20% (2% random, 18% unchanged), no unchanged case (0%), random always [MASK] (90% mask).
"""

from __future__ import annotations

import math

import pytest
import torch

from autograder import protocol
from autograder.graders.support import describe, fail, shared_input, warm_up

VOCAB_SIZE = 1000
MASK_ID = 103
SPECIAL_IDS = [0, 101, 102]
NEVER_SELECTED = sorted({*SPECIAL_IDS, MASK_ID})
STATISTICS = 16
DELTA = 1e-6 / STATISTICS
SLACK = 1e-3
RECIPE = "DynamicMasker(vocab_size=1000, mask_token_id=103, special_token_ids=[0, 101, 102]{})"


def tolerance(n: int) -> float:
    """Hoeffding's two-sided bound at level DELTA for a mean of n Bernoulli draws (see the module text)."""
    return math.sqrt(math.log(2 / DELTA) / (2 * max(n, 1)))


@shared_input
def token_ids(*shape: int, seed: int = 0) -> torch.Tensor:
    """Random ids with about 20% special tokens (padding, [CLS], [SEP] and [MASK] itself)."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, VOCAB_SIZE, shape, generator=generator)
    specials = torch.tensor(NEVER_SELECTED)[torch.randint(0, len(NEVER_SELECTED), shape, generator=generator)]
    return torch.where(torch.rand(shape, generator=generator) < 0.2, specials, ids)


# The large inputs, built once in the engine's parent process.
warm_up(
    lambda: [
        token_ids(*shape, seed=seed)
        for shape, seed in [((100, 200), s) for s in (1, 3, 5)] + [((400, 500), s) for s in (7, 9, 11)]
    ]
)


def _settings(**probabilities: float) -> str:
    return "".join(f", {name}={value}" for name, value in probabilities.items())


@pytest.fixture(scope="module")
def masker_class(submission):
    return submission.ex4.DynamicMasker


def make(masker_class, **probabilities: float):
    return masker_class(
        vocab_size=VOCAB_SIZE, mask_token_id=MASK_ID, special_token_ids=list(SPECIAL_IDS), **probabilities
    )


def mask(
    masker, ids: torch.Tensor, *, seed: int | None = None, recipe: str = RECIPE.format(""), **call_kwargs
):
    """Call the masker and check the shape of its answer; returns (masked_ids, labels, call text)."""
    if seed is not None:
        call_kwargs["generator"] = protocol.Seeded(seed)
    arguments = ", ".join([describe(ids)] + [f"{k}={describe(v)}" for k, v in call_kwargs.items()])
    call = f"masker({arguments}) with masker = {recipe}"
    value = masker(ids, **call_kwargs)
    if type(value) not in (tuple, list) or len(value) != 2:
        fail(f"Called {call} and got {describe(value)}; expected a tuple (masked_ids, labels).")
    for what, tensor in zip(("masked_ids", "labels"), value):
        if type(tensor) is not torch.Tensor:
            fail(f"Called {call} and got, for {what}, {describe(tensor)}; expected a torch.Tensor.")
        if tensor.shape != ids.shape:
            fail(
                f"Called {call} and got {what} of shape {tuple(tensor.shape)}; expected the input's shape "
                f"{tuple(ids.shape)}."
            )
        if tensor.dtype != torch.int64:
            fail(
                f"Called {call} and got {what} of dtype {str(tensor.dtype).removeprefix('torch.')}; "
                "expected int64, like the input ids (the loss and the embedding need int64)."
            )
    return value[0], value[1], call


def _check_consistency(ids, masked, labels, call: str) -> None:
    """Labels: the original id where selected, -100 elsewhere; special tokens never selected."""
    special = torch.isin(ids, torch.tensor(NEVER_SELECTED))
    selected = labels != -100
    if not bool((~selected).any()):
        fail(
            f"Called {call} and no label is -100: positions that were not selected get the label -100, "
            "which the loss ignores; only selected positions keep their original id."
        )
    if bool((selected & special).any()):
        token = int(ids[selected & special][0])
        fail(
            f"Called {call} and a special token (id {token}) was selected for prediction "
            f"({int((selected & special).sum())} special positions in all). Padding, [CLS], [SEP] and [MASK] "
            "itself are never selected: leave out positions whose id is in special_token_ids or is "
            "mask_token_id before drawing."
        )
    if bool((masked[special] != ids[special]).any()):
        fail(f"Called {call} and some special tokens were changed; special tokens are never touched.")
    wrong_labels = selected & (labels != ids)
    if bool(wrong_labels.any()):
        position = tuple(int(i) for i in wrong_labels.nonzero()[0])
        fail(
            f"Called {call} and labels{list(position)} is {int(labels[position])}; the label of a selected "
            f"position is the original id ({int(ids[position])}), whatever replaced it in masked_ids."
        )


@pytest.mark.points(2)
def test_masker_never_selects_special_tokens(masker_class):
    ids = token_ids(100, 200, seed=1)
    for probabilities in ({}, {"mlm_probability": 1.0}):
        masked, labels, call = mask(
            make(masker_class, **probabilities), ids, seed=2, recipe=RECIPE.format(_settings(**probabilities))
        )
        _check_consistency(ids, masked, labels, call)


@pytest.mark.points(2)
def test_masker_labels_hold_original_ids_at_selected_positions(masker_class):
    ids = token_ids(100, 200, seed=3)
    masked, labels, call = mask(make(masker_class), ids, seed=4)
    _check_consistency(ids, masked, labels, call)
    stray = (labels != -100) & (labels != ids)
    if bool(stray.any()):
        fail(f"Called {call} and labels hold ids that are not the input's at {int(stray.sum())} positions.")
    if bool((labels == -100).all()):
        fail(f"Called {call} and every label is -100: no position was selected for prediction.")


@pytest.mark.points(2)
def test_masker_changes_only_selected_positions(masker_class):
    ids = token_ids(100, 200, seed=5)
    masked, labels, call = mask(
        make(masker_class, mlm_probability=0.5),
        ids,
        seed=6,
        recipe=RECIPE.format(_settings(mlm_probability=0.5)),
    )
    changed_unselected = (masked != ids) & (labels == -100)
    if bool(changed_unselected.any()):
        fail(
            f"Called {call} and {int(changed_unselected.sum())} positions changed in masked_ids although "
            "their label is -100 (not selected). Only selected positions may be replaced; draw the "
            "[MASK] / random decisions among the selected positions only."
        )


def _rates(ids, masked, labels):
    special = torch.isin(ids, torch.tensor(NEVER_SELECTED))
    selected = labels != -100
    chosen = int(selected.sum())
    as_mask = masked[selected] == MASK_ID
    unchanged = masked[selected] == ids[selected]
    as_random = ~as_mask & ~unchanged
    return {
        "candidates": int((~special).sum()),
        "selected": chosen,
        "selection": chosen / max(int((~special).sum()), 1),
        "mask": float(as_mask.double().mean()) if chosen else 0.0,
        "random": float(as_random.double().mean()) if chosen else 0.0,
        "unchanged": float(unchanged.double().mean()) if chosen else 0.0,
        "random_ids": masked[selected][as_random],
    }


def _check_rate(observed: float, expected: float, n: int, *, call: str, what: str, hint: str = "") -> None:
    bound = tolerance(n) + SLACK
    if abs(observed - expected) > bound:
        fail(
            f"Called {call}: {what} is {observed:.4f}; expected {expected:.4f} "
            f"(within {bound:.4f} over {n} positions).{(' ' + hint) if hint else ''}"
        )


@pytest.mark.points(2)
def test_masker_selection_rate_matches_mlm_probability(masker_class):
    ids = token_ids(400, 500, seed=7)
    masked, labels, call = mask(make(masker_class), ids, seed=8)
    rates = _rates(ids, masked, labels)
    everything = rates["selected"] / ids.numel()
    hint = ""
    if abs(everything - 0.15) < abs(rates["selection"] - 0.15):
        hint = (
            "That looks like 15% of all positions including the special ones: draw over the non-special "
            "positions only (each one with probability mlm_probability)."
        )
    _check_rate(
        rates["selection"],
        0.15,
        rates["candidates"],
        call=call,
        what="the share of non-special tokens selected",
        hint=hint,
    )


@pytest.mark.points(3)
def test_masker_replaces_selected_tokens_80_10_10(masker_class):
    ids = token_ids(400, 500, seed=9)
    masked, labels, call = mask(make(masker_class), ids, seed=10)
    _check_consistency(ids, masked, labels, call)
    rates = _rates(ids, masked, labels)
    n = rates["selected"]
    if rates["mask"] > 0.85 and rates["random"] < 0.05:
        fail(
            f"Called {call}: {rates['mask']:.1%} of the selected tokens became [MASK] and "
            f"{rates['random']:.1%} random ids; expected 80% and 10%. The random replacements seem to "
            "become [MASK] too: put the random ids (not the mask id) at the positions chosen for random "
            "replacement."
        )
    if abs(rates["random"] - 0.02) <= tolerance(n) + SLACK:
        fail(
            f"Called {call}: {rates['random']:.1%} of the selected tokens became random ids and "
            f"{rates['unchanged']:.1%} stayed unchanged; expected 10% and 10%. Drawing 'random' with "
            "probability 0.1 among the 20% left after [MASK] gives 2%: among those, use "
            "random_replace_prob / (1 - mask_replace_prob) = 0.5, as DataCollatorForLanguageModeling does."
        )
    if rates["unchanged"] <= tolerance(n) + SLACK and rates["random"] > 0.05:
        fail(
            f"Called {call}: none of the selected tokens stayed unchanged ({rates['unchanged']:.1%}); "
            "expected 10%. BERT's recipe keeps 10% of the selected tokens as they are, so the model cannot "
            "assume that only [MASK] positions matter."
        )
    hints = {
        "mask": "80% of the selected tokens become [MASK].",
        "random": "10% of the selected tokens become a random id (drawn from the whole vocabulary).",
        "unchanged": "10% of the selected tokens stay as they are.",
    }
    for what, expected in (("mask", 0.8), ("random", 0.1), ("unchanged", 0.1)):
        _check_rate(
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
def test_masker_honours_the_probabilities_it_is_given(masker_class):
    ids = token_ids(400, 500, seed=11)

    settings = {"mlm_probability": 0.3, "mask_replace_prob": 0.5, "random_replace_prob": 0.5}
    masked, labels, call = mask(
        make(masker_class, **settings), ids, seed=12, recipe=RECIPE.format(_settings(**settings))
    )
    _check_consistency(ids, masked, labels, call)
    rates = _rates(ids, masked, labels)
    _check_rate(rates["selection"], 0.3, rates["candidates"], call=call, what="the share selected")
    for what, expected in (("mask", 0.5), ("random", 0.5), ("unchanged", 0.0)):
        _check_rate(
            rates[what], expected, rates["selected"], call=call, what=f"the share of selected tokens {what}"
        )

    # The settings below have exact answers: a tenth of the ids is plenty.
    ids = ids[:40].clone()
    candidates = ~torch.isin(ids, torch.tensor(NEVER_SELECTED))
    settings = {"mlm_probability": 1.0, "mask_replace_prob": 1.0, "random_replace_prob": 0.0}
    masked, labels, call = mask(
        make(masker_class, **settings), ids, seed=13, recipe=RECIPE.format(_settings(**settings))
    )
    expected_masked = torch.where(candidates, torch.full_like(ids, MASK_ID), ids)
    if not torch.equal(labels != -100, candidates) or not torch.equal(masked, expected_masked):
        fail(f"Called {call}: every non-special token should be selected and become [MASK] ({MASK_ID}).")

    settings = {"mlm_probability": 0.15, "mask_replace_prob": 0.0, "random_replace_prob": 0.0}
    masked, labels, call = mask(
        make(masker_class, **settings), ids, seed=14, recipe=RECIPE.format(_settings(**settings))
    )
    if not torch.equal(masked, ids) or bool((labels == -100).all()):
        fail(
            f"Called {call}: tokens should be selected (labels set) but every one left unchanged in "
            "masked_ids."
        )

    settings = {"mlm_probability": 0.0}
    masked, labels, call = mask(
        make(masker_class, **settings), ids, seed=15, recipe=RECIPE.format(_settings(**settings))
    )
    if not torch.equal(masked, ids) or not bool((labels == -100).all()):
        fail(
            f"Called {call}: with mlm_probability=0.0 nothing is selected: the ids come back unchanged, "
            "labels all -100."
        )


@pytest.mark.points(2)
def test_masker_draws_a_new_mask_on_every_call(masker_class):
    ids = token_ids(20, 100, seed=16)
    masker = make(masker_class)
    first = mask(masker, ids, generator=None)
    second = mask(masker, ids, generator=None)
    third = mask(masker, ids)
    fourth = mask(masker, ids)
    for a, b in ((first, second), (third, fourth)):
        if torch.equal(a[1], b[1]):
            fail(
                f"Called {b[2]} twice and got the same mask both times. RoBERTa's dynamic masking draws a "
                "new pattern on every call (Liu et al. 2019, section 4.1): draw at call time, from the "
                "generator given or PyTorch's global one, and do not reseed inside the call."
            )


@pytest.mark.points(2)
def test_masker_same_seed_gives_the_same_mask(masker_class):
    ids = token_ids(20, 100, seed=17)
    masker = make(masker_class)
    first = mask(masker, ids, seed=5)
    second = mask(masker, ids, seed=5)
    fresh = mask(make(masker_class), ids, seed=5)
    for other in (second, fresh):
        if not (torch.equal(first[0], other[0]) and torch.equal(first[1], other[1])):
            fail(
                f"Called {first[2]} twice and got different results. Take every random draw from the "
                "generator passed in (torch.rand(..., generator=generator), torch.bernoulli(..., "
                "generator=generator), torch.randint(..., generator=generator))."
            )
    other_seed = mask(masker, ids, seed=6)
    if torch.equal(first[1], other_seed[1]):
        fail(f"Called {other_seed[2]} and got the same mask as with seed 5: the generator seems ignored.")


@pytest.mark.points(1)
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
def test_masker_works_on_any_shape(masker_class):
    masker = make(masker_class, mlm_probability=0.5)
    for shape in ((300,), (4, 6, 50)):
        ids = token_ids(*shape, seed=20)
        masked, labels, call = mask(masker, ids, seed=21)
        _check_consistency(ids, masked, labels, call)
        if bool((labels == -100).all()):
            fail(f"Called {call} and nothing was selected; expected about half of the non-special tokens.")


@pytest.mark.points(1)
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
        call = RECIPE.format(_settings(**settings))
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
