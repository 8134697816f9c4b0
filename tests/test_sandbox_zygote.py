"""Workers come from a clean zygote: nothing of the graders' process is in a worker's memory or /proc.

A submission of our own searches its worker as an attacker would: the module table, every object the
garbage collector can reach (frozen ones too) and what they refer to, every frame of every thread, its
own environment, and the command line and environment of every process it can see under ``/proc``.
The grading process it is graded from holds the graders' modules, a classmate's staged submission, and
a marker string in its globals, its command line and its environment; none of it may be found. The
same search run in the grading process itself finds them, so the search is one that can fail.
"""

from __future__ import annotations

import importlib
import os
import runpy
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

import pytest
import torch

from autograder import grading, sandbox
from autograder.grading.staging import stage
from autograder.sandbox.limits import Limits
from autograder.submission import Submission

GRADER_MODULES = ("autograder.graders.test_ex1_softmax", "autograder.graders.test_ex2_distillation")

SEARCH = r"""
import gc
import os
import sys
import threading

import torch

MARKER = {backwards!r}[::-1]  # so that this file's text does not hold the marker itself
GRADER_PREFIXES = ("autograder.graders.test_", "autograder.graders.support", "autograder.graders.conftest",
                   "autograder.graders.zoo_answers",
                   "autograder.grading.batch", "autograder.grading.plugin", "pytest", "_pytest",
                   "solutions.ex")


def _grader_name(name):
    return isinstance(name, str) and name.startswith(GRADER_PREFIXES)


def _holds_marker(value):
    if value is MARKER:
        return False
    if type(value) is str:
        return MARKER in value
    if type(value) in (bytes, bytearray):
        return MARKER.encode() in value
    return False


def search():
    modules = sum(_grader_name(name) for name in list(sys.modules))
    gc.unfreeze()  # the zygote froze its imports: searched too
    objects = gc.get_objects()
    functions = strings = 0
    for obj in objects:
        if type(obj).__name__ in ("function", "type", "module"):
            if _grader_name(getattr(obj, "__module__", None) or getattr(obj, "__name__", None)):
                functions += 1
            elif getattr(obj, "__name__", "") == "reference":
                functions += 1
        if _holds_marker(obj):
            strings += 1
        for inner in gc.get_referents(obj):
            if _holds_marker(inner):
                strings += 1
    frames = 0
    for frame in sys._current_frames().values():
        while frame is not None:
            code = frame.f_code
            if "graders" in code.co_filename or "pytest" in code.co_filename:
                frames += 1
            for value in frame.f_locals.values():
                frames += _holds_marker(value) or _grader_name(getattr(value, "__module__", None))
            frame = frame.f_back
    environment = sum(_holds_marker(k) or _holds_marker(v) for k, v in os.environ.items())
    environment += "PYTEST_CURRENT_TEST" in os.environ
    proc = readable = 0
    for entry in ["self", *(e for e in os.listdir("/proc") if e.isdigit())]:
        for name in ("cmdline", "environ"):
            try:
                with open(f"/proc/{{entry}}/{{name}}", "rb") as handle:
                    data = handle.read()
            except OSError:
                continue
            readable += 1
            proc += _holds_marker(data) or b"graders" in data or b"pytest" in data
    return [modules, functions, strings, frames, environment, proc, readable, len(objects)]


def softmax_with_temperature(logits, temperature=1.0, dim=-1):
    return torch.tensor(search(), dtype=torch.float64)
"""


def _staged(source: Path) -> Path:
    staged = Path(tempfile.mkdtemp(prefix="ag-test-"))
    stage(source, staged)
    grading.make_readable(staged)
    return staged


@pytest.fixture
def grading_process_secrets(tmp_path, monkeypatch):
    """Make this process look like a grading process: the graders imported, a classmate's submission
    staged and graded, and a marker (the classmate's id) in a global, the command line and the
    environment."""
    marker = f"classmate{uuid.uuid4().hex[:12]}"
    for name in GRADER_MODULES:
        importlib.import_module(name)
    monkeypatch.setenv("AG_CLASSMATE", marker)
    monkeypatch.setattr(sys, "argv", [*sys.argv, f"/submissions/{marker}.zip"])
    monkeypatch.setitem(globals(), "CLASSMATE", marker)
    classmate = tmp_path / marker
    classmate.mkdir()
    (classmate / "ex1_softmax.py").write_text(
        "import torch\n\ndef softmax_with_temperature(logits, temperature=1.0, dim=-1):\n"
        "    return torch.softmax(logits / temperature, dim=dim)\n"
    )
    staged = _staged(classmate)
    connection = sandbox.SandboxConnection(staged, Limits(call_timeout=60))
    try:
        Submission(connection).ex1.softmax_with_temperature(torch.zeros(3))
        yield marker, tmp_path
    finally:
        connection.close()
        shutil.rmtree(staged, ignore_errors=True)


def _search_in_a_worker(source: Path) -> list[float]:
    staged = _staged(source)
    try:
        connection = sandbox.SandboxConnection(staged, Limits(call_timeout=120))
        try:
            return Submission(connection).ex1.softmax_with_temperature(torch.zeros(1)).tolist()
        finally:
            connection.close()
    finally:
        shutil.rmtree(staged, ignore_errors=True)


