"""Forged facts gain nothing: an input-modifying softmax and an in-place ``halve_layers`` lose exactly the
points an honest version of them loses, whatever the submission rebinds, patches or swaps first.

One batch (``--jobs 2``): the honest in-place versions, then the same code preceded by each forgery
the issue names (rebinding the worker's and protocol's functions, patching the ``torch.Tensor`` and
``nn.Module`` methods and ``torch`` functions the worker used, swapping a class, reaching the graders'
modules). The inputs the graders compare after the call are read from memory they share with the worker;
the facts only the worker sees are computed by code bound before the submission was imported.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from autograder import grading
from autograder.manifest import EXERCISES, SOLUTIONS_DIR

SOLUTION_EX1 = (SOLUTIONS_DIR / "ex1_softmax.py").read_text()
SCALE = "    scaled = logits / temperature_value\n"
assert SCALE in SOLUTION_EX1
RETURN = "    return exponentials / exponentials.sum(dim=dim, keepdim=True)\n"
assert RETURN in SOLUTION_EX1
SCALE_IN_PLACE = "    scaled = logits.div_(temperature_value)\n"
EX1_IN_PLACE = SOLUTION_EX1.replace(SCALE, SCALE_IN_PLACE)

EX3_IN_PLACE = '''"""ex3 cutting the teacher itself and returning it."""

from __future__ import annotations

from torch import nn


def student_layer_indices(num_teacher_layers: int) -> list[int]:
    if num_teacher_layers < 1:
        raise ValueError("the teacher needs at least one layer")
    return list(range(0, num_teacher_layers, 2))


def halve_layers(teacher, layers=None):
    body = teacher.bert if hasattr(teacher, "bert") else teacher
    count = len(body.encoder.layer)
    chosen = list(student_layer_indices(count) if layers is None else layers)
    if not chosen or any(not 0 <= index < count for index in chosen):
        raise ValueError(f"layers must be a non-empty list of indices below {count}")
    body.encoder.layer = nn.ModuleList([body.encoder.layer[index] for index in chosen])
    teacher.config.num_hidden_layers = len(chosen)
    return teacher
'''

# Each forgery runs when the exercise file is imported, before its honest in-place code is defined; that
# code calls _remember(argument) first and _disguise(argument) before it returns.
NO_HOOKS = """
def _remember(value):
    pass

def _disguise(value):
    pass
"""
FORGERIES: dict[str, tuple[str, str]] = {
    # name -> (the honest submission it must not beat, the forgery)
    "rebinds_worker_and_protocol": (
        "honest_in_place",
        """
import copy as _copy
import sys as _sys

_BEFORE = {}

def _remember(value):
    _BEFORE[id(value)] = _copy.deepcopy(value)

def _disguise(value):
    pass

def _forge():
    worker = _sys.modules.get("autograder.sandbox.worker")
    protocol = _sys.modules.get("autograder.wire.values")
    frame = _sys.modules.get("autograder.wire.frame")
    if protocol is None or worker is None:
        return
    encode, decode = protocol.encode, protocol.decode
    tied = [["bert.embeddings.word_embeddings.weight", "cls.predictions.decoder.weight"]]
    for module, name, value in (
        (worker, "_encode_lenient", lambda value: encode(_BEFORE.get(id(value), value))),
        (worker, "_shares_memory", lambda *args: False),
        (worker, "_gradients", lambda *args: {}),
        (protocol, "tied_groups", lambda model: tied),
        (protocol, "decode", lambda *args, **kwargs: _copy.deepcopy(decode(*args, **kwargs))),
        (protocol, "after_the_call", lambda *args: {protocol._TAG: "arena_ref"}),
        (frame, "dumps", frame.dumps if frame else None),
    ):
        if module is not None:
            setattr(module, name, value)

_forge()
""",
    ),
    "patches_torch_methods": (
        "honest_in_place",
        NO_HOOKS
        + """
import torch as _torch

_frombuffer = _torch.frombuffer
_torch.frombuffer = lambda *args, **kwargs: _frombuffer(*args, **kwargs).clone()
_torch.Tensor.untyped_storage = lambda self: _torch.UntypedStorage(8)
_torch.Tensor.data_ptr = lambda self: 64
_torch.Tensor.storage_offset = lambda self: 0
_torch.autograd.grad = lambda outputs, inputs, *args, **kwargs: tuple(None for _ in inputs)
""",
    ),
    "swaps_classes": (
        "honest_in_place_returns_a_copy",
        """
