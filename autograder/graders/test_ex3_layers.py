"""Hidden checks for ex3: ``student_layer_indices`` and ``halve_layers``.

Teachers are small (hidden 32, 4 heads, 2-6 layers, vocabulary 100) with every parameter redrawn at a
fixed seed, so that each layer and each weight is distinguishable: a student layer is identified by the
teacher layer whose weights it holds.
"""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn

from autograder import protocol
from autograder.graders.support import (
    describe_call,
    expect_exact_type,
    expect_value_error,
    fail,
    given_model_module,
    shared_input,
    warm_up,
)
from solutions.support.diagnosis import explain, layer_index_mistakes

INDICES = "student_layer_indices"
HALVE = "halve_layers"
SMALL = {
    "vocab_size": 100,
    "hidden_size": 32,
    "num_attention_heads": 4,
    "intermediate_size": 48,
    "max_position_embeddings": 16,
    "type_vocab_size": 2,
}


@pytest.fixture(scope="module")
def halve_layers(submission):
    return submission.ex3.halve_layers


@pytest.fixture(scope="module")
def student_layer_indices(submission):
    return submission.ex3.student_layer_indices


@pytest.fixture(scope="module")
def halved(halve_layers):
    """``halved(4, seed=6)`` -> ``(teacher, CallResult)`` of ``halve_layers(teacher(4, seed=6))``.

    Each teacher and layer choice is called once per submission, however many checks look at a property
    of that call; a call that failed fails again, with the same message, in every check that asks for it.
    ``hf=True`` makes a ``transformers`` teacher, ``layers`` is passed on, the rest goes to :func:`teacher`.
    Only the calls in ``UNTOUCHED`` bring the teacher back as it was after the call (``result.args``).
    """
    made: dict[tuple, tuple[nn.Module, protocol.CallResult | None, BaseException | None]] = {}
    teachers: dict[tuple, nn.Module] = {}

    def get(num_layers: int, *, layers: list[int] | None = None, hf: bool = False, **spec):
        model_key = (num_layers, hf, tuple(sorted(spec.items())))
        key = (*model_key, None if layers is None else tuple(layers))
        if key not in made:
            if model_key not in teachers:
                teachers[model_key] = (hf_teacher if hf else teacher)(num_layers, **spec)
            model = teachers[model_key]
            kwargs = {} if layers is None else {"layers": layers}
            arguments = layers is None and not hf and (num_layers, spec) in UNTOUCHED
            try:
                made[key] = (model, halve(halve_layers, model, arguments=arguments, **kwargs), None)
            except (AssertionError, protocol.SubmissionError) as exc:
                made[key] = (model, None, exc)
        model, result, error = made[key]
        if error is not None:
            raise error
        return model, result

    return get


def _randomise(model: nn.Module, seed: int) -> nn.Module:
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
    with protocol.random_init_skipped():  # _randomise fills every parameter
        model = given.BertForMaskedLM(config) if masked_lm else given.BertModel(config)
    return _randomise(model, seed)


@shared_input
def hf_teacher(num_layers: int, *, masked_lm: bool = False, seed: int = 0) -> nn.Module:
    """A small randomised ``transformers`` teacher."""
    import transformers

    config = transformers.BertConfig(num_hidden_layers=num_layers, **SMALL)
    with protocol.random_init_skipped():
        model = transformers.BertForMaskedLM(config) if masked_lm else transformers.BertModel(config)
    return _randomise(model, seed)


# The teachers the checks below use, built once in the engine's parent process.
warm_up(
    lambda: (
        [teacher(n, seed=seed) for n, seed in ((4, 6), (5, 2), (6, 4), (4, 5), (2, 14), (12, 8))],
        teacher(3, seed=7, type_vocab_size=0, use_pooler=False),
        teacher(5, masked_lm=True, seed=13),
    )
)
warm_up(lambda: (hf_teacher(4, seed=15), hf_teacher(3, masked_lm=True, seed=15)), needs=("transformers",))


def _halve_call(model: nn.Module, *args, **kwargs) -> str:
    """``halve_layers(BertModel(6 layers), layers=[1, 3])``, with the teacher's size and origin."""
    text = describe_call(HALVE, model, *args, **kwargs)
    origin = "transformers' " if type(model).__module__.startswith("transformers") else ""
    size = f"{origin}{type(model).__name__}({model.config.num_hidden_layers} layers)"
    return text.replace(f"{type(model).__name__}(...)", size, 1).replace(f"a {type(model).__name__}", size, 1)


