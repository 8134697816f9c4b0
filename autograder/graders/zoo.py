"""Test models the graders send to a submission, each built to expose one counting mistake.

Every class here that is listed in ``__all__`` may cross to a worker (see
:func:`autograder.wire.values._resolve_class`): it takes only plain-data keyword arguments and keeps them in
``self.init_kwargs``, from which the other side rebuilds it before loading the state dict. Their right
answers are in :mod:`autograder.graders.zoo_answers`, out of the submission's reach.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

__all__ = [
    "BertShape",
    "BufferedEncoder",
    "HeldByModelAndChild",
    "PartlyFrozenClassifier",
    "SharedAcrossChildren",
    "TiedLanguageModel",
    "TransformersConfigShape",
]


class TiedLanguageModel(nn.Module):
    """Embedding -> Linear -> decoder whose weight *is* the embedding matrix (tied, as in BERT's MLM head).

    Counting with ``state_dict()`` or ``named_parameters(remove_duplicate=False)`` adds the V x H matrix
    a second time.
    """

    def __init__(self, vocab_size: int = 500, hidden_size: int = 24):
        super().__init__()
        self.init_kwargs = {"vocab_size": vocab_size, "hidden_size": hidden_size}
        self.embedding = nn.Embedding(vocab_size, hidden_size)
        self.body = nn.Linear(hidden_size, hidden_size)
        self.decoder = nn.Linear(hidden_size, vocab_size)
        self.decoder.weight = self.embedding.weight


class BufferedEncoder(nn.Module):
    """Two small layers next to a large buffer (a lookup table that is not learned) and a small one."""

    def __init__(self, size: int = 16, buffer_size: int = 100_000):
        super().__init__()
        self.init_kwargs = {"size": size, "buffer_size": buffer_size}
        self.first = nn.Linear(size, size)
        self.second = nn.Linear(size, size, bias=False)
        self.register_buffer("table", torch.zeros(buffer_size))
        self.register_buffer("positions", torch.arange(size), persistent=False)


class PartlyFrozenClassifier(nn.Module):
    """A frozen backbone (``requires_grad=False``) under a trainable head, as when fine-tuning a head only."""

    def __init__(self, vocab_size: int = 300, hidden_size: int = 20, num_classes: int = 7):
        super().__init__()
        self.init_kwargs = {"vocab_size": vocab_size, "hidden_size": hidden_size, "num_classes": num_classes}
        self.embedding = nn.Embedding(vocab_size, hidden_size)
        self.backbone = nn.Linear(hidden_size, hidden_size)
        self.head = nn.Linear(hidden_size, num_classes)
        self.embedding.requires_grad_(False)
        self.backbone.requires_grad_(False)


class SharedAcrossChildren(nn.Module):
    """Top-level children that share a weight, one child without parameters, and parameters of its own.

    ``named_children()`` order: ``embed``, ``blocks``, ``activation`` (no parameters), ``head`` (its
    weight is ``embed``'s). The model itself holds ``scale`` and ``offset``.
    """

    def __init__(self, vocab_size: int = 200, hidden_size: int = 12):
        super().__init__()
        self.init_kwargs = {"vocab_size": vocab_size, "hidden_size": hidden_size}
        self.scale = nn.Parameter(torch.ones(hidden_size))
        self.embed = nn.Embedding(vocab_size, hidden_size)
        self.blocks = nn.Sequential(
            nn.Linear(hidden_size, 2 * hidden_size), nn.ReLU(), nn.Linear(2 * hidden_size, hidden_size)
        )
        self.activation = nn.Tanh()
        self.head = nn.Linear(hidden_size, vocab_size)
        self.head.weight = self.embed.weight
        self.offset = nn.Parameter(torch.zeros(3))


class HeldByModelAndChild(nn.Module):
    """A parameter the model holds itself and a child holds too, next to one only the model holds.

    ``scale`` is registered on the model before the child ``norm`` whose weight it becomes, so
    ``named_parameters()`` names it ``scale`` (the model's own) and skips ``norm.weight``: it still belongs
    under ``norm``, the first child holding it. ``named_children()`` order: ``norm``, ``proj``.
    """

    def __init__(self, hidden_size: int = 10):
        super().__init__()
        self.init_kwargs = {"hidden_size": hidden_size}
        self.scale = nn.Parameter(torch.ones(hidden_size))
        self.norm = nn.LayerNorm(hidden_size)
        self.norm.weight = self.scale
        self.proj = nn.Linear(hidden_size, hidden_size)
        self.offset = nn.Parameter(torch.zeros(3))


class BertShape(nn.Module):
    """A stand-in for a ``BertConfig``: the same field names as attributes, and nothing else.

    ``bert_parameter_count(config)`` reads a configuration's fields by name; this carries them to a worker
    when a configuration object itself may not cross.
    """

    def __init__(
        self,
        vocab_size: int = 30522,
        hidden_size: int = 768,
        num_hidden_layers: int = 12,
        num_attention_heads: int = 12,
        intermediate_size: int = 3072,
        max_position_embeddings: int = 512,
        type_vocab_size: int = 2,
        layer_norm_eps: float = 1e-12,
        hidden_dropout_prob: float = 0.1,
        attention_probs_dropout_prob: float = 0.1,
        pad_token_id: int | None = 0,
        use_pooler: bool = True,
    ):
        super().__init__()
        fields = {
            "vocab_size": vocab_size,
            "hidden_size": hidden_size,
            "num_hidden_layers": num_hidden_layers,
            "num_attention_heads": num_attention_heads,
            "intermediate_size": intermediate_size,
            "max_position_embeddings": max_position_embeddings,
            "type_vocab_size": type_vocab_size,
            "layer_norm_eps": layer_norm_eps,
            "hidden_dropout_prob": hidden_dropout_prob,
            "attention_probs_dropout_prob": attention_probs_dropout_prob,
            "pad_token_id": pad_token_id,
            "use_pooler": use_pooler,
        }
        self.init_kwargs = dict(fields)
        for name, value in fields.items():
            setattr(self, name, value)


class TransformersConfigShape(BertShape):
    """A stand-in for ``transformers.BertConfig``: its fields (``to_dict()``), and no ``use_pooler``.

    ``transformers.BertModel`` builds a pooler unless told otherwise, so ``bert_parameter_count`` must count
    one when the field is missing. A test checks that the fields are those of the installed
    ``transformers.BertConfig`` (the ones a BERT shape depends on, and the ones this package's lacks).
    """

    EXTRA_FIELDS: ClassVar[dict[str, object]] = {
        "hidden_act": "gelu",
        "initializer_range": 0.02,
        "use_cache": True,
        "classifier_dropout": None,
        "is_decoder": False,
        "add_cross_attention": False,
        "tie_word_embeddings": True,
        "model_type": "bert",
    }

    def __init__(self, **fields):
        super().__init__(**fields)
        del self.use_pooler
        self.init_kwargs.pop("use_pooler", None)
        self.init_kwargs.update(fields)
        for name, value in self.EXTRA_FIELDS.items():
            setattr(self, name, value)

    def to_dict(self) -> dict:
        return {**{k: getattr(self, k) for k in self.init_kwargs}, **self.EXTRA_FIELDS}
