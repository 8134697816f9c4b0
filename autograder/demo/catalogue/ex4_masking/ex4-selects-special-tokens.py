"""ex4: RoBERTa's dynamic masking, a new masked-language-model pattern every time a sequence is seen.

BERT masked its training data once, in preprocessing; to see more than one pattern it duplicated the
data 10 times, so over 40 epochs each sequence met the same 10 masks, each 4 times. RoBERTa
(Liu et al. 2019, arXiv:1907.11692) draws the mask when the batch is built instead, which matches or
slightly beats static masking (SQuAD 2.0 78.7 vs 78.3, SST-2 92.9 vs 92.5) and costs no disk space.
The recipe itself is BERT's (Devlin et al. 2019, arXiv:1810.04805), the one Hugging Face's
``DataCollatorForLanguageModeling`` implements.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor


class DynamicMasker:
    """BERT's 80/10/10 masking, drawn afresh on every call.

    Each position whose token is not special is selected independently with probability
    ``mlm_probability`` (15%): the number selected in a row varies from call to call (Binomial), and a
    row of one token can be selected too.
    A selected token becomes the mask token with probability ``mask_replace_prob`` (80%), a random
    vocabulary id with probability ``random_replace_prob`` (10%), and stays unchanged otherwise (10%).
    The model must predict the original token at every selected position: the random and unchanged
    cases keep it from learning that only ``[MASK]`` positions matter, since ``[MASK]`` never appears
    when the model is used.

    Draw in three steps, as ``DataCollatorForLanguageModeling`` does: select with
    Bernoulli(mlm_probability); among selected tokens, replace by the mask id with
    Bernoulli(mask_replace_prob); among the selected tokens still unchanged, use a random id with
    Bernoulli(random_replace_prob / (1 - mask_replace_prob)), so that 10% of the selected tokens, not
    10% of the remaining 20%, become random (careful when mask_replace_prob is 1).

    Args:
        vocab_size: number of token ids; random replacements are drawn uniformly from ``[0, vocab_size)``,
            the largest id included (leaving out the special ids is also accepted).
        mask_token_id: the id of ``[MASK]``; never selected itself.
        special_token_ids: ids never selected (``[CLS]``, ``[SEP]``, ``[PAD]``, ...).
        mlm_probability: chance that a non-special position is selected, in [0, 1].
        mask_replace_prob: chance that a selected token becomes ``mask_token_id``, in [0, 1].
        random_replace_prob: chance that a selected token becomes a random id, in [0, 1];
            ``mask_replace_prob + random_replace_prob`` must be at most 1.

    Raises:
        ValueError: for a probability outside [0, 1] or ``mask_replace_prob + random_replace_prob > 1``.

    Example::

        masker = DynamicMasker(vocab_size=100, mask_token_id=4, special_token_ids=[0, 1, 2])
        ids = torch.tensor([[1, 17, 23, 42, 2, 0]])       # [CLS] ... [SEP] [PAD]
        masked_ids, labels = masker(ids, torch.Generator().manual_seed(0))
        # masked_ids tensor([[1, 17, 4, 4, 2, 0]])            23 and 42 selected, both became [MASK]
        # labels     tensor([[-100, -100, 23, 42, -100, -100]])  (another draw order gives another pattern)
        masker(ids)  # a different pattern on every call
    """

    def __init__(
        self,
        vocab_size: int,
        mask_token_id: int,
        special_token_ids: Iterable[int],
        mlm_probability: float = 0.15,
        mask_replace_prob: float = 0.8,
        random_replace_prob: float = 0.1,
    ) -> None:
        """Check and store the masking recipe (see the class docstring for the arguments)."""
        # BEGIN SOLUTION: check the probabilities, store the settings (the special ids include the mask id)
        probabilities = {
            "mlm_probability": mlm_probability,
            "mask_replace_prob": mask_replace_prob,
            "random_replace_prob": random_replace_prob,
        }
        for name, value in probabilities.items():
            if not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
        if mask_replace_prob + random_replace_prob > 1.0 + 1e-12:
            raise ValueError(
                f"mask_replace_prob + random_replace_prob must be at most 1, got {mask_replace_prob} + "
                f"{random_replace_prob} = {mask_replace_prob + random_replace_prob}"
            )
        if vocab_size < 1:
            raise ValueError(f"vocab_size must be at least 1, got {vocab_size}")
        self.vocab_size = int(vocab_size)
        self.mask_token_id = int(mask_token_id)
        self.special_token_ids = sorted(
            {int(token_id) for token_id in special_token_ids} | {self.mask_token_id}
        )
        self.mlm_probability = float(mlm_probability)
        self.mask_replace_prob = float(mask_replace_prob)
        self.random_replace_prob = float(random_replace_prob)
        # END SOLUTION

    def __call__(self, input_ids: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Mask a batch of token ids, with a new random pattern on every call.

        Args:
            input_ids: int64 tensor of token ids, any shape (usually ``(B, S)``). Not modified.
            generator: the source of every random draw; the same seed gives the same output.
                None uses PyTorch's global generator.

        Returns:
            ``(masked_ids, labels)``, both the shape of ``input_ids``: ``masked_ids`` is the input with the
            selected tokens replaced (or kept), ``labels`` the original id at selected positions and -100
            (ignored by the loss) everywhere else.
        """
        # BEGIN SOLUTION: select, then replace by mask / random / unchanged; labels -100 where not selected
        device = input_ids.device
        generator_device = generator.device if generator is not None else torch.device("cpu")

        def bernoulli(probability: float) -> Tensor:
            probabilities = torch.full(input_ids.shape, probability, device=generator_device)
            return torch.bernoulli(probabilities, generator=generator).bool().to(device)

        special = torch.isin(input_ids, torch.tensor(self.special_token_ids, device=device))
        selected = bernoulli(self.mlm_probability)
        labels = torch.where(selected, input_ids, torch.full_like(input_ids, -100))

        masked_ids = input_ids.clone()
        replaced_by_mask = bernoulli(self.mask_replace_prob) & selected
        masked_ids[replaced_by_mask] = self.mask_token_id

        remaining = 1.0 - self.mask_replace_prob
        random_share = self.random_replace_prob / remaining if remaining > 0 else 0.0
        replaced_by_random = bernoulli(min(random_share, 1.0)) & selected & ~replaced_by_mask
        random_ids = torch.randint(
            self.vocab_size,
            input_ids.shape,
            generator=generator,
            device=generator_device,
            dtype=input_ids.dtype,
        ).to(device)
        masked_ids[replaced_by_random] = random_ids[replaced_by_random]
        return masked_ids, labels
        # END SOLUTION
