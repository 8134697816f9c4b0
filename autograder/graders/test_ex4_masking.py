"""Hidden checks for ex4: ``DynamicMasker`` (RoBERTa's dynamic masking with BERT's 80/10/10 recipe).

Statistical bounds, and the chance that a correct masker fails. The contract fixes the distribution
of a masker's output whatever order it draws its random numbers in: each non-special position is
selected independently with probability p = mlm_probability, and each selected token independently
becomes [MASK], a random id or stays, with the given probabilities. Every statistic below is a function
of those independent draws only, so each bound holds for any correct implementation.

1. Rates (``_check_rate``). A rate is the mean of n independent Bernoulli(q) outcomes (selection over
   the non-special positions; mask / random / unchanged over the selected ones, given the selection).
   Hoeffding's inequality, for any n and q:
   P(|observed - q| >= eps) <= 2 exp(-2 n eps**2), so eps(n) = sqrt(ln(2 / DELTA) / (2 n)) makes
   that probability at most DELTA. On top of eps, ``SLACK`` allows for a random replacement that equals
   the original token or the mask id (probability at most random_replace_prob * 2 / (V - 5) < 0.001
   for V = 1000), which then counts as unchanged or [MASK].
2. The spread of the per-row count (``test_masker_selects_positions_independently``). In a row of L
   positions none of them special, the number selected is Binomial(L, p), independently from row to
   row. The Dvoretzky-Kiefer-Wolfowitz inequality with Massart's constant bounds the distance between
   the empirical distribution function F_R of R such counts and the Binomial's F, for every
   distribution (a discrete one included): P(sup_k |F_R(k) - F(k)| > eps) <= 2 exp(-2 R eps**2),
   so the same eps(R) as in 1 keeps that probability at most DELTA.
3. Every eligible id appears (``test_masker_can_draw_every_eligible_id``). With V = 8 ids of which 4
   are eligible, every token selected and every selected token replaced by a random id (drawn from the
   whole vocabulary or from the eligible ids: at least 1/8 per draw for each eligible id), the chance
   that one of the 4 ids never appears among N = 400 draws is at most 4 (7/8)**400 < 1e-22.

The file makes at most ``STATISTICS = 16`` comparisons of kinds 1 and 2 (selection 1, 80/10/10 3,
given probabilities 4, short rows 1, per-row spread 1; 10 in all, 16 leaves room), each at
DELTA = 1e-6 / 16; with 3 the union bound gives a total below 1e-6 + 1e-22 that a correct masker
fails any check here, whatever order it draws in.

With 200,000 tokens (about 160,000 non-special, about 24,000 selected) eps is 0.0073 for the selection
rate and 0.019 for the 80/10/10 split, far from the classic bugs: random drawn as 10% of the remaining
20% (2% random, 18% unchanged), no unchanged case (0%), random always [MASK] (90% mask). With R = 4000
rows of 20 positions eps is 0.045, while a fixed count per row (3 of 20) is 0.40 away from the
Binomial(20, 0.15) distribution function.
"""

from __future__ import annotations

import math

import pytest
import torch

from autograder import protocol
from autograder.graders.support import describe, fail, shared_input, warm_up
from solutions.support.diagnosis import diagnose, replacement_mistakes

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
    lambda: (
        [
            token_ids(*shape, seed=seed)
            for shape, seed in [((100, 200), s) for s in (1, 3, 5)] + [((400, 500), s) for s in (7, 9, 11)]
        ]
        + [ordinary_ids(4000, 20, seed=23), ordinary_ids(4000, 1, seed=25)]
    )
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
    for what, tensor in zip(("masked_ids", "labels"), value, strict=True):
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


