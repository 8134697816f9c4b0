"""ex4: RoBERTa's dynamic masking (my submission)."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor


class DynamicMasker:
    """80/10/10 masking, new pattern every call."""

    def __init__(self, vocab_size, mask_token_id, special_token_ids, mlm_probability=0.15,
                 mask_replace_prob=0.8, random_replace_prob=0.1):
        for name, p in (("mlm_probability", mlm_probability), ("mask_replace_prob", mask_replace_prob),
                        ("random_replace_prob", random_replace_prob)):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {p}")
        if mask_replace_prob + random_replace_prob > 1.0 + 1e-9:
            raise ValueError("mask_replace_prob + random_replace_prob must be <= 1")
        self.vocab_size = vocab_size
        self.mask_token_id = mask_token_id
        self.special = sorted(set(int(t) for t in special_token_ids) | {int(mask_token_id)})
        self.p = mlm_probability
        self.m = mask_replace_prob
        self.r = random_replace_prob

    def _special(self, input_ids):
        special = torch.zeros(input_ids.shape, dtype=torch.bool, device=input_ids.device)
        for token in self.special:
            special |= input_ids == token
        return special

    def __call__(self, input_ids, generator=None):
        special = self._special(input_ids)
        masked = torch.where(special, input_ids, torch.full_like(input_ids, self.mask_token_id))
        labels = torch.where(special, torch.full_like(input_ids, -100), input_ids)
        return masked, labels