import copy as _copy

import torch as _torch

class _Liar(_torch.Tensor):
    def data_ptr(self):
        return 1

_BEFORE = {}

def _remember(value):
    if isinstance(value, _torch.nn.Module):
        _BEFORE[id(value)] = _copy.deepcopy(value).__dict__

def _disguise(value):
    if isinstance(value, _torch.Tensor):
        value.__class__ = _Liar
    elif id(value) in _BEFORE:
        before = _BEFORE[id(value)]
        real = type(value)
        value.__class__ = type(real.__name__, (real,), {"__dict__": property(lambda self: before)})
""",
    ),
    "reaches_the_graders": (
        "honest_in_place",
        NO_HOOKS
        + """
import sys as _sys

for _name, _module in list(_sys.modules.items()):
    if _name.startswith("autograder.graders.test_ex1") and hasattr(_module, "reference"):
        _REFERENCE = _module.reference
""",
    ),
}


def _ex1(hooks: str) -> str:
    text = hooks + "\n" + EX1_IN_PLACE.replace("from __future__ import annotations\n", "")
    text = text.replace(SCALE_IN_PLACE, "    _remember(logits)\n" + SCALE_IN_PLACE)
    result = RETURN.replace("    return ", "    result = ", 1)
    text = text.replace(RETURN, result + "    _disguise(logits)\n    return result\n")
    if "_REFERENCE" in hooks:
        text += "\nif '_REFERENCE' in globals():\n    softmax_with_temperature = _REFERENCE\n"
    return text


def _ex3(hooks: str, *, returns_a_copy: bool) -> str:
    text = hooks + "\n" + EX3_IN_PLACE.replace("from __future__ import annotations\n", "")
    text = text.replace("    body = teacher.bert", "    _remember(teacher)\n    body = teacher.bert")
    copied = "    student = copy.deepcopy(teacher)\n    _disguise(teacher)\n    return student\n"
    text = text.replace("    return teacher\n", copied if returns_a_copy else "    return teacher\n")
    return "import copy\n" + text


HONEST_SUBMISSIONS = {
    "honest_in_place": {
        "ex1_softmax.py": _ex1(NO_HOOKS),
        "ex3_layers.py": _ex3(NO_HOOKS, returns_a_copy=False),
    },
    "honest_in_place_returns_a_copy": {
        "ex1_softmax.py": _ex1(NO_HOOKS),
        "ex3_layers.py": _ex3(NO_HOOKS, returns_a_copy=True),
    },
}


def _write(folder: Path, replaced: dict[str, str]) -> Path:
    folder.mkdir(parents=True)
    for exercise in EXERCISES:
        shutil.copyfile(SOLUTIONS_DIR / exercise.filename, folder / exercise.filename)
    for filename, text in replaced.items():
        (folder / filename).write_text(text)
    return folder


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    root = tmp_path_factory.mktemp("forgeries")
    paths = [_write(root / "class" / name, files) for name, files in HONEST_SUBMISSIONS.items()]
    for name, (honest, forgery) in FORGERIES.items():
        files = {
            "ex1_softmax.py": _ex1(forgery),
            "ex3_layers.py": _ex3(forgery, returns_a_copy="copy" in honest),
        }
        paths.append(_write(root / "class" / name, files))
    results = grading.grade_submissions(
        paths, root / "out", jobs=2, timeout=20, submission_timeout=240, memory_mb=1024
    )
    return {result.student: result for result in results}


IN_PLACE_CHECKS = {
    "test_softmax_leaves_its_input_unchanged",
    "test_halve_layers_leaves_the_teacher_untouched",
}


def _failed(result) -> set[str]:
    return {check.name for check in result.checks if not check.passed}


def test_the_honest_in_place_versions_lose_points_on_both_exercises(batch):
    for name in HONEST_SUBMISSIONS:
        scores = batch[name].exercise_scores()
        assert scores["ex1"] < 20 and scores["ex3"] < 20, (name, scores)
        assert IN_PLACE_CHECKS <= _failed(batch[name])
    assert "test_halve_layers_shares_no_parameter_with_the_teacher" in _failed(batch["honest_in_place"])


@pytest.mark.parametrize("name", sorted(FORGERIES))
def test_a_forgery_gains_nothing(batch, name):
    honest = batch[FORGERIES[name][0]]
    forged = batch[name]
    assert sorted(_failed(forged)) == sorted(_failed(honest))
    assert forged.exercise_scores() == honest.exercise_scores()
