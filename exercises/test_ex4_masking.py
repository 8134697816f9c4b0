"""Visible checks for ex4 (RoBERTa's dynamic masking): `pytest exercises -m ex4`."""

from __future__ import annotations

import math

import pytest
import torch

from .ex4_masking import DynamicMasker
from .support.checking import check_raises, check_tensor, describe
from .support.diagnosis import clause, explain, replacement_mistakes

pytestmark = pytest.mark.ex4

VOCAB_SIZE = 1000
PAD, CLS, SEP, MASK = 0, 1, 2, 4
SPECIAL_IDS = [PAD, CLS, SEP]
SIGMAS = 6
"""Rates must lie within 6 binomial standard deviations: a correct masker fails with probability < 1e-8."""


def token_batch(rows: int, length: int, seed: int = 0) -> torch.Tensor:
    """[CLS] words [SEP] [PAD]..., with a few [MASK] ids already in the text (they must never be selected)."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, VOCAB_SIZE, (rows, length), generator=generator)
    ids[:, 0] = CLS
    ids[:, -1] = SEP
    ids[::2, -4:-1] = PAD
    ids[:, 5] = MASK
    return ids


def masker_call(ids: torch.Tensor, seed: int) -> str:
    return (
        f"DynamicMasker(1000, 4, [0, 1, 2])({describe(ids)}, generator=torch.Generator().manual_seed({seed}))"
    )


def rate_problem(name: str, count: int, total: int, expected: float, extra: float = 0.0) -> str | None:
    rate = count / total
    allowed = SIGMAS * math.sqrt(expected * (1 - expected) / total) + extra
    if abs(rate - expected) <= allowed:
        return None
    return f"{name}: {rate:.1%} of {total:,}; expected {expected:.0%} (within {allowed:.1%})"


def test_masker_rates_are_15_percent_then_80_10_10():
    ids = token_batch(200, 256)
    masker = DynamicMasker(VOCAB_SIZE, MASK, SPECIAL_IDS)
    masked_ids, labels = masker(ids, generator=torch.Generator().manual_seed(1))
    call = masker_call(ids, 1)
    candidates = ~torch.isin(ids, torch.tensor([*SPECIAL_IDS, MASK]))
    selected = labels != -100
    num_selected = int(selected.sum())
    problem = rate_problem("selected tokens", num_selected, int(candidates.sum()), 0.15)
    assert problem is None, (
        f"Called {call}; {problem} of the non-special tokens (mlm_probability=0.15). "
        + clause("ex4.selection")
    )
    became_mask = int((masked_ids[selected] == MASK).sum())
    unchanged = int((masked_ids[selected] == ids[selected]).sum())
    became_random = num_selected - became_mask - unchanged
    # A random id equals the original or [MASK] with probability 2 / VOCAB_SIZE: allow for it.
    collision = 0.1 * 2 / VOCAB_SIZE
    problems = [
        rate_problem(f"selected tokens that {name}", count, num_selected, expected, collision)
        for name, count, expected in [
            ("became [MASK]", became_mask, 0.8),
            ("became a random id", became_random, 0.1),
            ("stayed unchanged", unchanged, 0.1),
        ]
    ]
    problem = next((problem for problem in problems if problem is not None), None)
    if problem is not None:
        shares = torch.tensor([became_mask, became_random, unchanged], dtype=torch.float64) / num_selected
        bound = SIGMAS * math.sqrt(0.25 / num_selected) + collision
        slip = explain(shares, replacement_mistakes(0.8, 0.1), "ex4.replacement", rtol=0.0, atol=bound)
        raise AssertionError(f"Called {call}; {problem}. {slip}")


def test_masker_labels_hold_the_originals_and_specials_are_never_selected():
    ids = token_batch(8, 64, seed=2)
    masker = DynamicMasker(VOCAB_SIZE, MASK, SPECIAL_IDS, mlm_probability=0.5)
    masked_ids, labels = masker(ids, generator=torch.Generator().manual_seed(3))
    call = masker_call(ids, 3)
    selected = labels != -100
    check_tensor(
        labels,
        torch.where(selected, ids, torch.full_like(ids, -100)),
        call=call,
        what="the labels",
        hint=clause("ex4.labels"),
    )
    special = torch.isin(ids, torch.tensor([*SPECIAL_IDS, MASK]))
    assert not (selected & special).any(), (
        f"Called {call} and selected {int((selected & special).sum())} special tokens "
        "([CLS], [SEP], [PAD] or [MASK] itself): they must never be selected"
    )
    check_tensor(
        torch.where(selected, -1, masked_ids),
        torch.where(selected, -1, ids),
        call=call,
        what="the tokens that were not selected",
        hint=clause("ex4.unselected"),
    )


def test_masker_is_reproducible_with_a_seed_and_fresh_on_every_call():
    ids = token_batch(4, 32, seed=4)
    original = ids.clone()
    masker = DynamicMasker(VOCAB_SIZE, MASK, SPECIAL_IDS)
    generator = torch.Generator().manual_seed(5)
    call = masker_call(ids, 5)
    first_ids, first_labels = masker(ids, generator=generator)
    check_tensor(
        ids,
        original,
        call=call,
        what="the input afterwards",
        hint=clause("ex4.input"),
    )
    again_ids, again_labels = masker(ids, generator=torch.Generator().manual_seed(5))
    check_tensor(
        again_ids,
        first_ids,
        call=call + " twice",
        what="the second masked_ids",
        hint=clause("ex4.seed"),
    )
    check_tensor(
        again_labels, first_labels, call=call + " twice", what="the second labels", hint=clause("ex4.seed")
    )
    _, next_labels = masker(ids, generator=generator)
    assert not torch.equal(next_labels, first_labels), (
        f"Called {call} and then again with the same (advanced) generator, and got the same mask: "
        "dynamic masking draws a new mask on every call"
    )


@pytest.mark.parametrize(
    "probabilities",
    [
        {"mlm_probability": 1.5},
        {"mask_replace_prob": -0.1},
        {"random_replace_prob": 1.2},
        {"mask_replace_prob": 0.8, "random_replace_prob": 0.3},
    ],
)
def test_masker_rejects_impossible_probabilities(probabilities):
    arguments = ", ".join(f"{key}={value}" for key, value in probabilities.items())
    check_raises(
        DynamicMasker,
        VOCAB_SIZE,
        MASK,
        SPECIAL_IDS,
        call=f"DynamicMasker(1000, 4, [0, 1, 2], {arguments})",
        why="probabilities lie in [0, 1] and mask_replace_prob + random_replace_prob is at most 1",
        **probabilities,
    )
