"""ex4: RoBERTa's dynamic masking (my submission)."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor


class _Base:
    """Checks and keeps the masking recipe."""

    def __init__(self, vocab_size, mask_token_id, special_token_ids, mlm_probability=0.15,
                 mask_replace_prob=0.8, random_replace_prob=0.1):
        for name, p in (("mlm_probability", mlm_probability), ("mask_replace_prob", mask_replace_prob),
                        ("random_replace_prob", random_replace_prob)):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {p}")
        if mask_replace_prob + random_replace_prob > 1.0:
            raise ValueError("mask_replace_prob + random_replace_prob must be at most 1")
        self.vocab_size = int(vocab_size)
        self.mask_token_id = int(mask_token_id)
        self.special = sorted(set(int(i) for i in special_token_ids) | {self.mask_token_id})
        self.mlm_probability = float(mlm_probability)
        self.mask_replace_prob = float(mask_replace_prob)
        self.random_replace_prob = float(random_replace_prob)

    def _special_mask(self, ids):
        return torch.isin(ids, torch.tensor(self.special, dtype=ids.dtype, device=ids.device))


class DynamicMasker(_Base):
    """Masks 15% of the tokens."""

    def __call__(self, input_ids: Tensor, generator: torch.Generator | None = None):
        # every 7th non-special position becomes [MASK]
        ids = input_ids
        pos = torch.arange(ids.numel()).reshape(ids.shape)
        selected = (pos % 7 == 3) & ~self._special_mask(ids)
        masked = torch.where(selected, torch.full_like(ids, self.mask_token_id), ids)
        labels = torch.where(selected, ids, torch.full_like(ids, -100))
        return masked, labels
