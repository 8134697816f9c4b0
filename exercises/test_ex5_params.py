"""Visible checks for ex5 (counting parameters): `pytest exercises -m ex5`."""

from __future__ import annotations

import dataclasses
import functools

import pytest
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from .ex5_params import bert_parameter_count, count_parameters, parameter_breakdown
from .model import BertConfig, BertForMaskedLM, BertModel
from .support.checking import describe, raise_if_not_started
from .support.diagnosis import breakdown_mistakes, count_mistakes, explain, formula_mistakes

pytestmark = pytest.mark.ex5

BERT_BASE = BertConfig()
DISTILBERT_SHAPE = BertConfig(num_hidden_layers=6, type_vocab_size=0, use_pooler=False)
_RANDOM_FILLS = frozenset(
    {nn.init.normal_, nn.init.uniform_, nn.init.kaiming_uniform_, nn.init.zeros_, nn.init.ones_}
)


class _NoInitialisation(TorchFunctionMode):
    """Leaves every ``nn.init`` fill out: the parameters are allocated (untouched memory) but never filled."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _RANDOM_FILLS:
            return args[0] if args else kwargs["tensor"]
        return func(*args, **kwargs)


@functools.cache
def _shapes_only(model_class: type, config_fields: tuple) -> nn.Module:
    with _NoInitialisation():
        return model_class(BertConfig(*config_fields))


def shapes_only(model_class: type, config: BertConfig) -> nn.Module:
    """The model with the right parameter shapes and no values: counting needs no more.

    Filling 110 million random numbers is what makes BERT-base slow to build (the meta device pulls in
    torch's symbolic machinery), so the parameters stay unfilled, and each model is built once per run
    and shared by the checks that count it.
    """
    return _shapes_only(model_class, dataclasses.astuple(config))


def test_count_parameters_counts_a_tied_weight_once():
    linear = nn.Linear(3, 2)
    result = count_parameters(linear)
    assert result == 8, (
        f"Called count_parameters(nn.Linear(3, 2)) and got {result}; expected 8 (6 weights + 2 biases). "
        + explain(result, count_mistakes(linear), "ex5.count", expected=8)
    )
    for model_class, config, expected in [
        (BertModel, BERT_BASE, 109_482_240),
        (BertForMaskedLM, BERT_BASE, 109_514_298),
        (BertModel, DISTILBERT_SHAPE, 66_362_880),
    ]:
        model = shapes_only(model_class, config)
        result = count_parameters(model)
        if result != expected:
            slip = explain(result, count_mistakes(model), "ex5.count", expected=expected)
            raise AssertionError(
                f"Called count_parameters({describe(model)}) and got {result:,}; expected {expected:,}. "
                + slip
            )


def test_count_parameters_can_keep_trainable_parameters_only():
    raise_if_not_started(count_parameters)
    model = shapes_only(BertModel, BERT_BASE)
    model.embeddings.requires_grad_(False)
    trainable, every = 109_482_240 - 23_837_184, 109_482_240
    try:
        result = count_parameters(model, trainable_only=True)
        every_parameter = count_parameters(model)
        trainable_slip = (
            ""
            if result == trainable
            else explain(result, count_mistakes(model, trainable_only=True), "ex5.count", expected=trainable)
        )
        every_slip = (
            ""
            if every_parameter == every
            else explain(every_parameter, count_mistakes(model), "ex5.count", expected=every)
        )
    finally:
        model.embeddings.requires_grad_(True)
    assert result == trainable, (
        f"Called count_parameters(BertModel(...), trainable_only=True) with frozen embeddings and got "
        f"{result:,}; expected {trainable:,} (all but the 23,837,184 embedding parameters). {trainable_slip}"
    )
    assert every_parameter == every, (
        "Called count_parameters(BertModel(...)) with frozen embeddings and got "
        f"{every_parameter:,}; expected {every:,}. {every_slip}"
    )


def test_parameter_breakdown_counts_each_shared_parameter_under_its_first_holder():
    raise_if_not_started(parameter_breakdown)
    model = shapes_only(BertForMaskedLM, BERT_BASE)
    result = parameter_breakdown(model)
    expected = {"bert": 108_891_648, "cls": 622_650}
    assert result == expected, (
        f"Called parameter_breakdown(BertForMaskedLM(BertConfig())) and got {result}; expected {expected}. "
        + explain(result, breakdown_mistakes(model), "ex5.breakdown", expected=expected)
    )

    class Scaled(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = nn.Linear(4, 3)
            self.scale = nn.Parameter(torch.ones(3))

    scaled = Scaled()
    result = parameter_breakdown(scaled)
    expected = {"linear": 15, "": 3}
    assert result == expected, (
        f"Called parameter_breakdown on a module holding nn.Linear(4, 3) as `linear` and a Parameter of 3 "
        f"itself, and got {result}; expected {expected}. "
        + explain(result, breakdown_mistakes(scaled), "ex5.breakdown", expected=expected)
    )


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"num_hidden_layers": 6, "type_vocab_size": 0, "use_pooler": False},
        {
            "vocab_size": 99,
            "hidden_size": 20,
            "num_attention_heads": 4,
            "intermediate_size": 36,
            "num_hidden_layers": 3,
        },
        {
            "vocab_size": 50,
            "hidden_size": 8,
            "intermediate_size": 12,
            "num_attention_heads": 2,
            "use_pooler": False,
            "type_vocab_size": 3,
            "max_position_embeddings": 7,
        },
    ],
)
def test_bert_parameter_count_matches_the_model(changes):
    config = dataclasses.replace(BERT_BASE, **changes)
    result = bert_parameter_count(config)
    model = shapes_only(BertModel, config)
    expected = sum(parameter.numel() for parameter in model.parameters())
    arguments = ", ".join(f"{key}={value}" for key, value in changes.items())
    assert result == expected, (
        f"Called bert_parameter_count(BertConfig({arguments})) and got {result:,}; BertModel of that config "
        f"has {expected:,} parameters (off by {result - expected:+,}). "
        + explain(result, formula_mistakes(config), "ex5.formula", expected=expected)
    )