def _prefix(model: nn.Module) -> str:
    return "bert.encoder.layer." if hasattr(model, "bert") else "encoder.layer."


def _layers(state: dict[str, torch.Tensor], prefix: str) -> dict[int, dict[str, torch.Tensor]]:
    """Layer index -> {name inside the layer: tensor}."""
    layers: dict[int, dict[str, torch.Tensor]] = {}
    for name, tensor in state.items():
        if name.startswith(prefix):
            index, _, inner = name[len(prefix) :].partition(".")
            layers.setdefault(int(index), {})[inner] = tensor
    return layers


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[name], b[name]) for name in a)


def halve(halve_layers, model: nn.Module, *args, arguments: bool = False, **kwargs) -> protocol.CallResult:
    """Call ``halve_layers`` and check that a model of the teacher's class came back."""
    call = _halve_call(model, *args, **kwargs)
    try:
        result = halve_layers.call(model, *args, arguments=arguments, **kwargs)
    except RuntimeError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        missing = re.findall(r'"([\w.]+)"', str(exc).partition("Unexpected key(s)")[0])
        pooler = [key for key in missing if "pooler" in key]
        if pooler:
            fail(
                f"Called {call} and the model that came back has no pooler ({', '.join(pooler[:2])} "
                "missing), although its config says it has one. Keep everything but the encoder layers as "
                "in the teacher: the pooler (when the teacher has one) is copied, not dropped."
            )
        fail(
            f"Called {call}: the model that came back, or the teacher after the call, holds a different "
            f"number of layers than its config.num_hidden_layers says ({first_line}). Set "
            "num_hidden_layers on the student's own copy of the config, and leave the teacher and its "
            "config as they were."
        )
    if type(result.value) is not type(model):
        fail(
            f"Called {call} and got {type(result.value).__name__ if result.value is not None else 'None'}; "
            f"expected a new {type(model).__name__} (the teacher's class)."
        )
    return result


def _check_layers(
    model: nn.Module, result: protocol.CallResult, layers: list[int] | None, expected: list[int]
) -> None:
    """Check that student layer i of ``halve_layers(model, layers)`` holds teacher layer ``expected[i]``."""
    kwargs = {} if layers is None else {"layers": layers}
    call = _halve_call(model, **kwargs)
    student = result.value
    prefix = _prefix(model)
    teacher_layers = _layers(model.state_dict(), prefix)
    student_layers = _layers(student.state_dict(), prefix)
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
            (index for index, weights in teacher_layers.items() if _same(student_layers[position], weights)),
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


@pytest.mark.points(3)
def test_student_layer_indices_keep_every_other_layer_from_zero(student_layer_indices):
    for count in (12, 6, 5, 7, 2, 1):
        expected = list(range(0, count, 2))
        call = describe_call(INDICES, count)
        value = student_layer_indices(count)
        expect_exact_type(value, list, call=call)
        if value == expected and all(type(index) is int for index in value):
            continue
        if value == expected:
            hint = "The indices must be plain ints."
        else:
            hint = explain(value, layer_index_mistakes(count), "ex3.indices", expected=expected)
        hint = " " + hint
        fail(f"Called {call} and got {value}; expected {expected}.{hint}")


@pytest.mark.points(1)
@pytest.mark.requires("test_student_layer_indices_keep_every_other_layer_from_zero")
def test_student_layer_indices_rejects_fewer_than_one_layer(student_layer_indices):
    problems = [
        expect_value_error(
            student_layer_indices, count, call=describe_call(INDICES, count), why="a teacher needs a layer"
        )
        for count in (0, -2)
    ]
    problems = [problem for problem in problems if problem]
    if problems:
        fail(" ".join(problems))


@pytest.mark.points(3)
def test_halve_layers_keeps_every_other_teacher_layer(halve_layers, halved):
    for count, seed in ((4, 6), (5, 2), (12, 8)):
        _check_layers(*halved(count, seed=seed), None, list(range(0, count, 2)))
    model = teacher(2, seed=14)
    _check_layers(model, halve(halve_layers, model, None), None, [0])


@pytest.mark.points(2)
def test_halve_layers_keeps_the_layers_asked_for(halved):
    for count, seed, layers in (
        (6, 4, [0, 2, 3, 5]),
        (4, 5, [1, 3]),
        (4, 5, [2]),
        (6, 4, [5, 1]),
        (6, 4, [3, 0, 2]),
        (4, 5, [1, 1]),
        (4, 5, (3, 2, 1, 0)),
    ):
        _check_layers(*halved(count, seed=seed, layers=layers), list(layers), list(layers))


