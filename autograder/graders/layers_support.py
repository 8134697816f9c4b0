"""Helpers of ex3's grader (``test_ex3_layers.py``): the teachers, the call and the layer comparisons.

The checks, their fixtures and the inputs built ahead (``warm_up``) stay in the grader.
"""

from __future__ import annotations

import re
from typing import Any

import torch
from torch import nn

from autograder.graders.support import (
    describe_call,
    fail,
    given_model_module,
    shared_input,
)
from autograder.wire import values as protocol

INDICES = "student_layer_indices"
HALVE = "halve_layers"
SMALL: dict[str, Any] = {
    "vocab_size": 100,
    "hidden_size": 32,
    "num_attention_heads": 4,
    "intermediate_size": 48,
    "max_position_embeddings": 16,
    "type_vocab_size": 2,
}


def randomise(model: nn.Module, seed: int) -> nn.Module:
    """Redraw every parameter (tied ones once) so that no two weights are alike, as after training."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator))
    return model.eval()


@shared_input
def teacher(num_layers: int, *, masked_lm: bool = False, seed: int = 0, **overrides) -> nn.Module:
    """A small randomised teacher of the given model's classes."""
    given = given_model_module()
    config = given.BertConfig(num_hidden_layers=num_layers, **{**SMALL, **overrides})
    with protocol.random_init_skipped():  # randomise fills every parameter
        model = given.BertForMaskedLM(config) if masked_lm else given.BertModel(config)
    return randomise(model, seed)


@shared_input
def hf_teacher(num_layers: int, *, masked_lm: bool = False, seed: int = 0) -> nn.Module:
    """A small randomised ``transformers`` teacher."""
    import transformers

    config = transformers.BertConfig(num_hidden_layers=num_layers, **SMALL)
    with protocol.random_init_skipped():
        model = transformers.BertForMaskedLM(config) if masked_lm else transformers.BertModel(config)
    return randomise(model, seed)


def halve_call(model: nn.Module, *args, **kwargs) -> str:
    """``halve_layers(BertModel(6 layers), layers=[1, 3])``, with the teacher's size and origin."""
    text = describe_call(HALVE, model, *args, **kwargs)
    origin = "transformers' " if type(model).__module__.startswith("transformers") else ""
    config: Any = model.config
    size = f"{origin}{type(model).__name__}({config.num_hidden_layers} layers)"
    return text.replace(f"{type(model).__name__}(...)", size, 1).replace(f"a {type(model).__name__}", size, 1)


def layer_prefix(model: nn.Module) -> str:
    return "bert.encoder.layer." if hasattr(model, "bert") else "encoder.layer."


def layers_by_index(state: dict[str, torch.Tensor], prefix: str) -> dict[int, dict[str, torch.Tensor]]:
    """Layer index -> {name inside the layer: tensor}."""
    layers: dict[int, dict[str, torch.Tensor]] = {}
    for name, tensor in state.items():
        if name.startswith(prefix):
            index, _, inner = name[len(prefix) :].partition(".")
            layers.setdefault(int(index), {})[inner] = tensor
    return layers


def same_tensors(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[name], b[name]) for name in a)


def halve(halve_layers, model: nn.Module, *args, arguments: bool = False, **kwargs) -> protocol.CallResult:
    """Call ``halve_layers`` and check that a model of the teacher's class came back."""
    call = halve_call(model, *args, **kwargs)
    try:
        result = halve_layers.call(model, *args, arguments=arguments, **kwargs)
    except protocol.ModelMismatch as exc:
        first_line = exc.detail.strip().splitlines()[0] if exc.detail.strip() else type(exc).__name__
        missing = re.findall(r'"([\w.]+)"', exc.detail.partition("Unexpected key(s)")[0])
        pooler = [key for key in missing if "pooler" in key]
        if pooler:
            fail(
                f"Called {call} and the model that came back has no pooler ({', '.join(pooler[:2])} "
                "missing), although its config says it has one. Keep everything but the encoder layers as "
                "in the teacher: the pooler (when the teacher has one) is copied, not dropped."
            )
        fail(
            f"Called {call} and the model that came back does not fit its own config ({first_line}). "
            "Copy the whole teacher (copy.deepcopy) and change only its encoder layers and "
            "config.num_hidden_layers."
        )
    if type(result.value) is not type(model):
        fail(
            f"Called {call} and got {type(result.value).__name__ if result.value is not None else 'None'}; "
            f"expected a new {type(model).__name__} (the teacher's class)."
        )
    return result


def check_layers(
    model: nn.Module, result: protocol.CallResult, layers: list[int] | None, expected: list[int]
) -> None:
    """Check that student layer i of ``halve_layers(model, layers)`` holds teacher layer ``expected[i]``."""
    kwargs = {} if layers is None else {"layers": layers}
    call = halve_call(model, **kwargs)
    student = result.value
    prefix = layer_prefix(model)
    teacher_layers = layers_by_index(model.state_dict(), prefix)
    student_layers = layers_by_index(student.state_dict(), prefix)
    choice = (
        "the layers asked for" if layers is not None else "every other teacher layer, starting with layer 0"
    )
    if len(student_layers) != len(expected):
        fail(
            f"Called {call} and the student has {len(student_layers)} layers; expected {len(expected)}, "
            f"teacher layers {expected} ({choice})."
        )
    for position, wanted in enumerate(expected):
        holds = next(
            (
                index
                for index, weights in teacher_layers.items()
                if same_tensors(student_layers[position], weights)
            ),
            None,
        )
        if holds == wanted:
            continue
        if holds is None:
            fail(
                f"Called {call} and student layer {position} matches no teacher layer; expected a copy of "
                f"teacher layer {wanted}. Copy the teacher's trained weights (copy.deepcopy), do not build "
                "fresh layers: starting from the teacher's layers is worth 3.69 GLUE points in the "
                "DistilBERT ablation."
            )
        fail(
            f"Called {call} and student layer {position} holds teacher layer {holds}; expected teacher layer "
            f"{wanted} ({choice}: {expected})."
        )


def check_default_layers(model: nn.Module, result: protocol.CallResult, indices_seen: dict[int, Any]) -> None:
    """:func:`check_layers` for ``halve_layers(model)`` (layers left out): every other teacher layer, or
    else the layers the submission's own ``student_layer_indices`` gave for that count when its own
    check asked (``indices_seen``), which the contract makes the default (a wrong choice there costs the
    checks of ``student_layer_indices`` and the default-layers check, not every check that leaves the
    layers out). It is not asked again: code that keeps state could answer otherwise now."""
    config: Any = model.config
    count = config.num_hidden_layers
    expected = list(range(0, count, 2))
    try:
        check_layers(model, result, None, expected)
    except AssertionError as wrong:
        if count not in indices_seen:
            raise wrong from None
        own = indices_seen[count]
        plain = type(own) is list and all(type(index) is int for index in own)
        if not plain or own == expected or len(own) >= count:  # keeping every layer is no choice at all
            raise wrong from None
        try:
            check_layers(model, result, None, own)
        except AssertionError:
            raise wrong from None


def check_inner_config(call: str, student: nn.Module, expected: int) -> None:
    """A masked-LM student's ``bert`` keeps a config of its own: its layer count must be updated too."""
    inner = getattr(getattr(student, "bert", None), "config", None)
    if inner is not None and inner.num_hidden_layers != expected:
        fail(
            f"Called {call} and the student's bert.config.num_hidden_layers is {inner.num_hidden_layers}; "
            f"expected {expected}. Only the outer config was updated: a BertForMaskedLM's bert holds a "
            "config of its own (student.bert.config), which must say how many layers it has too."
        )