def _labels_only_at_mask(ids, masked, labels) -> str:
    """The sentence for labels kept only where [MASK] was put, when the outputs show it, else ``""``.

    The evidence: every labelled position holds [MASK], and positions with the label -100 were changed to
    ids that are nearly all other than [MASK] (random replacements whose label was dropped; a uniform draw
    gives [MASK] once in a vocabulary).
    """
    labelled = labels != -100
    dropped = (masked != ids) & ~labelled
    if not bool(dropped.any()) or float((masked[dropped] == MASK_ID).double().mean()) > 0.05:
        return ""
    if not bool((masked[labelled] == MASK_ID).all()):
        return ""
    return (
        f"Every labelled position holds [MASK] ({int(labelled.sum())} of them), while {int(dropped.sum())} "
        "positions with the label -100 were replaced by other ids: the labels seem to be kept only where "
        "[MASK] was put. labels holds the original id at every selected position, the ones replaced by a "
        "random id or left unchanged included (only mask_replace_prob of the selected become [MASK])."
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
    hint = _labels_only_at_mask(ids, masked, labels)
    if not hint and abs(everything - 0.15) < abs(rates["selection"] - 0.15):
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


@pytest.mark.points(2)
@pytest.mark.requires("test_masker_selection_rate_matches_mlm_probability")
def test_masker_never_selects_special_tokens(masker_class):
    ids = token_ids(100, 200, seed=1)
    for probabilities in ({}, {"mlm_probability": 1.0}):
        masked, labels, call = mask(
            make(masker_class, **probabilities), ids, seed=2, recipe=RECIPE.format(_settings(**probabilities))
        )
        _check_consistency(ids, masked, labels, call)
    listed_mask_id = masker_class(
        vocab_size=VOCAB_SIZE, mask_token_id=MASK_ID, special_token_ids=NEVER_SELECTED, mlm_probability=1.0
    )
    recipe = RECIPE.replace("[0, 101, 102]", str(NEVER_SELECTED)).format(_settings(mlm_probability=1.0))
    masked, labels, call = mask(listed_mask_id, ids, seed=2, recipe=recipe)
    _check_consistency(ids, masked, labels, call)


@pytest.mark.points(1)
@pytest.mark.requires("test_masker_selection_rate_matches_mlm_probability")
def test_masker_labels_hold_original_ids_at_selected_positions(masker_class):
    ids = token_ids(100, 200, seed=3)
    masked, labels, call = mask(make(masker_class), ids, seed=4)
    _check_consistency(ids, masked, labels, call)
    stray = (labels != -100) & (labels != ids)
    if bool(stray.any()):
        fail(f"Called {call} and labels hold ids that are not the input's at {int(stray.sum())} positions.")
    if bool((labels == -100).all()):
        fail(f"Called {call} and every label is -100: no position was selected for prediction.")


@pytest.mark.points(1)
@pytest.mark.requires("test_masker_selection_rate_matches_mlm_probability")
def test_masker_changes_only_selected_positions(masker_class):
    ids = token_ids(100, 200, seed=5)
    masked, labels, call = mask(
        make(masker_class, mlm_probability=0.5),
        ids,
        seed=6,
        recipe=RECIPE.format(_settings(mlm_probability=0.5)),
    )
    changed_unselected = (masked != ids) & (labels == -100)
    slip = _labels_only_at_mask(ids, masked, labels)
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
    _check_consistency(ids, masked, labels, call)
    rates = _rates(ids, masked, labels)
    n = rates["selected"]
    observed = torch.tensor([rates["mask"], rates["random"], rates["unchanged"]], dtype=torch.float64)
    slip = _labels_only_at_mask(ids, masked, labels)
    slip = slip or diagnose(observed, replacement_mistakes(0.8, 0.1), atol=tolerance(n) + SLACK)
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


def _binomial_cdf(trials: int, probability: float) -> torch.Tensor:
    """P(X <= k) for X ~ Binomial(trials, probability), k = 0 .. trials, in float64."""
    k = torch.arange(trials + 1, dtype=torch.float64)
    log_pmf = (
        torch.lgamma(torch.tensor(trials + 1.0)) - torch.lgamma(k + 1) - torch.lgamma(trials - k + 1)
        + k * math.log(probability) + (trials - k) * math.log1p(-probability)
    )  # fmt: skip
    return log_pmf.exp().cumsum(0).clamp(max=1.0)


@shared_input
def ordinary_ids(*shape: int, seed: int = 0) -> torch.Tensor:
    """Ids with no special token among them (104 .. 999)."""
    return torch.randint(104, VOCAB_SIZE, shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.points(2)
def test_masker_selects_positions_independently(masker_class):
    rows, length, probability = 4000, 20, 0.15
    ids = ordinary_ids(rows, length, seed=23)
    masked, labels, call = mask(make(masker_class), ids, seed=24)
    counts = (labels != -100).sum(dim=1)
    observed = torch.stack([(counts <= k).double().mean() for k in range(length + 1)])
    distance = float((observed - _binomial_cdf(length, probability)).abs().max())
    bound = tolerance(rows)
    if distance > bound:
        spread = float(counts.double().var())
        fixed = int(counts.min()) == int(counts.max())
        hint = (
            f"Every row had exactly {int(counts[0])} positions selected: a fixed number per row is not "
            "independent selection. Draw each position on its own (torch.bernoulli, or torch.rand(...) < p) "
            "so that the count varies from row to row."
            if fixed
            else _labels_only_at_mask(ids, masked, labels)
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
    _check_rate(
        selected / short.numel(),
        probability,
        short.numel(),
        call=call,
        what="the share of one-token rows selected",
        hint="A short row can be masked too: select each position independently, never "
        "int(mlm_probability * length) positions per row (0 for a short row).",
    )


@pytest.mark.points(1)
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
    if never:
        fail(
            f"Called {call}: {draws}. Every id from 4 to {vocab - 1} should come up. Draw from the whole "
            "vocabulary, torch.randint(vocab_size, ...)"
            + (
                ": its upper bound is excluded already, so vocab_size - 1 would never be drawn."
                if vocab - 1 in never
                else "."
            )
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
    _check_rate(
        rates["selection"],
        0.3,
        rates["candidates"],
        call=call,
        what="the share selected",
        hint=_labels_only_at_mask(ids, masked, labels),
    )
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


@pytest.mark.points(1)
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
@pytest.mark.requires("test_masker_selection_rate_matches_mlm_probability")
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
        selected = first[1] != -100
        if bool(selected.all()) or not bool(selected.any()):
            why = (
                "every position got the same kind of label with both seeds (all selected or none), so "
                "nothing was drawn at all"
            )
        elif not torch.equal(mask(make(masker_class), ids, seed=6)[1], first[1]):
            why = (
                "a new masker given seed 6 draws another mask, so this masker kept its mask from the call "
                "before: draw a new one on every call"
            )
        else:
            why = "the mask does not depend on the generator: draw every random number from it"
        fail(f"Called {other_seed[2]} and got the same mask as with seed 5: {why}.")


@pytest.mark.points(1)
@pytest.mark.requires("test_masker_selection_rate_matches_mlm_probability")
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
@pytest.mark.requires("test_masker_selection_rate_matches_mlm_probability")
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
