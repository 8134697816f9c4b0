"""Helpers of ex4's grader (``test_ex4_masking.py``): its inputs, the masker's call, the rates and bounds.

Statistical bounds, and the chance that a correct masker fails. The contract fixes the distribution
of a masker's output whatever order it draws its random numbers in: each non-special position is
selected independently with probability p = mlm_probability, and each selected token independently
becomes [MASK], a random id or stays, with the given probabilities. Every statistic below is a function
of those independent draws only, so each bound holds for any correct implementation.

1. Rates (``check_rate``). A rate is the mean of n independent Bernoulli(q) outcomes (selection over
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

ex4's grader makes at most ``STATISTICS = 16`` comparisons of kinds 1 and 2 (selection 1, 80/10/10 3,
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

import torch

from autograder.graders.support import describe, fail, shared_input
from autograder.wire import values as protocol

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


def settings_text(**probabilities: float) -> str:
    return "".join(f", {name}={value}" for name, value in probabilities.items())


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


def check_some_labels_left_out(labels, call: str) -> None:
    """The selection is read from the labels: with none at -100 there is none to read (said as what it
    is, never as a selection that went wrong)."""
    if not bool((labels == -100).any()):
        fail(
            f"Called {call} and no label is -100: positions that were not selected get the label -100, "
            "which the loss ignores; only selected positions keep their original id."
        )


def check_consistency(ids, masked, labels, call: str, *, specials: bool = True) -> None:
    """Labels: the original id where selected, -100 elsewhere; with ``specials``, special tokens never
    selected or changed (a side property of its own: only the check about it asks)."""
    special = torch.isin(ids, torch.tensor(NEVER_SELECTED))
    selected = labels != -100
    check_some_labels_left_out(labels, call)
    if specials and bool((selected & special).any()):
        token = int(ids[selected & special][0])
        fail(
            f"Called {call} and a special token (id {token}) was selected for prediction "
            f"({int((selected & special).sum())} special positions in all). Padding, [CLS], [SEP] and [MASK] "
            "itself are never selected: leave out positions whose id is in special_token_ids or is "
            "mask_token_id before drawing."
        )
    if specials and bool((masked[special] != ids[special]).any()):
        fail(f"Called {call} and some special tokens were changed; special tokens are never touched.")
    wrong_labels = selected & (labels != ids)
    if bool(wrong_labels.any()):
        position = tuple(int(i) for i in wrong_labels.nonzero()[0])
        fail(
            f"Called {call} and labels{list(position)} is {int(labels[position])}; the label of a selected "
            f"position is the original id ({int(ids[position])}), whatever replaced it in masked_ids."
        )


def labels_only_at_mask(ids, masked, labels) -> str:
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


def labels_only_where_changed(ids, masked, labels, keep: float = 0.1) -> str:
    """The sentence for labels kept only where the token changed, when the outputs show it, else ``""``
    (for a recipe that leaves the share ``keep`` of the selected tokens unchanged).

    The evidence: many labelled positions, not all of those that could be, some holding a random id, and
    almost all of them changed: a correct masker leaves about
    ``keep`` of them unchanged (at least 40 of 400; fewer than a third of that happens about once in a
    million), this slip only the random draws that picked the token they replace (1 in the vocabulary).
    """
    labelled = labels != -100
    count = int(labelled.sum())
    kept = int((masked[labelled] == ids[labelled]).sum())
    if keep <= 0 or count < 400 or kept >= keep * count / 3:
        return ""
    eligible = ~torch.isin(ids, torch.tensor(NEVER_SELECTED))
    if bool(labelled[eligible].all()) or bool((masked[labelled] == MASK_ID).all()):
        return ""  # everything selected, or only [MASK] put: other slips, said by what they show
    return (
        f"Of the {count} labelled positions {kept} kept their token: the labels seem "
        f"to be kept only where the token was changed, which leaves the {keep:.0%} of selected tokens "
        "that stay unchanged unlabelled (and so looks like fewer selected). labels holds the original id "
        "at every selected position, the ones left unchanged included."
    )


def nothing_drawn(ids, labels) -> bool:
    """Every non-special position got the same kind of label (all selected, or none): no selection was
    drawn at all, so a mask that never changes says nothing about the generator or reseeding."""
    selected = (labels != -100)[~torch.isin(ids, torch.tensor(NEVER_SELECTED))]
    return bool(selected.all()) or not bool(selected.any())


NOTHING_DRAWN = (
    "every non-special position got the same kind of label with both {} (all selected or none), so "
    "nothing was drawn at all: select each position on its own with probability mlm_probability"
)


def outcome_rates(ids, masked, labels):
    """What became of the non-special positions: how many were selected, and of those the shares made
    [MASK], a random id or left unchanged. Special tokens a masker selected are left to the check about
    them (a side property), so they change none of these figures."""
    special = torch.isin(ids, torch.tensor(NEVER_SELECTED))
    selected = (labels != -100) & ~special
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


def check_rate(observed: float, expected: float, n: int, *, call: str, what: str, hint: str = "") -> None:
    bound = tolerance(n) + SLACK
    if abs(observed - expected) > bound:
        fail(
            f"Called {call}: {what} is {observed:.4f}; expected {expected:.4f} "
            f"(within {bound:.4f} over {n} positions).{(' ' + hint) if hint else ''}"
        )


def binomial_cdf(trials: int, probability: float) -> torch.Tensor:
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