@pytest.mark.points(2)
@pytest.mark.requires("test_halve_layers_keeps_every_other_teacher_layer")
def test_halve_layers_copies_every_other_weight(halved):
    for model, result in (halved(4, seed=6), halved(3, seed=7, type_vocab_size=0, use_pooler=False)):
        call = _halve_call(model)
        student = result.value
        prefix = _prefix(model)
        teacher_state = model.state_dict()
        student_state = student.state_dict()
        absent = [name for name in teacher_state if not name.startswith(prefix) and name not in student_state]
        if absent:
            fail(
                f"Called {call} and the student has no {', '.join(absent[:3])}"
                f"{' and more' if len(absent) > 3 else ''}: everything but the encoder layers (embeddings, "
                "the pooler, the MLM head) is kept and copied from the teacher, not dropped."
            )
        different = [
            name
            for name, tensor in teacher_state.items()
            if not name.startswith(prefix) and not torch.equal(student_state[name], tensor)
        ]
        if different:
            fail(
                f"Called {call} and the student's {', '.join(different[:3])}"
                f"{' and more' if len(different) > 3 else ''} differ from the teacher's. Everything but the "
                "encoder layers (embeddings, their LayerNorm, the pooler, the MLM head) is copied unchanged."
            )


@pytest.mark.points(2)
@pytest.mark.requires("test_halve_layers_keeps_every_other_teacher_layer")
def test_halve_layers_updates_num_hidden_layers(halved):
    for model, result in (
        halved(5, seed=2),
        halved(3, seed=7, type_vocab_size=0, use_pooler=False),
        halved(5, masked_lm=True, seed=13),
    ):
        call = _halve_call(model)
        student = result.value
        expected = len(range(0, model.config.num_hidden_layers, 2))
        if student.config.num_hidden_layers != expected:
            fail(
                f"Called {call} and the student's config.num_hidden_layers is "
                f"{student.config.num_hidden_layers}; expected {expected}, the number of layers it holds."
            )
        _check_inner_config(call, student, expected)


def _check_inner_config(call: str, student: nn.Module, expected: int) -> None:
    """A masked-LM student's ``bert`` keeps a config of its own: its layer count must be updated too."""
    inner = getattr(getattr(student, "bert", None), "config", None)
    if inner is not None and inner.num_hidden_layers != expected:
        fail(
            f"Called {call} and the student's bert.config.num_hidden_layers is {inner.num_hidden_layers}; "
            f"expected {expected}. Only the outer config was updated: a BertForMaskedLM's bert holds a "
            "config of its own (student.bert.config), which must say how many layers it has too."
        )


# The teachers whose state after the call is checked (sending it back costs a third of a call).
UNTOUCHED = ((4, {"seed": 6}), (5, {"masked_lm": True, "seed": 13}))


@pytest.mark.points(2)
@pytest.mark.requires("test_halve_layers_keeps_every_other_teacher_layer")
def test_halve_layers_leaves_the_teacher_untouched(halved):
    for model, result in (halved(count, **spec) for count, spec in UNTOUCHED):
        before = model.state_dict()  # the worker got a copy: this one is the teacher as it was sent
        config_before = model.config
        call = _halve_call(model)
        after = result.args[0]  # a protocol.SentModel: the teacher's config fields and state dict
        layers_after = after.config.get("num_hidden_layers")
        if layers_after != config_before.num_hidden_layers:
            fail(
                f"Called {call} and afterwards the teacher's config.num_hidden_layers is "
                f"{layers_after}, not {config_before.num_hidden_layers}: the student needs "
                "its own copy of the config (copy.deepcopy)."
            )
        after_state = after.state
        if after_state.keys() != before.keys():
            fail(
                f"Called {call} and afterwards the teacher has different weights ({len(after_state)} "
                f"tensors instead of {len(before)}): layers were removed from the teacher itself. Work on a "
                "copy."
            )
        changed = [name for name, tensor in before.items() if not torch.equal(after_state[name], tensor)]
        if changed:
            fail(
                f"Called {call} and afterwards the teacher's {', '.join(changed[:3])} had changed. Leave the "
                "teacher exactly as it was; work on a copy."
            )


