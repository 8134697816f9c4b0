"""ex4 (dynamic masking): the usual slips as formulas of the call's inputs."""

from __future__ import annotations

import torch
from torch import Tensor

from .core import Candidate


def replacement_mistakes(mask_replace_prob: float, random_replace_prob: float) -> list[Candidate]:
    """The shares (mask, random, unchanged) among selected tokens that the usual slips give.

    Compare observed shares with ``diagnose(observed, ..., atol=bound)``, ``bound`` the statistical
    tolerance of the observation.
    """
    p_mask, p_random = mask_replace_prob, random_replace_prob
    remaining = 1 - p_mask
    unchanged = 1 - p_mask - p_random

    def shares(mask: float, random: float, kept: float) -> Tensor:
        return torch.tensor([mask, random, kept], dtype=torch.float64)

    candidates = [
        Candidate(
            shares(p_mask, remaining * p_random, remaining * (1 - p_random)),
            f"Drawing 'random' with probability {p_random:g} among the {remaining:.0%} left after [MASK] "
            f"gives {remaining * p_random:.0%}: among those, use random_replace_prob / (1 - "
            "mask_replace_prob), as DataCollatorForLanguageModeling does.",
        ),
        Candidate(
            shares(p_mask + p_random, 0.0, unchanged),
            "The random replacements seem to become [MASK] too: put the random ids (not the mask id) at "
            "the positions chosen for random replacement.",
        ),
        Candidate(
            shares(p_mask, remaining, 0.0),
            f"None of the selected tokens stayed unchanged: BERT's recipe keeps {unchanged:.0%} of them as "
            "they are, so the model cannot assume that only [MASK] positions matter.",
        ),
        Candidate(
            shares(p_mask / (1 - unchanged), p_random / (1 - unchanged), 0.0) if unchanged < 1 else None,
            "No labelled token stayed unchanged, and the shares are those of [MASK] and random alone: the "
            "labels seem to be kept only where the token was changed. labels holds the original id at "
            "every selected position, the ones left unchanged included.",
        ),
        Candidate(
            shares(p_random, p_mask, unchanged),
            "mask_replace_prob and random_replace_prob are swapped: most selected tokens should become "
            "[MASK].",
        ),
    ]
    right = shares(p_mask, p_random, unchanged)
    return [c for c in candidates if c.value is not None and not torch.allclose(c.value, right)]
