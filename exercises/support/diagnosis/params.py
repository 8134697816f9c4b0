"""ex5 (counting parameters): the usual slips as formulas of the call's inputs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from torch import nn

from .core import Candidate

DOUBLE_COUNT = (
    "A tied (shared) weight was counted twice: state_dict() and named_parameters(remove_duplicate=False) "
    "list it under every name that holds it. Count model.parameters(), which yields each parameter once."
)


META_ADDRESS = (
    "On the meta device every tensor's data_ptr() is 0, so telling parameters apart by data_ptr() takes "
    "different ones for one: tell them apart by the Parameter object itself (model.parameters() yields "
    "each once; id(p) for a set of your own)."
)


def _by_address(parameters: Iterable[nn.Parameter], seen: set, *, with_shape: bool) -> list[nn.Parameter]:
    """``parameters`` less those whose address (``data_ptr()``, and shape) was seen: a slip that merges
    different parameters on the meta device, where every address is 0."""
    kept = []
    for parameter in parameters:
        key = (parameter.data_ptr(), tuple(parameter.shape)) if with_shape else parameter.data_ptr()
        if key not in seen:
            seen.add(key)
            kept.append(parameter)
    return kept


def _on_meta(model: nn.Module) -> bool:
    return any(parameter.is_meta for parameter in model.parameters())


def count_mistakes(model: nn.Module, trainable_only: bool = False) -> list[Candidate]:
    """What the usual slips give for ``count_parameters(model, trainable_only)``."""

    def counted(parameters: Iterable[nn.Parameter], *, trainable: bool | None) -> int:
        return sum(p.numel() for p in parameters if trainable is None or p.requires_grad == trainable)

    wanted = True if trainable_only else None
    once = counted(model.parameters(), trainable=wanted)
    every_name = counted((p for _, p in model.named_parameters(remove_duplicate=False)), trainable=wanted)
    buffers = sum(b.numel() for b in model.buffers())
    state = sum(t.numel() for t in model.state_dict().values())
    nested = sum(
        p.numel()
        for module in model.modules()
        for p in module.parameters()
        if wanted is None or p.requires_grad
    )
    everything = counted(model.parameters(), trainable=None)
    if trainable_only:
        candidates = [
            Candidate(
                everything,
                "The frozen parameters (requires_grad=False) were counted: trainable_only=True keeps the "
                "parameters with requires_grad=True only.",
            ),
            Candidate(
                counted(model.parameters(), trainable=False),
                "That is the frozen part: the condition is inverted (keep requires_grad=True).",
            ),
        ]
    else:
        candidates = [
            Candidate(
                counted(model.parameters(), trainable=True),
                "By default (trainable_only=False) frozen parameters count too.",
            )
        ]
    candidates += [
        Candidate(every_name, DOUBLE_COUNT),
        Candidate(
            nested,
            "That counts each parameter once for every module above it (summing module.parameters() over "
            "model.modules()): model.parameters() already goes through every submodule.",
        ),
        Candidate(
            once + buffers,
            "That includes the model's buffers: count parameters only (buffers are not learned).",
        ),
    ]
    if _on_meta(model):
        for with_shape in (True, False):
            kept = _by_address(model.parameters(), set(), with_shape=with_shape)
            candidates.append(Candidate(counted(kept, trainable=wanted), META_ADDRESS))
    if state not in (everything, every_name, once + buffers):
        candidates.append(
            Candidate(
                state,
                "That counts state_dict(): it holds buffers, and a tied weight under every name. Count "
                "model.parameters() only.",
            )
        )
    return [candidate for candidate in candidates if candidate.value != once]


def breakdown_mistakes(model: nn.Module) -> list[Candidate]:
    """What the usual slips give for ``parameter_breakdown(model)``."""
    every_child = {name: sum(p.numel() for p in child.parameters()) for name, child in model.named_children()}
    seen: set[int] = set()
    first_holder: dict[str, int] = {}
    for name, child in model.named_children():
        first_holder[name] = 0
        for parameter in child.parameters():
            if id(parameter) not in seen:
                seen.add(id(parameter))
                first_holder[name] += parameter.numel()
    own = sum(p.numel() for p in model.parameters(recurse=False) if id(p) not in seen)
    candidates = [
        Candidate(
            {**every_child, **({"": own} if own else {})},
            "A shared parameter counts once, under the first child (in named_children() order) that holds "
            "it; later children skip it.",
        ),
    ]
    if own:
        candidates.append(
            Candidate(
                first_holder,
                "Parameters the model holds itself (not in a child) go under "
                'the key "" (model.parameters(recurse=False)).',
            )
        )
    if _on_meta(model):
        for with_shape in (True, False):
            seen_addresses: set = set()
            by_address = {
                name: sum(
                    p.numel() for p in _by_address(child.parameters(), seen_addresses, with_shape=with_shape)
                )
                for name, child in model.named_children()
            }
            mine = sum(
                p.numel()
                for p in _by_address(model.parameters(recurse=False), seen_addresses, with_shape=with_shape)
            )
            candidates.append(Candidate({**by_address, **({"": mine} if mine else {})}, META_ADDRESS))
    empty = [name for name, number in first_holder.items() if number == 0]
    if empty:
        without_empty = {name: n for name, n in first_holder.items() if n} | ({"": own} if own else {})
        candidates.append(
            Candidate(
                without_empty,
                f"Every top-level child has a key, even one without parameters ({', '.join(empty)}: 0).",
            )
        )
    return candidates


def _field(config: Any, name: str, default: Any = None) -> Any:
    if isinstance(config, Mapping):
        return config.get(name, default)
    return getattr(config, name, default)


def formula_mistakes(config: Any) -> list[Candidate]:
    """What the usual slips give for ``bert_parameter_count(config)`` (a config object or its fields)."""
    v, p = _field(config, "vocab_size"), _field(config, "max_position_embeddings")
    types = _field(config, "type_vocab_size", 0) or 0
    h, i, layers = (
        _field(config, "hidden_size"),
        _field(config, "intermediate_size"),
        _field(config, "num_hidden_layers"),
    )
    has_pooler_field = (isinstance(config, Mapping) and "use_pooler" in config) or (
        not isinstance(config, Mapping) and hasattr(config, "use_pooler")
    )
    use_pooler = bool(_field(config, "use_pooler", True))
    embeddings = (v + p + types) * h + 2 * h
    one_layer = 4 * h * h + 2 * h * i + 9 * h + i
    pooler = h * h + h
    right = embeddings + layers * one_layer + (pooler if use_pooler else 0)
    candidates = [
        Candidate(
            right + pooler if not use_pooler else None,
            "With use_pooler=False there is no pooler: leave out its H^2 + H.",
        ),
        Candidate(
            right - pooler if use_pooler and not has_pooler_field else None,
            "This config has no use_pooler field (transformers' BertConfig has none): count the pooler, as "
            "transformers.BertModel builds one by default (getattr(config, 'use_pooler', True)).",
        ),
        Candidate(
            right - pooler if use_pooler and has_pooler_field else None,
            "With use_pooler=True the pooler counts: add its H^2 + H.",
        ),
        Candidate(
            right - layers * 4 * h,
            "Each layer is 4H short: its two LayerNorms (2H each), or the attention biases (query, key, "
            "value, output: 4H)"
            + (", or the feed-forward's first bias (I, which is 4H here)" if i == 4 * h else "")
            + ", were left out. One layer is 4H^2 + 2HI + 9H + I.",
        ),
        Candidate(
            right - layers * 2 * h if layers != 1 else None,
            "Each layer is 2H short: one of its two LayerNorms (after the attention and after the "
            "feed-forward, a weight and a bias per feature each) was left out. One layer is "
            "4H^2 + 2HI + 9H + I.",
        ),
        Candidate(
            right - 2 * h,
            "The embeddings' LayerNorm adds 2H (a weight and a bias per feature)."
            + (
                " Or, with one layer here, one of that layer's two LayerNorms (2H each) was left out."
                if layers == 1
                else ""
            )
            + (
                " Or, type_vocab_size being 2 here, the token-type embeddings (T x H) were left out."
                if types == 2
                else ""
            ),
        ),
        Candidate(
            right - types * h if types not in (0, 2) else None,
            f"The token-type embeddings add type_vocab_size x H ({types} x H here): the embeddings are "
            "(V + P + T) H.",
        ),
        Candidate(
            right + (2 - types) * h if types != 2 else None,
            f"type_vocab_size={types} gives {types} token-type embedding rows (0: none), not always 2.",
        ),
        Candidate(
            right - (2 * layers + 1) * h,
            "The LayerNorms' biases were left out: each LayerNorm has a weight and a bias of H features "
            "(two in every layer, one in the embeddings).",
        ),
        Candidate(
            right - layers * (4 * h + i + h),
            "The layers' biases were left out: 4H for query, key, value and output, I and H for the "
            "feed-forward pair.",
        ),
        Candidate(
            right - layers * i if i != 4 * h else None,
            "Each layer is I short: the feed-forward's first bias (H -> I adds I biases) was left out.",
        ),
        Candidate(
            right - layers * (i + h),
            "The feed-forward biases were left out: the pair H -> I -> H adds I + H biases per layer.",
        ),
    ]
    return [candidate for candidate in candidates if candidate.value is not None and candidate.value != right]
