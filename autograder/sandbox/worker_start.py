"""The start of a worker, in the process the submission's init forked: confine it, forget the project,
then serve the submission's calls (:func:`serve`, each answered by :mod:`autograder.sandbox.worker`).

Also what the keeper does for Python before it drops to ``nobody`` (a descriptor for each folder of
``sys.path`` that ``nobody`` cannot reach), and which of this project's modules a worker keeps.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import os
import stat
import sys
import time
from collections.abc import Callable
from pathlib import Path

from autograder.grading.staging import PACKAGE
from autograder.sandbox import landlock
from autograder.sandbox import limits as limits_module
from autograder.sandbox.limits import Limits
from autograder.wire import frame, values

WORKER_FAILED_TO_START = 70

# What a worker keeps of this project: its own code and the zoo's model classes (which may cross).
WORKER_MODULES = frozenset(
    {
        "autograder",
        "autograder.manifest",
        "autograder.sandbox",
        "autograder.sandbox.cgroups",
        "autograder.sandbox.confine",
        "autograder.sandbox.connection",
        "autograder.sandbox.keeper",
        "autograder.sandbox.kernel",
        "autograder.sandbox.landlock",
        "autograder.sandbox.limits",
        "autograder.sandbox.namespaces",
        "autograder.sandbox.process_title",
        "autograder.sandbox.seccomp",
        "autograder.sandbox.submission_import",
        "autograder.sandbox.worker_start",
        "autograder.grading.staging",
        "autograder.sandbox.worker",
        "autograder.wire",
        "autograder.wire.arena",
        "autograder.wire.decoding",
        "autograder.wire.encoding",
        "autograder.wire.errors",
        "autograder.wire.frame",
        "autograder.wire.models",
        "autograder.wire.prepared",
        "autograder.wire.values",
        "autograder.graders",
        "autograder.graders.zoo",
    }
)
HIDDEN_TOP_LEVEL = frozenset({"solutions", "exercises", "tests", "benchmarks", "conftest", PACKAGE})


def run_worker(
    root: Path,
    limits: Limits,
    request_read: int,
    reply_write: int,
    project: list[str],
    *,
    own_namespaces: bool,
    arena_fd: int | None = None,
    ruleset: int | None = None,
) -> None:
    """Confine this process and serve the submission's calls (``arena_fd``: the graders' shared memory
    for arguments, mapped here before the memory limit counts what this process has; ``ruleset``: the
    submission's Landlock ruleset, closed before its code runs). Never returns."""
    from autograder.wire import arena

    try:
        if arena_fd is not None:
            arena.attach(arena_fd)
        limits_module.confine_worker(limits, root, own_namespaces=own_namespaces, ruleset=ruleset)
    except Exception as exc:  # noqa: BLE001  (the submission is not run unconfined: its first request says why)
        with contextlib.suppress(Exception):
            values.recv_message(request_read, time.monotonic() + 5.0)
            problem = f"the sandbox could not be set up ({type(exc).__name__}: {exc})"
            values.send_message(reply_write, values.dumps({"ok": False, "kind": "error", "message": problem}))
        os._exit(WORKER_FAILED_TO_START)
    given = sys.modules.get("solutions.model")
    forget_the_project(project)
    if given is not None:
        # The zygote's pristine copy of the given model: the submission's models are of its classes.
        sys.modules[f"{PACKAGE}.model"] = given
    sys.path.insert(0, str(root))
    import torch

    torch.set_num_threads(1)
    serve(request_read, reply_write, PACKAGE)
    os._exit(0)


