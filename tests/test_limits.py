"""The worker's file sandbox (Landlock): what a confined process may read, write and reach.

Each check confines a forked child (the restriction is irreversible) and reads the verdict from its
exit code.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from pathlib import Path

import pytest

from autograder.sandbox import limits


def _in_confined_child(readable: list[Path], hidden: list[Path], action) -> int:
    """Fork, confine the child to ``readable`` minus ``hidden`` and run ``action()``: its exit code."""
    pid = os.fork()
    if pid == 0:
        code = 99
        try:
            if not limits.restrict_files([str(p) for p in readable], [str(p) for p in hidden]):
                code = 98
            else:
                code = action()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def _readable(path: Path) -> int:
    try:
        path.read_bytes()
    except PermissionError:
        return 1
    return 0


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "python" / "site-packages" / "solutions").mkdir(parents=True)
    (tmp_path / "python" / "site-packages" / "solutions" / "ex1.py").write_text("answer = 42\n")
    (tmp_path / "python" / "site-packages" / "numpy.py").write_text("ok = 1\n")
    (tmp_path / "python" / "lib.py").write_text("ok = 1\n")
    (tmp_path / "secret.txt").write_text("the instructor's notes\n")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "ex1.py").write_text("mine = 1\n")
    return tmp_path


def test_the_kernel_has_landlock():
    assert limits.file_sandbox_available(), "grades are not safe from cheating on this machine"


def test_a_hidden_folder_inside_a_readable_one_is_cut_out(tree):
    packages = tree / "python" / "site-packages"
    allowed = limits._allowed_paths([str(tree / "python")], [str(packages / "solutions")])
    assert sorted(allowed) == [str(tree / "python" / "lib.py"), str(packages / "numpy.py")]


def test_a_readable_folder_inside_a_hidden_one_stays_readable(tree):
    """A virtual environment inside the repository: the repository is hidden, the environment is not."""
    allowed = limits._allowed_paths([str(tree / "python")], [str(tree)])
    assert allowed == [str(tree / "python")]


def test_confined_process_reads_what_it_may_and_nothing_else(tree):
    solution = tree / "python" / "site-packages" / "solutions" / "ex1.py"
    readable, hidden = [tree / "python", tree / "mine"], [tree / "python" / "site-packages" / "solutions"]
    assert _in_confined_child(readable, hidden, lambda: _readable(tree / "mine" / "ex1.py")) == 0
    assert _in_confined_child(readable, hidden, lambda: _readable(tree / "python" / "lib.py")) == 0
    assert _in_confined_child(readable, hidden, lambda: _readable(solution)) == 1
    assert _in_confined_child(readable, hidden, lambda: _readable(tree / "secret.txt")) == 1


def test_confined_process_writes_no_file(tree):
    def write() -> int:
        try:
            (tree / "mine" / "new.txt").write_text("x")
        except PermissionError:
            return 1
        return 0

    assert _in_confined_child([tree / "mine"], [], write) == 1
    assert not (tree / "mine" / "new.txt").exists()


def test_confined_process_opens_no_tcp_connection():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]

    def connect() -> int:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        except PermissionError:
            return 1
        except OSError:
            return 2
        return 0

    # create_connection encodes the host with the idna codec: load it here, since the confined child may
    # read no file (whether an earlier test had loaded it decided the outcome: 99, a LookupError).
    "127.0.0.1".encode("idna")
    try:
        expected = 1 if limits.landlock_abi() >= 4 else 0
        assert _in_confined_child([], [], connect) == expected
    finally:
        server.close()


def test_worker_rules_hide_the_project_and_keep_python():
    readable, hidden = limits.worker_file_rules()
    project = Path(limits.__file__).resolve().parents[2]
    assert str(project / "solutions") in hidden and str(project / "autograder") in hidden
    allowed = limits._allowed_paths(readable, hidden)
    assert not any(Path(path).resolve().is_relative_to(project / "solutions") for path in allowed)
    assert any(Path(os.__file__).resolve().is_relative_to(path) for path in allowed)
    assert any(Path(pytest.__file__).resolve().is_relative_to(path) for path in allowed)


PEEK = """
import sys

import torch


def softmax_with_temperature(logits, temperature=1.0, dim=-1):
    return torch.tensor([float(name in sys.modules) for name in {names!r}])
"""


def test_a_worker_forgets_project_modules_the_graders_imported_late(tmp_path):
    """A module of the solutions imported in the graders' process at any time is not in a worker (it
    comes from the zygote, which never imported it), and cannot be imported there."""
    import sys

    import torch

    import autograder.sandbox.worker  # noqa: F401  (a confined worker cannot read it from the repository)
    from autograder import grading, sandbox
    from autograder.grading.staging import stage
    from autograder.submission import Submission

    sys.modules.pop("solutions.ex5_params", None)
    import solutions.ex5_params  # noqa: F401  (imported after the list was made)

    source = tmp_path / "sub"
    source.mkdir()
    (source / "ex1_softmax.py").write_text(PEEK.format(names=["solutions.ex5_params", "torch"]))
    staged = Path(tempfile.mkdtemp(prefix="ag-test-"))  # as the engine stages: readable by nobody
    try:
        stage(source, staged)
        grading.make_readable(staged)
        connection = sandbox.SandboxConnection(staged, limits.Limits(call_timeout=20))
        try:
            present = Submission(connection).ex1.softmax_with_temperature(torch.zeros(1))
        finally:
            connection.close()
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    assert present.tolist() == [0.0, 1.0]
