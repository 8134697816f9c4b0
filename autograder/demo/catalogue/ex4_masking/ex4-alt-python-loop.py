"""ex4 position by position in a Python loop; random ids avoid the special ones."""

from __future__ import annotations

import torch


class DynamicMasker:
    def __init__(self, vocab_size, mask_token_id, special_token_ids, mlm_probability=0.15,
                 mask_replace_prob=0.8, random_replace_prob=0.1):
        if not (0 <= mlm_probability <= 1 and 0 <= mask_replace_prob <= 1 and 0 <= random_replace_prob <= 1):
            raise ValueError("probabilities must lie in [0, 1]")
        if mask_replace_prob + random_replace_prob > 1:
            raise ValueError("mask and random replacement together exceed 1")
        self.special = set(int(i) for i in special_token_ids) | {int(mask_token_id)}
        self.ordinary = [i for i in range(vocab_size) if i not in self.special]
        self.mask_token_id = mask_token_id
        self.probabilities = (mlm_probability, mask_replace_prob, random_replace_prob)

    def __call__(self, input_ids, generator=None):
        p, p_mask, p_random = self.probabilities
        flat = input_ids.reshape(-1).tolist()
        draws = torch.rand(len(flat), 2, generator=generator).tolist()
        picks = torch.randint(0, len(self.ordinary), (len(flat),), generator=generator).tolist()
        masked, labels = [], []
        for token, (select, action), pick in zip(flat, draws, picks):
            if token in self.special or select >= p:
                masked.append(token)
                labels.append(-100)
                continue
            labels.append(token)
            if action < p_mask:
                masked.append(self.mask_token_id)
            elif action < p_mask + p_random:
                masked.append(self.ordinary[pick])
            else:
                masked.append(token)
        shape = input_ids.shape
        return torch.tensor(masked, dtype=torch.long).reshape(shape), torch.tensor(labels).reshape(shape)