def serve(fd_in: int, fd_out: int, package: str) -> None:
    """Answer requests read from ``fd_in`` on ``fd_out`` until the other side closes the pipe."""
    from autograder.sandbox.worker import Worker, failure_reply

    handle = Worker(package).handle
    dumps, loads = frame.make_writer(), frame.loads
    receive, send = frame.recv_message, _bound_sender()
    protocol_error, failure = values.ProtocolError, failure_reply
    while True:
        try:
            request = loads(receive(fd_in))
        except (EOFError, OSError, protocol_error):
            return
        reply = handle(request)
        try:
            payload = dumps(reply)
        except BaseException as exc:  # noqa: BLE001
            payload = dumps(
                failure("unsafe_result", f"a value that could not be sent back ({type(exc).__name__})")
            )
        send(fd_out, payload)


def _bound_sender() -> Callable[[int, bytes], None]:
    write, pack, view_of, length = os.write, frame._HEADER.pack, memoryview, len

    def send(fd: int, payload: bytes) -> None:
        view = view_of(pack(length(payload)) + payload)
        while view:
            view = view[write(fd, view) :]

    return send


# --------------------------------------------------------------------------------------------------
# Python's own folders, for a worker running as nobody.


def open_python_paths() -> dict[str, int]:
    """As root, before the drop to ``nobody``: a descriptor for each folder of ``sys.path`` that
    ``nobody`` cannot reach (Python installed under ``/root``, which is ``0700``), so that the worker
    can still import the rest of the standard library (``secrets``, which numpy imports lazily)."""
    if not limits_module.drops_privileges():
        return {}
    _, hidden = landlock.worker_file_rules()
    found = {}
    for entry in sys.path:
        if not entry or not os.path.isdir(entry) or entry in found:
            continue
        if any(landlock._inside(os.path.realpath(entry), folder) for folder in hidden):
            continue  # this project: never readable by a worker
        if not _reachable_by_others(entry):
            with contextlib.suppress(OSError):
                found[entry] = os.open(entry, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    return found


def _reachable_by_others(folder: str) -> bool:
    path = Path(folder).resolve()
    if not os.stat(path).st_mode & stat.S_IROTH:
        return False
    return all(os.stat(part).st_mode & stat.S_IXOTH for part in [path, *path.parents])


def reach_python_by_fd(python_paths: dict[str, int]) -> None:
    """Put each folder of :func:`open_python_paths` on ``sys.path`` through its descriptor (a
    ``/proc/self/fd`` link is not checked against the folders above it). Landlock still applies."""
    if python_paths:
        for fd in python_paths.values():
            os.set_inheritable(fd, True)
        sys.path[:] = [f"/proc/self/fd/{python_paths[e]}" if e in python_paths else e for e in sys.path]
        sys.path_importer_cache.clear()


# --------------------------------------------------------------------------------------------------
# The project's modules a worker does not keep.


def _hidden_module(name: str) -> bool:
    top = name.partition(".")[0]
    return top in HIDDEN_TOP_LEVEL or (top == "autograder" and name not in WORKER_MODULES)


class _RefuseProjectImports(importlib.abc.MetaPathFinder):
    """Refuses to import the graders, the reference solutions or the rest of the project. (Landlock is
    the real barrier: it keeps their files unreadable; this only gives a clear error first.)"""

    def find_spec(self, name, path=None, target=None):
        if _hidden_module(name) and not name.startswith(PACKAGE):
            raise ImportError(f"{name} is not available to a submission")


def project_modules_here() -> list[str]:
    """The modules of the project loaded in this process that a worker must not keep, submodules first
    (in the zygote, which loads no more afterwards)."""
    return sorted((name for name in sys.modules if _hidden_module(name)), reverse=True)


def forget_the_project(project: list[str]) -> None:
    """Drop every module of the project the worker does not need (``project``: those the zygote loaded,
    :func:`project_modules_here`), and refuse to import them again."""
    for name in project:
        if name in sys.modules:
            del sys.modules[name]
            parent, _, child = name.rpartition(".")
            if parent in sys.modules and getattr(sys.modules[parent], child, None) is not None:
                with contextlib.suppress(AttributeError):
                    delattr(sys.modules[parent], child)
    sys.meta_path.insert(0, _RefuseProjectImports())
