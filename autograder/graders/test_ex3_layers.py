"""Hidden checks for ex3: ``student_layer_indices`` and ``halve_layers``.

Teachers are small (hidden 32, 4 heads, 2-6 layers, vocabulary 100) with every parameter redrawn at a
fixed seed, so that each layer and each weight is distinguishable: a student layer is identified by the
teacher layer whose weights it holds.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from autograder.graders.layers_support import (
    INDICES,
    check_default_layers,
    check_inner_config,
    check_layers,
    halve,
    halve_call,
    hf_teacher,
    layer_prefix,
    layers_by_index,
    teacher,
)
from autograder.graders.support import (
    describe_call,
    expect_exact_type,
    expect_value_error,
    fail,
    warm_up,
)
from autograder.wire import values as protocol
from solutions.support.diagnosis import explain, layer_index_mistakes


@pytest.fixture(scope="module")
def halve_layers(submission):
    return submission.ex3.halve_layers


@pytest.fixture(scope="module")
def student_layer_indices(submission):
    return submission.ex3.student_layer_indices


@pytest.fixture(scope="module")
def indices_seen():
    """``{n: student_layer_indices(n)}`` as its own check saw them: the choice the default-layer checks
    accept from ``halve_layers`` (asking again could get another answer from code that keeps state)."""
    return {}


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


# The teachers the checks below use, built once in the engine's parent process.
warm_up(
    lambda: (
        [teacher(n, seed=seed) for n, seed in ((4, 6), (5, 2), (6, 4), (4, 5), (2, 14), (12, 8))],
        teacher(3, seed=7, type_vocab_size=0, use_pooler=False),
        teacher(5, masked_lm=True, seed=13),
    )
)
warm_up(lambda: (hf_teacher(4, seed=15), hf_teacher(3, masked_lm=True, seed=15)), needs=("transformers",))


# halve_layers does its job when it keeps the right layers, by default or as asked (a wrong default can
# come from student_layer_indices alone, which its own checks charge for).
HALVE_LAYERS_DOES_ITS_JOB = (
    "test_halve_layers_keeps_every_other_teacher_layer",
    "test_halve_layers_keeps_the_layers_asked_for",
)


@pytest.mark.points(3)
def test_student_layer_indices_keep_every_other_layer_from_zero(student_layer_indices, indices_seen):
    counts = (12, 6, 5, 7, 2, 1)
    for count in counts:  # every answer first, all of them seen (see indices_seen)
        indices_seen[count] = student_layer_indices(count)
    for count in counts:
        expected = list(range(0, count, 2))
        call = describe_call(INDICES, count)
        value = indices_seen[count]
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
        check_layers(*halved(count, seed=seed), None, list(range(0, count, 2)))
    model = teacher(2, seed=14)
    check_layers(model, halve(halve_layers, model, None), None, [0])


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
        check_layers(*halved(count, seed=seed, layers=layers), list(layers), list(layers))


@pytest.mark.points(2)
@pytest.mark.requires(
    "test_halve_layers_keeps_every_other_teacher_layer",
    "test_halve_layers_keeps_the_layers_asked_for",
    any_of=True,
)
def test_halve_layers_copies_every_other_weight(halved):
    for model, result in (halved(4, seed=6), halved(3, seed=7, type_vocab_size=0, use_pooler=False)):
        call = halve_call(model)
        student = result.value
        prefix = layer_prefix(model)
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
@pytest.mark.requires(
    "test_halve_layers_keeps_every_other_teacher_layer",
    "test_halve_layers_keeps_the_layers_asked_for",
    any_of=True,
)
def test_halve_layers_updates_num_hidden_layers(halved):
    for model, result in (
        halved(5, seed=2),
        halved(3, seed=7, type_vocab_size=0, use_pooler=False),
        halved(5, masked_lm=True, seed=13),
    ):
        call = halve_call(model)
        student = result.value
        expected = len(layers_by_index(student.state_dict(), layer_prefix(model)))
        if student.config.num_hidden_layers != expected:
            fail(
                f"Called {call} and the student's config.num_hidden_layers is "
                f"{student.config.num_hidden_layers}; expected {expected}, the number of layers it holds"
                + (
                    " (the teacher's count: update the student's config)."
                    if student.config.num_hidden_layers == model.config.num_hidden_layers
                    else "."
                )
            )
        check_inner_config(call, student, expected)


# The teachers whose state after the call is checked (sending it back costs a third of a call).
UNTOUCHED = ((4, {"seed": 6}), (5, {"masked_lm": True, "seed": 13}))


@pytest.mark.points(2)
@pytest.mark.requires(
    "test_halve_layers_keeps_every_other_teacher_layer",
    "test_halve_layers_keeps_the_layers_asked_for",
    any_of=True,
)
def test_halve_layers_leaves_the_teacher_untouched(halved):
    for model, result in (halved(count, **spec) for count, spec in UNTOUCHED):
        before = model.state_dict()  # the worker got a copy: this one is the teacher as it was sent
        config_before = model.config
        call = halve_call(model)
        after = result.args[0]  # a protocol.SentModel: the teacher's config fields and state dict
        layers_after = after.config.get("num_hidden_layers")
        after_state = after.state
        prefix = layer_prefix(model)
        held_before, held_after = (len(layers_by_index(state, prefix)) for state in (before, after_state))
        changes = []
        if held_after != held_before:
            changes.append(
                f"it holds {held_after} layers, not {held_before} (its encoder.layer was replaced)"
            )
        if layers_after != config_before.num_hidden_layers:
            changes.append(
                f"its config.num_hidden_layers is {layers_after}, not {config_before.num_hidden_layers}"
            )
        if not changes and after_state.keys() != before.keys():
            changes.append(f"it has other weights ({len(after_state)} tensors instead of {len(before)})")
        if changes:
            fail(
                f"Called {call} and afterwards the teacher had changed: {', and '.join(changes)}. Leave the "
                "teacher exactly as it was: deep-copy it first (copy.deepcopy: a shallow copy.copy shares "
                "its modules and config), then change only the copy."
            )
        changed = [name for name, tensor in before.items() if not torch.equal(after_state[name], tensor)]
        if changed:
            fail(
                f"Called {call} and afterwards the teacher's {', '.join(changed[:3])} had changed. Leave the "
                "teacher exactly as it was; work on a copy."
            )


@pytest.mark.points(1)
@pytest.mark.requires(
    "test_halve_layers_keeps_every_other_teacher_layer",
    "test_halve_layers_keeps_the_layers_asked_for",
    any_of=True,
)
def test_halve_layers_shares_no_parameter_with_the_teacher(halved):
    for model, result in (halved(4, seed=6), halved(5, masked_lm=True, seed=13)):
        if result.shares_memory:
            fail(
                f"Called {halve_call(model)} and the student shares tensors with the teacher: "
                "training the student would change the teacher too. Copy the weights (copy.deepcopy the "
                "teacher, or the layers you keep) instead of reusing the teacher's modules."
            )
    model, result = halved(4, seed=5, layers=[1, 1])
    prefix = layer_prefix(model)
    across = [
        group
        for group in result.tied
        if len({name[len(prefix) :].partition(".")[0] for name in group if name.startswith(prefix)}) > 1
    ]
    if across:
        fail(
            f"Called {halve_call(model, layers=[1, 1])} and student layers 0 and 1 share their parameters "
            f"({', '.join(across[0][:2])} are one tensor, {len(across)} such pairs): the same layer module "
            "sits at both positions, so training one trains the other. A repeated index gets a copy of its "
            "own at each position (copy.deepcopy the teacher layer once per position)."
        )


@pytest.mark.points(2)
def test_halve_layers_on_masked_lm_copies_the_head_and_keeps_it_tied(halved, indices_seen):
    model, result = halved(5, masked_lm=True, seed=13)
    call = halve_call(model)
    check_default_layers(model, result, indices_seen)
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
@pytest.mark.requires(
    "test_halve_layers_keeps_every_other_teacher_layer",
    "test_halve_layers_keeps_the_layers_asked_for",
    any_of=True,
)
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
        call = halve_call(model, layers=layers)
        problem = expect_value_error(halve_layers, model, layers=layers, call=call, why=why)
        if problem:
            problems.append(problem)
    if problems:
        fail(" ".join(problems))


@pytest.mark.points(1)
@pytest.mark.needs("transformers")
def test_halve_layers_works_on_transformers_models(halved):
    # The layers are asked for: this check is graded apart (the late pass), where what
    # student_layer_indices answered its own check is not known, and the default is judged on this
    # package's classes (test_halve_layers_keeps_every_other_teacher_layer).
    for masked_lm, count in ((False, 4), (True, 3)):
        layers = list(range(0, count, 2))
        try:
            model, result = halved(count, hf=True, masked_lm=masked_lm, seed=15, layers=layers)
            check_layers(model, result, layers, layers)
            student = result.value
        except protocol.SubmissionRaised as raised:
            model = hf_teacher(count, masked_lm=masked_lm, seed=15)
            call = halve_call(model, layers=layers)
            if "use_pooler" in raised.message:
                fail(
                    f"Called {call} and it raised {raised.message}. transformers' BertConfig "
                    "has no use_pooler field: copy the teacher's own config (copy.deepcopy(teacher.config)) "
                    "instead of rebuilding it as this package's BertConfig."
                )
            fail(
                f"Called {call} and it raised {raised.message}. The same code should work "
                "on transformers' classes: they have the same attribute names (teacher.bert.encoder.layer, "
                "teacher.encoder.layer, teacher.config), so reach the layers by attribute rather than by "
                "isinstance checks on this package's classes."
            )
        held = len(layers_by_index(student.state_dict(), layer_prefix(model)))
        if student.config.num_hidden_layers != held:
            fail(
                f"Called {halve_call(model, layers=layers)} and the student's config.num_hidden_layers is "
                f"{student.config.num_hidden_layers}; expected {held}, the number of layers it holds."
            )
        check_inner_config(halve_call(model, layers=layers), student, held)
