"""The given model: BERT written out in plain PyTorch.

This file is given, not an exercise. It is BERT (Devlin et al. 2019, arXiv:1810.04805) with the same
module names as Hugging Face ``transformers``, so the state dict of ``transformers.BertModel`` or
``transformers.BertForMaskedLM`` loads here with ``load_state_dict(strict=True)`` and gives the same
outputs in eval mode. Read it to see where the parameters live: the exercises halve its layers
(ex3) and count its parameters (ex5).

Shapes use B for the batch size, S for the sequence length, H for ``hidden_size``, N for
``num_attention_heads``, D = H / N for the size of one head, I for ``intermediate_size`` and V for
``vocab_size``.

Example:
    >>> config = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2,
    ...                     num_attention_heads=4, intermediate_size=37)
    >>> model = BertModel(config).eval()
    >>> out = model(torch.tensor([[2, 17, 5, 3]]))
    >>> out.last_hidden_state.shape, out.pooler_output.shape
    (torch.Size([1, 4, 32]), torch.Size([1, 32]))
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

INITIALIZER_RANGE = 0.02
"""Standard deviation of the normal initialisation of every Linear and Embedding weight."""


@dataclass
class BertConfig:
    """The shape of a BERT model, with Hugging Face's field names and BERT-base defaults.

    ``type_vocab_size=0`` builds no token-type (segment) embeddings at all, as in DistilBERT;
    ``use_pooler=False`` builds no pooler, as in ``BertForMaskedLM`` and DistilBERT.
    """

    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    pad_token_id: int | None = 0
    use_pooler: bool = True

    def __post_init__(self) -> None:
        if self.hidden_size % self.num_attention_heads != 0:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be a multiple of "
                f"num_attention_heads ({self.num_attention_heads})"
            )


class BertModelOutput(NamedTuple):
    """What ``BertModel`` returns; ``output[0]`` is ``last_hidden_state``.

    Attributes:
        last_hidden_state: (B, S, H), the encoder's output for every token.
        pooler_output: (B, H), tanh(dense(first token's state)), or None without a pooler.
    """

    last_hidden_state: Tensor
    pooler_output: Tensor | None


class MaskedLMOutput(NamedTuple):
    """What ``BertForMaskedLM`` returns; ``output[0]`` is ``logits``.

    Attributes:
        logits: (B, S, V), unnormalised scores over the vocabulary at every position.
        loss: scalar cross-entropy over positions whose label is not -100, or None without labels.
    """

    logits: Tensor
    loss: Tensor | None = None


class BertEmbeddings(nn.Module):
    """Word + position (+ token-type) embeddings, then LayerNorm and dropout: ids (B, S) -> (B, S, H)."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(
            config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id
        )
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type_embeddings = (
            nn.Embedding(config.type_vocab_size, config.hidden_size) if config.type_vocab_size > 0 else None
        )
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        # Default ids, kept out of the state dict (persistent=False) exactly as transformers does.
        self.register_buffer(
            "position_ids", torch.arange(config.max_position_embeddings).expand((1, -1)), persistent=False
        )
        if self.token_type_embeddings is not None:
            self.register_buffer("token_type_ids", torch.zeros_like(self.position_ids), persistent=False)

    def forward(
        self, input_ids: Tensor, token_type_ids: Tensor | None = None, position_ids: Tensor | None = None
    ) -> Tensor:
        """Embed token ids (B, S); ``token_type_ids`` defaults to all 0, ``position_ids`` to 0..S-1."""
        seq_length = input_ids.shape[1]
        if position_ids is None:
            position_ids = self.position_ids[:, :seq_length]
        embeddings = self.word_embeddings(input_ids) + self.position_embeddings(position_ids)
        if self.token_type_embeddings is not None:
            if token_type_ids is None:
                token_type_ids = self.token_type_ids[:, :seq_length].expand_as(input_ids)
            embeddings = embeddings + self.token_type_embeddings(token_type_ids)
        return self.dropout(self.LayerNorm(embeddings))


class BertSelfAttention(nn.Module):
    """Multi-head scaled dot-product attention: (B, S, H) -> (B, S, H), before the output projection."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.num_attention_heads = config.num_attention_heads
        self.attention_head_size = config.hidden_size // config.num_attention_heads
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout = nn.Dropout(config.attention_probs_dropout_prob)

    def _split_heads(self, x: Tensor) -> Tensor:
        """(B, S, H) -> (B, N, S, D)."""
        batch_size, seq_length, _ = x.shape
        heads = x.view(batch_size, seq_length, self.num_attention_heads, self.attention_head_size)
        return heads.transpose(1, 2)

    def forward(self, hidden_states: Tensor, extended_attention_mask: Tensor | None = None) -> Tensor:
        """Attend from every position to every position.

        Args:
            hidden_states: (B, S, H).
            extended_attention_mask: (B, 1, 1, S), 0 where a key may be attended and a very negative
                number at padding; added to the scores (B, N, S, S) before the softmax.

        Returns:
            (B, S, H): the heads' outputs concatenated.
        """
        query = self._split_heads(self.query(hidden_states))  # (B, N, S, D)
        key = self._split_heads(self.key(hidden_states))
        value = self._split_heads(self.value(hidden_states))

        scores = query @ key.transpose(-1, -2) / math.sqrt(self.attention_head_size)  # (B, N, S, S)
        if extended_attention_mask is not None:
            scores = scores + extended_attention_mask
        probs = self.dropout(scores.softmax(dim=-1))
        context = probs @ value  # (B, N, S, D)
        return context.transpose(1, 2).flatten(2)


class BertSelfOutput(nn.Module):
    """Output projection of attention, dropout, residual connection and LayerNorm."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states: Tensor, input_tensor: Tensor) -> Tensor:
        """(B, S, H) attention output and (B, S, H) layer input -> (B, S, H)."""
        return self.LayerNorm(self.dropout(self.dense(hidden_states)) + input_tensor)


class BertAttention(nn.Module):
    """Self-attention followed by its output block: (B, S, H) -> (B, S, H)."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.self = BertSelfAttention(config)
        self.output = BertSelfOutput(config)

    def forward(self, hidden_states: Tensor, extended_attention_mask: Tensor | None = None) -> Tensor:
        return self.output(self.self(hidden_states, extended_attention_mask), hidden_states)


class BertIntermediate(nn.Module):
    """First half of the feed-forward block: (B, S, H) -> (B, S, I), exact (erf) GELU."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)

    def forward(self, hidden_states: Tensor) -> Tensor:
        return F.gelu(self.dense(hidden_states))


class BertOutput(nn.Module):
    """Second half of the feed-forward block: (B, S, I) -> (B, S, H), dropout, residual, LayerNorm."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.intermediate_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states: Tensor, input_tensor: Tensor) -> Tensor:
        return self.LayerNorm(self.dropout(self.dense(hidden_states)) + input_tensor)


class BertLayer(nn.Module):
    """One encoder layer (post-LayerNorm): attention, then feed-forward. (B, S, H) -> (B, S, H)."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.attention = BertAttention(config)
        self.intermediate = BertIntermediate(config)
        self.output = BertOutput(config)

    def forward(self, hidden_states: Tensor, extended_attention_mask: Tensor | None = None) -> Tensor:
        attention_output = self.attention(hidden_states, extended_attention_mask)
        return self.output(self.intermediate(attention_output), attention_output)


class BertEncoder(nn.Module):
    """The stack of ``num_hidden_layers`` layers, in ``self.layer`` (an ``nn.ModuleList``)."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.layer = nn.ModuleList(BertLayer(config) for _ in range(config.num_hidden_layers))

    def forward(self, hidden_states: Tensor, extended_attention_mask: Tensor | None = None) -> Tensor:
        for layer in self.layer:
            hidden_states = layer(hidden_states, extended_attention_mask)
        return hidden_states


class BertPooler(nn.Module):
    """tanh(dense(state of the first token)): (B, S, H) -> (B, H); BERT's next-sentence head reads it."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, hidden_states: Tensor) -> Tensor:
        return torch.tanh(self.dense(hidden_states[:, 0]))


def _init_weights(module: nn.Module) -> None:
    """BERT's initialisation, as in ``transformers``' ``BertPreTrainedModel._init_weights``."""
    if any(p.is_meta for p in module.parameters(recurse=False)):
        return  # nothing to fill on the meta device (and meta random fills are slow to set up)
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, mean=0.0, std=INITIALIZER_RANGE)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, mean=0.0, std=INITIALIZER_RANGE)
        if module.padding_idx is not None:
            with torch.no_grad():
                module.weight[module.padding_idx].zero_()
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