@pytest.mark.points(1)
@pytest.mark.requires("test_halve_layers_keeps_every_other_teacher_layer")
def test_halve_layers_shares_no_parameter_with_the_teacher(halved):
    for model, result in (halved(4, seed=6), halved(5, masked_lm=True, seed=13)):
        if result.shares_memory:
            fail(
                f"Called {_halve_call(model)} and the student shares tensors with the teacher: "
                "training the student would change the teacher too. Copy the weights (copy.deepcopy the "
                "teacher, or the layers you keep) instead of reusing the teacher's modules."
            )
    model, result = halved(4, seed=5, layers=[1, 1])
    prefix = _prefix(model)
    across = [
        group
        for group in result.tied
        if len({name[len(prefix) :].partition(".")[0] for name in group if name.startswith(prefix)}) > 1
    ]
    if across:
        fail(
            f"Called {_halve_call(model, layers=[1, 1])} and student layers 0 and 1 share their parameters "
            f"({', '.join(across[0][:2])} are one tensor, {len(across)} such pairs): the same layer module "
            "sits at both positions, so training one trains the other. A repeated index gets a copy of its "
            "own at each position (copy.deepcopy the teacher layer once per position)."
        )


@pytest.mark.points(2)
def test_halve_layers_on_masked_lm_copies_the_head_and_keeps_it_tied(halved):
    model, result = halved(5, masked_lm=True, seed=13)
    call = _halve_call(model)
    _check_layers(model, result, None, [0, 2, 4])
    student = result.value
    teacher_state, student_state = model.state_dict(), student.state_dict()
    different = [
        name
        for name, tensor in teacher_state.items()
        if not name.startswith("bert.encoder.")
        and (name not in student_state or not torch.equal(student_state[name], tensor))
    ]
    if different:
        fail(f"Called {call} and the student's {', '.join(different[:3])} differ from the teacher's.")
    decoder_group = next((group for group in result.tied if "cls.predictions.decoder.weight" in group), [])
    if "bert.embeddings.word_embeddings.weight" not in decoder_group:
        fail(
            f"Called {call} and the student's cls.predictions.decoder.weight is no longer tied to its "
            "bert.embeddings.word_embeddings.weight: they must stay one tensor, as in the teacher. Copy the "
            "whole model at once (one copy.deepcopy keeps shared tensors shared)."
        )


@pytest.mark.points(1)
@pytest.mark.requires("test_halve_layers_keeps_every_other_teacher_layer")
def test_halve_layers_rejects_empty_or_out_of_range_layers(halve_layers):
    model = teacher(2, seed=14)
    problems = []
    for layers, why in (
        ([], "a student needs at least one layer"),
        ([0, 2], "the teacher's layers are numbered 0 and 1"),
        ([7], "the teacher's layers are numbered 0 and 1"),
        ([-1], "negative indices are rejected, not counted from the end"),
        ([1, -2], "negative indices are rejected, not counted from the end"),
    ):
        call = _halve_call(model, layers=layers)
        problem = expect_value_error(halve_layers, model, layers=layers, call=call, why=why)
        if problem:
            problems.append(problem)
    if problems:
        fail(" ".join(problems))


@pytest.mark.points(1)
@pytest.mark.needs("transformers")
def test_halve_layers_works_on_transformers_models(halved):
    for masked_lm, count in ((False, 4), (True, 3)):
        try:
            model, result = halved(count, hf=True, masked_lm=masked_lm, seed=15)
            _check_layers(model, result, None, list(range(0, count, 2)))
            student = result.value
        except protocol.SubmissionRaised as raised:
            model = hf_teacher(count, masked_lm=masked_lm, seed=15)
            if "use_pooler" in raised.message:
                fail(
                    f"Called {_halve_call(model)} and it raised {raised.message}. transformers' BertConfig "
                    "has no use_pooler field: copy the teacher's own config (copy.deepcopy(teacher.config)) "
                    "instead of rebuilding it as this package's BertConfig."
                )
            fail(
                f"Called {_halve_call(model)} and it raised {raised.message}. The same code should work "
                "on transformers' classes: they have the same attribute names (teacher.bert.encoder.layer, "
                "teacher.encoder.layer, teacher.config), so reach the layers by attribute rather than by "
                "isinstance checks on this package's classes."
            )
        if student.config.num_hidden_layers != len(range(0, count, 2)):
            fail(
                f"Called {_halve_call(model)} and the student's config.num_hidden_layers is "
                f"{student.config.num_hidden_layers}; expected {len(range(0, count, 2))}."
            )
        _check_inner_config(_halve_call(model), student, len(range(0, count, 2)))
