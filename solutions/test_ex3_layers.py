"""Visible checks for ex3 (halving BERT's layers): `pytest exercises -m ex3`."""

from __future__ import annotations

import pytest
import torch

from .checking import check_raises, check_tensor, describe_call, raise_if_not_started
from .ex3_layers import halve_layers, student_layer_indices
from .model import BertConfig, BertForMaskedLM, BertModel

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
    return model_class(TINY).eval()


def test_student_layer_indices_takes_every_other_layer():
    for num_layers, expected in [(12, [0, 2, 4, 6, 8, 10]), (5, [0, 2, 4]), (1, [0])]:
        result = student_layer_indices(num_layers)
        assert result == expected, (
            f"Called student_layer_indices({num_layers}) and got {result}; expected {expected}: "
            "every other layer, starting with layer 0"
        )
    check_raises(
        student_layer_indices, 0, call="student_layer_indices(0)", why="a teacher has at least one layer"
    )


@pytest.mark.parametrize("layers", [None, [0, 2, 5]])
def test_halve_layers_copies_the_chosen_teacher_layers_and_everything_else(layers):
    teacher = tiny_teacher(BertForMaskedLM)
    call = describe_call("halve_layers", teacher, *([] if layers is None else [layers]))
    student = halve_layers(teacher, layers)
    kept = [0, 2, 4] if layers is None else layers
    assert type(student) is BertForMaskedLM, f"Called {call} and got {type(student).__name__}"
    assert len(student.bert.encoder.layer) == len(kept), (
        f"Called {call} and the student has {len(student.bert.encoder.layer)} layers; expected {len(kept)}"
    )
    assert student.config.num_hidden_layers == len(kept), (
        f"Called {call} and got student.config.num_hidden_layers == {student.config.num_hidden_layers}; "
        f"expected {len(kept)}: update the student's config"
    )
    teacher_weights = teacher.state_dict()
    for name, weight in student.state_dict().items():
        if name.startswith("bert.encoder.layer."):
            position, rest = name.removeprefix("bert.encoder.layer.").split(".", 1)
            teacher_name = f"bert.encoder.layer.{kept[int(position)]}.{rest}"
        else:
            teacher_name = name
        check_tensor(
            weight, teacher_weights[teacher_name], call=call, what=f"the student's {name}", rtol=0, atol=0
        )


def test_halve_layers_leaves_the_teacher_alone_and_shares_no_parameter():
    teacher = tiny_teacher(BertForMaskedLM, seed=1)
    before = {name: weight.clone() for name, weight in teacher.state_dict().items()}
    call = describe_call("halve_layers", teacher)
    student = halve_layers(teacher)
    assert len(teacher.bert.encoder.layer) == 6 and teacher.config.num_hidden_layers == 6, (
        f"Called {call} and the teacher lost layers: copy the teacher (copy.deepcopy) and change the copy"
    )
    for name, weight in teacher.state_dict().items():
        check_tensor(weight, before[name], call=call, what=f"the teacher's {name} afterwards", rtol=0, atol=0)
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