class BertModel(nn.Module):
    """BERT's body: embeddings, encoder layers and (optionally) the pooler.

    Attributes:
        config: the ``BertConfig`` it was built from.
        embeddings: ``word_embeddings``, ``position_embeddings``, ``token_type_embeddings`` (None when
            ``type_vocab_size=0``), ``LayerNorm``.
        encoder: ``encoder.layer`` is the ``nn.ModuleList`` of ``num_hidden_layers`` layers.
        pooler: a ``BertPooler``, or None when ``config.use_pooler`` is False.
    """

    def __init__(self, config: BertConfig):
        super().__init__()
        self.config = config
        self.embeddings = BertEmbeddings(config)
        self.encoder = BertEncoder(config)
        self.pooler = BertPooler(config) if config.use_pooler else None
        self.apply(_init_weights)

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        position_ids: Tensor | None = None,
    ) -> BertModelOutput:
        """Encode a batch of token ids.

        Args:
            input_ids: (B, S) token ids.
            attention_mask: (B, S), 1 for a real token and 0 for padding; None attends everywhere.
            token_type_ids: (B, S) segment ids (0 or 1 in BERT-base); None means all 0. Ignored by a
                model without token-type embeddings (``type_vocab_size=0``).
            position_ids: (B, S) or (1, S); None means 0, 1, ..., S-1.

        Returns:
            ``BertModelOutput(last_hidden_state (B, S, H), pooler_output (B, H) or None)``.
        """
        hidden_states = self.embeddings(input_ids, token_type_ids=token_type_ids, position_ids=position_ids)
        extended_attention_mask = None
        if attention_mask is not None:
            # (B, S) of 1/0 -> (B, 1, 1, S) of 0/very negative, broadcast over heads and query positions.
            # The dtype's minimum rather than -inf keeps a row with no real token finite.
            keep = attention_mask[:, None, None, :].to(hidden_states.dtype)
            extended_attention_mask = (1.0 - keep) * torch.finfo(hidden_states.dtype).min
        last_hidden_state = self.encoder(hidden_states, extended_attention_mask)
        pooler_output = self.pooler(last_hidden_state) if self.pooler is not None else None
        return BertModelOutput(last_hidden_state, pooler_output)


