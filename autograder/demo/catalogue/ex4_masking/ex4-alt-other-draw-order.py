"""ex4 with one uniform number per decision and another draw order: random ids first."""

from __future__ import annotations

import torch


class DynamicMasker:
    def __init__(self, vocab_size, mask_token_id, special_token_ids, mlm_probability=0.15,
                 mask_replace_prob=0.8, random_replace_prob=0.1):
        for p in (mlm_probability, mask_replace_prob, random_replace_prob):
            if not 0 <= p <= 1:
                raise ValueError("probabilities must lie in [0, 1]")
        if mask_replace_prob + random_replace_prob > 1:
            raise ValueError("mask_replace_prob + random_replace_prob must be at most 1")
        self.vocab_size = vocab_size
        self.mask_token_id = mask_token_id
        self.never = torch.tensor(sorted(set(special_token_ids) | {mask_token_id}))
        self.p = mlm_probability
        self.p_mask = mask_replace_prob
        self.p_random = random_replace_prob

    def __call__(self, input_ids, generator=None):
        random_ids = torch.randint(0, self.vocab_size, input_ids.shape, generator=generator)
        selection_draw = torch.rand(input_ids.shape, generator=generator)
        action_draw = torch.rand(input_ids.shape, generator=generator)
        selected = (selection_draw < self.p) & ~torch.isin(input_ids, self.never)
        labels = torch.full_like(input_ids, -100)
        labels[selected] = input_ids[selected]
        masked = input_ids.clone()
        to_mask = selected & (action_draw < self.p_mask)
        to_random = selected & (action_draw >= self.p_mask) & (action_draw < self.p_mask + self.p_random)
        masked[to_mask] = self.mask_token_id
        masked[to_random] = random_ids[to_random]
        return masked, labels
