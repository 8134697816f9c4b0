"""ex4 (outsider2): DataCollatorForLanguageModeling-style three Bernoulli steps."""
from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor


def _prob(name, value) -> float:
    v = float(value)
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    return v


class DynamicMasker:
    def __init__(
        self,
        vocab_size: int,
        mask_token_id: int,
        special_token_ids: Iterable[int],
        mlm_probability: float = 0.15,
        mask_replace_prob: float = 0.8,
        random_replace_prob: float = 0.1,
    ) -> None:
        self.mlm_probability = _prob("mlm_probability", mlm_probability)
        self.mask_replace_prob = _prob("mask_replace_prob", mask_replace_prob)
        self.random_replace_prob = _prob("random_replace_prob", random_replace_prob)
        if self.mask_replace_prob + self.random_replace_prob > 1:
            raise ValueError("mask_replace_prob + random_replace_prob must be at most 1")
        self.vocab_size = int(vocab_size)
        self.mask_token_id = int(mask_token_id)
        self.special_token_ids = sorted({int(i) for i in special_token_ids} | {self.mask_token_id})

    def __call__(self, input_ids: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        shape = input_ids.shape
        specials = torch.tensor(self.special_token_ids, dtype=input_ids.dtype, device=input_ids.device)
        is_special = torch.isin(input_ids, specials)
        prob = torch.full(shape, self.mlm_probability, dtype=torch.float64)
        prob.masked_fill_(is_special, 0.0)
        selected = torch.bernoulli(prob, generator=generator).bool()

        labels = input_ids.clone()
        labels[~selected] = -100
        masked = input_ids.clone()

        to_mask = torch.bernoulli(torch.full(shape, self.mask_replace_prob, dtype=torch.float64), generator=generator).bool()
        to_mask &= selected
        masked[to_mask] = self.mask_token_id
        labels[~to_mask] = -100

        remaining = 1.0 - self.mask_replace_prob
        if remaining > 0 and self.random_replace_prob > 0:
            p_random = min(self.random_replace_prob / remaining, 1.0)
            to_random = torch.bernoulli(torch.full(shape, p_random, dtype=torch.float64), generator=generator).bool()
            to_random &= selected & ~to_mask
            words = torch.randint(self.vocab_size, shape, dtype=input_ids.dtype, generator=generator)
            masked[to_random] = words[to_random]
        return masked, labels
