"""Visible checks for ex3 (halving BERT's layers): `pytest exercises -m ex3`."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from .ex3_layers import halve_layers, student_layer_indices
from .model import BertConfig, BertForMaskedLM, BertModel
from .support.checking import check_raises, check_tensor, describe_call, raise_if_not_started
from .support.diagnosis import (
    clause,
    explain,
    held_teacher_layers,
    layer_choice_mistakes,
    layer_index_mistakes,
)

pytestmark = pytest.mark.ex3

TINY = BertConfig(
    vocab_size=50,
    hidden_size=16,
    num_hidden_layers=6,
    num_attention_heads=2,
    intermediate_size=24,
    max_position_embeddings=20,
)


def tiny_teacher(model_class: type, seed: int = 0) -> torch.nn.Module:
    """A small teacher with random weights, built only once halve_layers has been started."""
    raise_if_not_started(halve_layers)
    torch.manual_seed(seed)
    return model_class(dataclasses.replace(TINY)).eval()


def test_student_layer_indices_takes_every_other_layer():
    for num_layers, expected in [(12, [0, 2, 4, 6, 8, 10]), (5, [0, 2, 4]), (1, [0])]:
        result = student_layer_indices(num_layers)
        if result != expected:
            slip = explain(result, layer_index_mistakes(num_layers), "ex3.indices", expected=expected)
            raise AssertionError(
                f"Called student_layer_indices({num_layers}) and got {result}; expected {expected}. {slip}"
            )
    check_raises(
        student_layer_indices, 0, call="student_layer_indices(0)", why="a teacher has at least one layer"
    )


@pytest.mark.parametrize("layers", [None, [0, 2, 5]])
def test_halve_layers_copies_the_chosen_teacher_layers_and_everything_else(layers):
    teacher = tiny_teacher(BertForMaskedLM)
    call = describe_call("halve_layers", teacher, *([] if layers is None else [layers]))
    teacher_weights = {name: weight.clone() for name, weight in teacher.state_dict().items()}
    teacher_layers = [
        {name: weight.clone() for name, weight in layer.state_dict().items()}
        for layer in teacher.bert.encoder.layer
    ]
    teacher_count = len(teacher_layers)
    student = halve_layers(teacher, layers)
    kept = [0, 2, 4] if layers is None else layers
    assert type(student) is BertForMaskedLM, (
        f"Called {call} and got {type(student).__name__}; expected a new BertForMaskedLM, the teacher's "
        "class (its bert and its MLM head, cls, both kept)"
    )
    assert student is not teacher, (
        f"Called {call} and got the teacher itself back, with its layers cut: return a new model, a copy of "
        "the teacher (copy.deepcopy) holding the chosen layers."
    )
    held = held_teacher_layers(student.bert.encoder.layer, teacher_layers)
    if held != kept:
        fresh = [position for position, index in enumerate(held) if index is None]
        if fresh:
            slip = (
                f"Student layer {fresh[0]} matches no teacher layer: copy the teacher's layers "
                "(copy.deepcopy), do not build fresh ones."
            )
        else:
            slip = explain(held, layer_choice_mistakes(teacher_count, layers), "ex3.layers", expected=kept)
        raise AssertionError(
            f"Called {call} and the student's {len(held)} layers hold teacher layers {held}; expected "
            f"teacher layers {kept}. {slip}"
        )
    if student.config.num_hidden_layers != len(kept):
        if student.config.num_hidden_layers == teacher_count:
            slip = (
                f"It still says the teacher's {teacher_count}: update the student's config "
                "(config.num_hidden_layers = the number of layers kept)."
            )
        else:
            slip = clause("ex3.config")
        raise AssertionError(
            f"Called {call} and got student.config.num_hidden_layers == {student.config.num_hidden_layers}; "
            f"expected {len(kept)}, the number of layers it holds. {slip}"
        )
    student_weights = student.state_dict()
    missing = [
        name
        for name in teacher_weights
        if not name.startswith("bert.encoder.layer.") and name not in student_weights
    ]
    assert not missing, (
        f"Called {call} and the student has no {', '.join(missing[:3])}. {clause('ex3.copies')}"
    )
    for name, weight in student_weights.items():
        if name.startswith("bert.encoder.layer."):
            continue
        check_tensor(
            weight,
            teacher_weights[name],
            call=call,
            what=f"the student's {name}",
            rtol=0,
            atol=0,
            hint=clause("ex3.copies"),
        )


def test_halve_layers_leaves_the_teacher_alone_and_shares_no_parameter():
    teacher = tiny_teacher(BertForMaskedLM, seed=1)
    before = {name: weight.clone() for name, weight in teacher.state_dict().items()}
    teacher_count = teacher.config.num_hidden_layers
    call = describe_call("halve_layers", teacher)
    student = halve_layers(teacher)
    assert type(student) is BertForMaskedLM, (
        f"Called {call} and got {type(student).__name__}; expected a new BertForMaskedLM, the teacher's class"
    )
    layers_left = len(teacher.bert.encoder.layer)
    assert layers_left == teacher_count, (
        f"Called {call} and afterwards the teacher holds {layers_left} layers, not {teacher_count}"
        + (
            ": the layers were cut from the teacher itself. Copy the teacher (copy.deepcopy) and change the "
            "copy."
            if layers_left == len(student.bert.encoder.layer)
            else f". {clause('ex3.teacher')}"
        )
    )
    config_layers = teacher.config.num_hidden_layers
    assert config_layers == teacher_count, (
        f"Called {call} and afterwards the teacher's config.num_hidden_layers is {config_layers}, not "
        f"{teacher_count}"
        + (
            ": the student shares the teacher's config object. Give the student its own copy of the config."
            if student.config is teacher.config
            else f". {clause('ex3.config')}"
        )
    )
    for name, weight in teacher.state_dict().items():
        check_tensor(
            weight,
            before[name],
            call=call,
            what=f"the teacher's {name} afterwards",
            rtol=0,
            atol=0,
            hint=clause("ex3.teacher"),
        )
    teacher_ids = {id(parameter) for parameter in teacher.parameters()}
    shared = [name for name, parameter in student.named_parameters() if id(parameter) in teacher_ids]
    assert not shared, (
        f"Called {call} and the student shares {shared[:3]} with the teacher: training the student "
        "would move the teacher. Copy the weights (copy.deepcopy)."
    )
    assert student.cls.predictions.decoder.weight is student.bert.embeddings.word_embeddings.weight, (
        f"Called {call} and the student's MLM decoder is no longer tied to its own word embeddings: "
        "copy the whole model in one copy.deepcopy call, which keeps shared weights shared"
    )


def test_halve_layers_works_on_a_bare_bert_model():
    teacher = tiny_teacher(BertModel, seed=2)
    call = describe_call("halve_layers", teacher)
    student = halve_layers(teacher)
    ids = torch.tensor([[2, 7, 11, 3]])
    with torch.no_grad():
        hidden = teacher.embeddings(ids)
        for index in (0, 2, 4):
            hidden = teacher.encoder.layer[index](hidden)
        check_tensor(
            student(ids).last_hidden_state,
            hidden,
            call=call + "(ids)",
            what="the student's output",
            rtol=1e-4,
            hint=clause("ex3.layers"),
        )


@pytest.mark.parametrize("layers", [[], [6], [-1]])
def test_halve_layers_rejects_empty_or_out_of_range_layers(layers):
    teacher = tiny_teacher(BertModel)
    check_raises(
        halve_layers,
        teacher,
        layers,
        call=describe_call("halve_layers", teacher, layers),
        why="the teacher has layers 0 to 5, and the student needs at least one",
    )
