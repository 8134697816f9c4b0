"""The model classes that may cross the wire, by key, and how a model is rebuilt on the other side.

Each side resolves a key to its own pristine class; the worker resolves ``given.*`` to the staged copy of
the given model so that ``isinstance`` checks in the submission's code hold. A model in a reply must
keep within a :class:`ModelAllowance` (class, device and size as sent) before it is built.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import importlib
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from autograder.wire import frame
from autograder.wire.errors import ModelClassRefused, ProtocolError
from autograder.wire.templates import TEMPLATES

# --------------------------------------------------------------------------------------------------
# Model classes that may cross, by key. Each side resolves a key to its own pristine class; the
# worker resolves "given.*" to the staged copy of the given model so that ``isinstance`` checks in the
# submission's code hold.


def _given_module():
    import solutions.model as given

    return given


_GIVEN_RESOLVER: list[Callable[[], Any]] = [_given_module]


def set_given_model_module(resolver: Callable[[], Any]) -> None:
    """Make "given.*" keys resolve to another copy of the given model (the worker's staged one)."""
    _GIVEN_RESOLVER[0] = resolver


def _resolve_class(key: str) -> type[nn.Module]:
    family, _, name = key.partition(".")
    if family == "given" and name in ("BertModel", "BertForMaskedLM"):
        return getattr(_GIVEN_RESOLVER[0](), name)
    if family == "hf" and name in ("BertModel", "BertForMaskedLM"):
        return getattr(importlib.import_module("transformers"), name)
    if family == "zoo":
        zoo = importlib.import_module("autograder.graders.zoo")
        cls = getattr(zoo, name, None)
        if isinstance(cls, type) and issubclass(cls, nn.Module) and name in zoo.__all__:
            return cls
    raise ProtocolError(f"no model class may cross under the key {key!r}")


def model_key(module: nn.Module) -> str | None:
    """The key of a model's exact class, or None when that class may not cross."""
    cls = type(module)
    keys = ["given.BertModel", "given.BertForMaskedLM"]
    if "transformers" in sys.modules:  # else no model can be of its classes: do not import it
        keys += ["hf.BertModel", "hf.BertForMaskedLM"]
    for key in keys:
        try:
            if cls is _resolve_class(key):
                return key
        except (ProtocolError, ImportError):
            continue
    if cls.__module__ == "autograder.graders.zoo":
        key = f"zoo.{cls.__name__}"
        try:
            if cls is _resolve_class(key):
                return key
        except ProtocolError:
            return None
    return None


def _init_data(module: nn.Module, key: str) -> dict[str, Any]:
    family = key.partition(".")[0]
    config: Any = getattr(module, "config", None)
    if family == "given":
        return dataclasses.asdict(config)
    if family == "hf":
        return {k: v for k, v in config.to_dict().items() if _is_plain_scalar_tree(v)}
    init_kwargs: Any = module.init_kwargs  # the zoo's classes keep their keyword arguments
    return dict(init_kwargs)


def _build_model(key: str, init: dict[str, Any], device: str) -> nn.Module:
    cls, construct = _constructor(key, init, device)
    # A copy of this process's template of the class, config and device (a constructor is slower).
    return TEMPLATES.build(cls, init, construct, device)


def _constructor(
    key: str, init: dict[str, Any], device: str
) -> tuple[type[nn.Module], Callable[[], nn.Module]]:
    """The class of ``key`` and a function building a model of it with config ``init`` on ``device``
    (no random fill)."""
    cls = _resolve_class(key)
    family = key.partition(".")[0]
    if family == "given":
        config = cls.__init__.__globals__["BertConfig"](**init)
        args: tuple = (config,)
        kwargs: dict = {}
    elif family == "hf":
        config = importlib.import_module("transformers").BertConfig(**init)
        args, kwargs = (config,), {}
    else:
        args, kwargs = (), dict(init)

    def construct() -> nn.Module:
        with random_init_skipped(), torch.device(device) if device != "cpu" else contextlib.nullcontext():
            return cls(*args, **kwargs)

    return cls, construct


def keep_templates(specs: Iterable[tuple[str, dict[str, Any], str]]) -> int:
    """Make this process's templates (:mod:`autograder.wire.templates`) of these ``(key, config,
    device)`` now, so that the processes forked from here rebuild such models as copies from their first
    one on. A key whose classes are not loaded here (``hf.*`` without transformers: not imported for
    this) or whose model cannot be built is skipped (a template is only a shortcut: such a model is
    built as before). Returns how many templates there are of ``specs``."""
    kept = 0
    for key, init, device in specs:
        if (key.startswith("hf.") and "transformers" not in sys.modules) or device not in ("cpu", "meta"):
            continue
        with contextlib.suppress(Exception):
            cls, construct = _constructor(key, dict(init), device)
            kept += TEMPLATES.keep(cls, dict(init), construct, device)
    return kept


_INITIALISERS = ("uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "kaiming_uniform_")


@contextlib.contextmanager
def random_init_skipped():
    """Make ``torch.nn.init``'s fills no-ops while a model is rebuilt from a message.

    On the CPU, the state sent (:func:`_load_state`) then replaces every parameter and persistent buffer
    (buffers made with ``torch.arange``/``zeros`` are untouched); on meta there is nothing to fill.
    """
    saved = {name: getattr(nn.init, name) for name in _INITIALISERS}
    for name in _INITIALISERS:
        setattr(nn.init, name, _leave_unfilled)
    try:
        yield
    finally:
        for name, function in saved.items():
            setattr(nn.init, name, function)


def _leave_unfilled(tensor: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
    return tensor


def _is_plain_scalar_tree(v: Any) -> bool:
    if v is None or type(v) in (bool, int, float, str):
        return True
    if type(v) in (list, tuple):
        return all(_is_plain_scalar_tree(x) for x in v)
    if type(v) is dict:
        return all(type(k) is str and _is_plain_scalar_tree(x) for k, x in v.items())
    return False


def tied_groups(module: nn.Module) -> list[list[str]]:
    """Groups of parameter names that are the same tensor storage (size > 1 only)."""
    by_ptr: dict[tuple[int, Any], list[str]] = {}
    for name, p in module.named_parameters(remove_duplicate=False):
        if p.device.type == "meta":
            by_ptr.setdefault((id(p), 0), []).append(name)
        else:
            by_ptr.setdefault((p.untyped_storage().data_ptr(), p.storage_offset()), []).append(name)
    return [names for names in by_ptr.values() if len(names) > 1]


@dataclass(frozen=True)
class ModelAllowance:
    """The models a reply may hold: of a class key that was sent, on a device a model was sent on, and
    with no integer config field above its largest value among the models sent (a student of a teacher
    is never bigger than the teacher). Checked before a model is built.

    Attributes:
        ceilings: class key -> config field -> the largest int sent in that field.
        devices: the devices the models were sent on ("cpu", "meta").
    """

    ceilings: dict[str, dict[str, int]] = field(default_factory=dict)
    devices: frozenset[str] = frozenset()

    @classmethod
    def of_arguments(cls, values: Any) -> ModelAllowance:
        """What a call may send back, given what it was called with."""
        ceilings: dict[str, dict[str, int]] = {}
        devices: set[str] = set()
        for module in _modules_in(values, 0):
            key = model_key(module)
            if key is None:
                continue
            init = _init_data(module, key)
            fields = ceilings.setdefault(key, {})
            for name, value in init.items():
                if type(value) is int:
                    fields[name] = max(value, fields.get(name, value))
            first = next(module.parameters(), None)  # its device (not every parameter: a walk of the model)
            devices.add("meta" if first is not None and first.device.type == "meta" else "cpu")
        return cls(ceilings, frozenset(devices))

    def check(self, key: str, init: dict[str, Any], device: str) -> None:
        """Raises ProtocolError unless a model of ``key`` with ``init`` on ``device`` may come back."""
        if key not in self.ceilings:
            sent = ", ".join(sorted(self.ceilings)) or "none"
            family, _, name = key.partition(".")
            raise ModelClassRefused(
                f"a model of class {key!r} in the reply (models sent: {sent})",
                class_name=f"transformers.{name}" if family == "hf" else name,
            )
        if device not in self.devices:
            sent_on = sorted(self.devices)
            raise ProtocolError(f"a model on {device!r} in the reply; models were sent on {sent_on}")
        ceilings = self.ceilings[key]
        for name, value in init.items():
            if type(value) is not int:
                continue
            if name not in ceilings:
                raise ProtocolError(f"a model config with an integer field {name[:40]!r} no model sent had")
            if value > ceilings[name]:
                raise ProtocolError(
                    f"a model whose config.{name} is {value}, more than the {ceilings[name]} of those sent"
                )


def _modules_in(values: Any, depth: int):
    if depth > frame.MAX_DEPTH:
        return
    if isinstance(values, nn.Module):
        yield values
    elif type(values) in (list, tuple):
        for value in values:
            yield from _modules_in(value, depth + 1)
    elif type(values) is dict:
        for value in values.values():
            yield from _modules_in(value, depth + 1)


def _load_state(module: nn.Module, key: str, state: dict[str, torch.Tensor]) -> None:
    """``module.load_state_dict(state, strict=True)``, except that each tensor of ``state`` (decoded for
    this model alone: nothing else holds it) becomes the parameter's or buffer's memory instead of being
    copied into it; where the dtypes differ it is copied (and converted), as ``load_state_dict`` does.
    The classes of this package (whose modules have no state-dict hooks) only: ``transformers``' go
    through ``load_state_dict``.

    Raises:
        RuntimeError: ``state`` does not name exactly the model's parameters and persistent buffers, or
            a tensor's shape differs from its parameter's (as ``load_state_dict`` raises).
    """
    if key.partition(".")[0] == "hf":
        module.load_state_dict(state, strict=True)
        return
    targets: list[tuple[str, torch.Tensor]] = []
    for prefix, submodule in module.named_modules(remove_duplicate=False):
        dot = f"{prefix}." if prefix else ""
        targets += [(dot + name, p) for name, p in submodule._parameters.items() if p is not None]
        transient = submodule._non_persistent_buffers_set
        targets += [
            (dot + name, b)
            for name, b in submodule._buffers.items()
            if b is not None and name not in transient
        ]
    names = {name for name, _ in targets}
    if len(names) != len(targets) or names != state.keys():
        missing, unexpected = sorted(names - state.keys()), sorted(state.keys() - names)
        raise RuntimeError(
            f"Error(s) in loading state_dict for {type(module).__name__}: "
            f"missing keys {missing[:5]}, unexpected keys {unexpected[:5]}"
        )
    with torch.no_grad():
        for name, tensor in targets:
            value = state[name]
            if value.shape != tensor.shape:
                raise RuntimeError(
                    f"Error(s) in loading state_dict for {type(module).__name__}: size mismatch for {name}: "
                    f"copying a param with shape {tuple(value.shape)}, the model has {tuple(tensor.shape)}"
                )
            if value.dtype == tensor.dtype and value.device == tensor.device:
                tensor.data = value
            else:
                tensor.copy_(value)


_LAYER_KEY = re.compile(r"(?:bert\.)?encoder\.layer\.(\d{1,6})\.")


def layers_held(key: str, state: dict[str, Any]) -> int | None:
    """How many encoder layers a BERT's state dict holds (layers 0 to n - 1, each named), or None for
    a model of another family or layers that are not numbered from 0 without a gap (the state then does
    not fit any config: ``load_state_dict`` says so)."""
    if key.partition(".")[0] not in ("given", "hf"):
        return None
    indices = {int(match.group(1)) for name in state if (match := _LAYER_KEY.match(name))}
    return len(indices) if indices == set(range(len(indices))) else None


def keep_sent_layer_count(module: nn.Module, layers: int) -> None:
    """Make a model rebuilt with the layers its state holds say ``layers`` in every config of its own,
    as the one sent did (an inner config that said otherwise crosses apart: ``inner_layers``)."""
    copies: dict[int, Any] = {}
    for submodule in module.modules():
        config: Any = getattr(submodule, "config", None)
        if hasattr(config, "num_hidden_layers"):
            if id(config) not in copies:
                copies[id(config)] = copy.copy(config)
                copies[id(config)].num_hidden_layers = layers
            submodule.config = copies[id(config)]


def _set_inner_layers(module: nn.Module, counts: dict[str, int]) -> None:
    """Give a rebuilt model's inner configs the layer counts the sent model's had; each such submodule
    gets a copy of its config (in ``transformers`` it is the model's own object). A name the rebuilt
    model has no config under is ignored."""
    submodules = dict(module.named_modules()) if counts else {}
    for name, layers in counts.items():
        config = getattr(submodules.get(name), "config", None)
        if name and hasattr(config, "num_hidden_layers"):
            submodules[name].config = copy.copy(config)
            submodules[name].config.num_hidden_layers = layers