class BertPredictionHeadTransform(nn.Module):
    """dense, GELU, LayerNorm: (B, S, H) -> (B, S, H), before the vocabulary projection."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden_states: Tensor) -> Tensor:
        return self.LayerNorm(F.gelu(self.dense(hidden_states)))


class BertLMPredictionHead(nn.Module):
    """The masked-LM head: transform, then ``decoder`` (H -> V) whose bias is ``self.bias``.

    ``BertForMaskedLM`` ties ``decoder.weight`` to the word embeddings, so the head adds only
    H^2 + 3H + V parameters of its own.
    """

    def __init__(self, config: BertConfig):
        super().__init__()
        self.transform = BertPredictionHeadTransform(config)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))
        self.decoder.bias = self.bias

    def forward(self, hidden_states: Tensor) -> Tensor:
        """(B, S, H) -> (B, S, V) logits."""
        return self.decoder(self.transform(hidden_states))


class BertOnlyMLMHead(nn.Module):
    """Holds ``predictions``; exists so that the state-dict keys read ``cls.predictions.*``."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.predictions = BertLMPredictionHead(config)

    def forward(self, sequence_output: Tensor) -> Tensor:
        return self.predictions(sequence_output)


class BertForMaskedLM(nn.Module):
    """BERT with its masked-language-model head, the model pretrained on "fill in the [MASK]".

    Attributes:
        config: the ``BertConfig`` it was built from.
        bert: a ``BertModel`` built without pooler.
        cls: ``cls.predictions.decoder.weight`` is ``bert.embeddings.word_embeddings.weight`` (tied).
    """

    def __init__(self, config: BertConfig):
        super().__init__()
        self.config = config
        self.bert = BertModel(replace(config, use_pooler=False))
        self.cls = BertOnlyMLMHead(config)
        self.cls.apply(_init_weights)
        self.cls.predictions.decoder.weight = self.bert.embeddings.word_embeddings.weight

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        labels: Tensor | None = None,
    ) -> MaskedLMOutput:
        """Score every vocabulary entry at every position.

        Args:
            input_ids: (B, S) token ids, some of them replaced by the mask token.
            attention_mask: (B, S), 1 for a real token and 0 for padding.
            token_type_ids: (B, S) segment ids, or None for all 0.
            labels: (B, S) the original ids at the positions to predict and -100 elsewhere, or None.

        Returns:
            ``MaskedLMOutput(logits (B, S, V), loss)``; ``loss`` is the mean cross-entropy over the
            positions whose label is not -100, or None when ``labels`` is None.
        """
        body_output = self.bert(input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        logits = self.cls(body_output.last_hidden_state)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.flatten(0, -2), labels.flatten(), ignore_index=-100)
        return MaskedLMOutput(logits, loss)