def test_a_worker_holds_nothing_of_the_graders_or_a_classmate(grading_process_secrets):
    marker, tmp_path = grading_process_secrets
    searcher = tmp_path / "searcher"
    searcher.mkdir()
    (searcher / "ex1_softmax.py").write_text(SEARCH.format(backwards=marker[::-1]))
    modules, functions, strings, frames, environment, proc, readable, searched = _search_in_a_worker(searcher)
    assert searched > 10_000  # it walked the whole heap, torch's objects included
    assert readable >= 2  # its own command line and environment at least
    assert (modules, functions, strings, frames, environment, proc) == (0, 0, 0, 0, 0, 0)


def test_the_same_search_finds_them_in_the_grading_process(grading_process_secrets):
    marker, tmp_path = grading_process_secrets
    script = tmp_path / "search.py"
    script.write_text(SEARCH.format(backwards=marker[::-1]))
    modules, functions, strings, frames, environment, proc, _, _ = runpy.run_path(str(script))["search"]()
    assert modules > 0 and functions > 0 and strings > 0 and frames > 0 and environment > 0 and proc > 0


def test_the_zygote_has_a_clean_command_line_and_environment():
    from autograder.sandbox import zygote

    found = zygote.current()
    with open(f"/proc/{found.pid}/cmdline", "rb") as handle:
        command = handle.read().split(b"\0")
    with open(f"/proc/{found.pid}/environ", "rb") as handle:
        environment = dict(line.split(b"=", 1) for line in handle.read().split(b"\0") if b"=" in line)
    assert command[0] == b"autograder-zygote"
    assert set(environment) <= {k.encode() for k in zygote.clean_environment()}
    assert os.environ.get("PYTEST_CURRENT_TEST") and b"PYTEST_CURRENT_TEST" not in environment


def test_a_zygote_that_preloads_more_is_forked_from_the_clean_one_and_as_clean(grading_process_secrets):
    """The late pass's zygote (it preloads transformers) is forked by the batch's zygote, not started
    afresh: it skips importing torch again, and what it forks holds no more of the graders than the
    batch's zygote does. Asked for in a process forked from this one, as the late pass is."""
    import json

    from autograder.sandbox import zygote

    marker, tmp_path = grading_process_secrets
    main = zygote.current()
    searcher = tmp_path / "searcher"
    searcher.mkdir()
    (searcher / "ex1_softmax.py").write_text(SEARCH.format(backwards=marker[::-1]))
    read_fd, write_fd = os.pipe()
    pid = sandbox.fork()
    if pid == 0:  # the late pass's position: a child of the process that started the zygote
        report: dict = {}
        try:
            zygote.start(("json",))
            late = zygote.current()
            with open(f"/proc/{late.pid}/stat") as stat:
                report["parent"] = int(stat.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{late.pid}/cmdline", "rb") as handle:
                report["command"] = handle.read().split(b"\0")[0].decode()
            report["late"], report["preload"] = late.pid, list(late.preload)
            report["search"] = _search_in_a_worker(searcher)
        except BaseException as exc:  # noqa: BLE001
            report["error"] = repr(exc)
        finally:
            os.write(write_fd, json.dumps(report).encode())
            os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        report = json.loads(pipe.read())
    os.waitpid(pid, 0)
    assert "error" not in report, report.get("error")
    assert report["late"] != main.pid and report["preload"] == ["json"]
    assert report["parent"] == main.pid  # forked by the batch's zygote
    assert report["command"] == "autograder-zygote"
    modules, functions, strings, frames, environment, proc, readable, searched = report["search"]
    assert searched > 10_000 and readable >= 2
    assert (modules, functions, strings, frames, environment, proc) == (0, 0, 0, 0, 0, 0)


TEMPLATE_PROBE = r"""
import sys

import torch


def softmax_with_temperature(logits, temperature=1.0, dim=-1):
    kept = sys.modules["autograder.wire.models"].TEMPLATES._kept
    marked = [template for (_, _, config), (_, template) in kept.items() if '"vocab_size": 4321' in config]
    return torch.tensor([len(marked), sum(template is not None for template in marked)], dtype=torch.float64)
"""


def test_templates_the_zygote_is_asked_for_are_in_every_worker_it_forks_after(tmp_path):
    """The engine has the zygote make templates of its shared inputs' models (configs only): a worker
    forked afterwards starts with them (and rebuilds such a model as a copy of its own)."""
    from autograder.sandbox import zygote

    probe = tmp_path / "probe"
    probe.mkdir()
    (probe / "ex1_softmax.py").write_text(TEMPLATE_PROBE)
    assert _search_in_a_worker(probe) == [0, 0]
    config = {
        "vocab_size": 4321,
        "hidden_size": 8,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "intermediate_size": 8,
        "max_position_embeddings": 8,
    }
    zygote.current().keep_templates(
        [
            ("given.BertModel", config, "cpu"),
            ("given.BertModel", config, "meta"),
            ("hf.BertModel", config, "cpu"),
            ("no.Such", {}, "cpu"),
            ("given.BertModel", config, "cuda"),
        ]
    )
    assert _search_in_a_worker(probe) == [2, 2]  # hf.*: transformers is not loaded in this zygote
