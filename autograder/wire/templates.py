"""Models rebuilt from a pristine template of their class and config, faster than by their constructor.

Each side rebuilds every model that crosses (:mod:`autograder.wire.decoding`), often the same class and
config many times a submission: a check sends the same teacher for several layer choices, and a model's
constructor costs milliseconds of Python (a module object per layer, each parameter registered). So the
first model of each class and config is built by its constructor and kept as a template that is never
handed out; each later one is a copy of that template made by :func:`copy_model`: a new object for every
module, parameter, buffer, config and container in it, sharing only immutable values, so that nothing
done to one copy (a layer dropped in place, a config changed, a hook added) reaches the template or
another copy. A template holding anything else (a hook, a tensor subclass, an object of another class)
is not used: that class and config are built by their constructor every time. Code that reaches a
template itself (through ``gc`` or the frames, in a worker) changes what later copies in that process
start from: the submission's own inputs in that worker, which its code controls anyway; the graders
rebuild every reply from templates of their own, never handed out.

Templates are kept per class, config and device (the CPU, or meta: shapes only). A worker is a fresh
process, so the zygote it is forked from makes the templates of the graders' shared inputs' models
before it forks any (:meth:`autograder.sandbox.zygote.Zygote.keep_templates`, configs only): a worker
copies even the first such model it is sent.
"""

from __future__ import annotations

import copy
import json
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

# Values a copy shares with its template: immutable, or functions (activations such as torch.tanh).
_SHARED = frozenset(
    (type(None), bool, int, float, complex, str, bytes, torch.dtype, torch.device, type(torch.tanh))
)
_MAX_TEMPLATES = 64


class NotCopyable(Exception):
    """A template holds something :func:`copy_model` does not know how to copy faithfully."""


def copy_model(model: nn.Module) -> nn.Module:
    """A copy of ``model`` (see the module's docstring); tied parameters stay tied.

    Raises:
        NotCopyable: ``model`` holds a value of a kind this copy does not handle.
    """
    copied = _copy(model, {}, 0)
    assert isinstance(copied, nn.Module)
    return copied


def _copy(value: Any, memo: dict[int, Any], depth: int) -> Any:
    kind = type(value)
    if kind in _SHARED:
        return value
    if depth > 64:
        raise NotCopyable("nested too deeply")
    found = memo.get(id(value))
    if found is not None:
        return found
    if isinstance(value, nn.Module):
        if any(value.__dict__.get(name) for name in _HOOKS):
            raise NotCopyable(f"a hook on a {kind.__name__}")
        new = object.__new__(kind)
        memo[id(value)] = new
        state = new.__dict__
        for name, item in value.__dict__.items():
            item_kind = type(item)
            if item_kind in _SHARED:
                state[name] = item
            elif not item and (item_kind is OrderedDict or item_kind is dict or item_kind is set):
                state[name] = item_kind()  # most of a module's containers (its hooks) are empty
            else:
                state[name] = _copy(item, memo, depth + 1)
        return new
    if kind is nn.Parameter:
        new = nn.Parameter(value.detach().clone(), requires_grad=value.requires_grad)
    elif kind is torch.Tensor:
        new = value.detach().clone().requires_grad_(value.requires_grad)
    elif kind in (dict, OrderedDict):
        new = kind()
        memo[id(value)] = new
        for key, item in value.items():
            new[key] = item if type(item) in _SHARED else _copy(item, memo, depth + 1)
        return new
    elif kind in (list, tuple, set, frozenset):
        new = kind(_copy(item, memo, depth + 1) for item in value)
    elif dataclass_or_config(value):
        new = copy.deepcopy(value)
    else:
        raise NotCopyable(f"a {kind.__module__}.{kind.__qualname__} in the model")
    memo[id(value)] = new
    return new


_HOOKS = (
    "_forward_hooks",
    "_forward_pre_hooks",
    "_backward_hooks",
    "_backward_pre_hooks",
    "_forward_hooks_with_kwargs",
    "_forward_pre_hooks_with_kwargs",
    "_state_dict_hooks",
    "_state_dict_pre_hooks",
    "_load_state_dict_pre_hooks",
    "_load_state_dict_post_hooks",
)


def dataclass_or_config(value: Any) -> bool:
    """A model's config: the given model's ``BertConfig`` (a dataclass) or a ``transformers`` config."""
    kind = type(value)
    if kind.__name__ != "BertConfig":
        return False
    module = kind.__module__
    return module == "transformers.models.bert.configuration_bert" or module.endswith(".model")


class Templates:
    """This process's templates, by class and config; at most ``_MAX_TEMPLATES`` (the oldest go)."""

    def __init__(self) -> None:
        self._kept: OrderedDict[tuple[int, str, str], tuple[type, nn.Module | None]] = OrderedDict()

    def build(
        self,
        cls: type[nn.Module],
        init: dict[str, Any],
        construct: Callable[[], nn.Module],
        device: str = "cpu",
    ) -> nn.Module:
        """A new model of ``cls`` and config ``init`` on ``device`` (the CPU or meta): a copy of the
        template (made by ``construct`` the first time), or ``construct()`` when the template cannot be
        copied."""
        key = _key(cls, init, device)
        kept = self._kept.get(key)
        if kept is not None and kept[0] is cls:
            if kept[1] is None:
                return construct()
            try:
                return copy_model(kept[1])
            except NotCopyable:  # changed since it was kept (only code that found it could): not used again
                self._keep(key, cls, None)
                return construct()
        template = construct()
        try:
            model = copy_model(template)
        except NotCopyable:
            self._keep(key, cls, None)
            return template
        self._keep(key, cls, template)
        return model

    def keep(
        self,
        cls: type[nn.Module],
        init: dict[str, Any],
        construct: Callable[[], nn.Module],
        device: str = "cpu",
    ) -> bool:
        """Make the template of ``cls``, ``init`` and ``device`` now (by ``construct``) unless there is
        one; whether one is kept (False: it cannot be copied)."""
        key = _key(cls, init, device)
        kept = self._kept.get(key)
        if kept is None or kept[0] is not cls:
            self.build(cls, init, construct, device)  # keeps the template (or notes that it cannot)
            kept = self._kept[key]
        return kept[1] is not None

    def _keep(self, key: tuple[int, str, str], cls: type, template: nn.Module | None) -> None:
        self._kept[key] = (cls, template)
        while len(self._kept) > _MAX_TEMPLATES:
            self._kept.popitem(last=False)

    def clear(self) -> None:
        self._kept.clear()


def _key(cls: type, init: dict[str, Any], device: str) -> tuple[int, str, str]:
    return (id(cls), device, json.dumps(init, sort_keys=True, default=repr))


TEMPLATES = Templates()
"""This process's templates (each process, worker or grading child, fills its own)."""
