"""A submission's keeper and the init of its namespaces, in the processes the zygote forks.

The keeper drops to ``nobody`` (as root), joins the submission's cgroups and, where the kernel allows it
(:func:`autograder.sandbox.namespaces.namespaces_available`), makes new user, PID, network, IPC and
mount namespaces; its child is the init of that PID namespace (it mounts the namespace's own ``/proc`` and
reaps orphans), and the init forks the workers proper (:mod:`autograder.sandbox.worker_start`), which
confine themselves and run the submission. Killing the keeper kills the init (parent-death signal), and
when a PID namespace's init ends the kernel kills every process in it: no daemon of the submission
outlives it. The grading side of this conversation is
:class:`autograder.sandbox.connection.NamespaceHost`.
"""

from __future__ import annotations

import contextlib
import faulthandler
import fcntl
import os
import select
import signal
import socket
import sys
import warnings
from pathlib import Path
from typing import Any

from autograder.sandbox import landlock
from autograder.sandbox import limits as limits_module
from autograder.sandbox.cgroups import BUDGET
from autograder.sandbox.kernel import prctl
from autograder.sandbox.limits import Limits
from autograder.sandbox.namespaces import enter_namespaces, mount_own_proc
from autograder.sandbox.process_title import WORKER_TITLE, title_this_process
from autograder.sandbox.worker_start import (
    WORKER_FAILED_TO_START,
    open_python_paths,
    reach_python_by_fd,
    run_worker,
)

# A worker's pipes hold this much (the kernel's default is 64 KiB): a message of a few megabytes (a
# batch of token ids, a model) crosses in a few writes rather than in dozens of wake-ups of the reader.
PIPE_BYTES = 1 << 20


def fork() -> int:
    """``os.fork()`` without Python's warning about forking a process that has threads (torch's)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return os.fork()


def become_keeper(request: dict[str, Any], fds: list[int], project: list[str]) -> None:
    """In a process the zygote just forked: be the keeper ``request`` asks for (see
    :mod:`autograder.sandbox.zygote`). Never returns."""
    control = socket.socket(fileno=fds[0])
    arena_fd = fds[1] if len(fds) > 1 else None
    BUDGET.folders = {name: Path(folder) for name, folder in request["cgroups"].items()}
    limits = Limits(**request["limits"])
    control.sendall(os.getpid().to_bytes(8, "big"))
    _become_keeper(
        Path(request["root"]),
        limits,
        control,
        os.getppid(),
        project,
        namespaces=bool(request["namespaces"]),
        arena_fd=arena_fd,
    )


def _become_keeper(
    root: Path,
    limits: Limits,
    control: socket.socket,
    parent: int,
    project: list[str],
    *,
    namespaces: bool,
    arena_fd: int | None,
) -> None:
    python_paths = open_python_paths()
    keep = [control.fileno(), *python_paths.values(), *([arena_fd] if arena_fd is not None else [])]
    _detach(root, keep)
    if BUDGET.active and limits_module.drops_privileges():
        BUDGET.join(limits.memory_mb * 1024 * 1024, limits.max_processes)
    limits_module.drop_privileges()
    if namespaces and not enter_namespaces():
        os._exit(WORKER_FAILED_TO_START)
    limits_module.die_with_parent(parent)  # after every change of credentials, which clears it
    alive_read, alive_write = os.pipe()
    init = fork()
    if init == 0:
        os.close(alive_write)
        # returns in a worker only
        request_read, reply_write, ruleset = _become_init(
            control, alive_read, root, python_paths, namespaces=namespaces
        )
        reach_python_by_fd(python_paths)
        run_worker(
            root,
            limits,
            request_read,
            reply_write,
            project,
            own_namespaces=namespaces,
            arena_fd=arena_fd,
            ruleset=ruleset,
        )
        os._exit(0)
    control.close()
    os.close(alive_read)
    with contextlib.suppress(ChildProcessError):
        limits_module.reap(init)
    os._exit(0)


def _become_init(
    control: socket.socket, alive_read: int, root: Path, python_paths: dict[str, int], *, namespaces: bool
) -> tuple[int, int, int | None]:
    """The PID namespace's init (with ``namespaces``: its own ``/proc``), then fork workers on request
    and reap every process left to it. Returns ``(request_read, reply_write, Landlock ruleset)`` in each
    worker it forks (the ruleset for the submission in ``root``, made here once for all its workers, or
    None: the worker makes its own); never in itself. Ends when the grading process closes ``control``."""
    prctl(limits_module.PR_SET_PDEATHSIG, signal.SIGKILL)
    if select.select([alive_read], [], [], 0)[0]:  # the keeper died before the line above
        os._exit(WORKER_FAILED_TO_START)
    os.close(alive_read)
    if namespaces and not mount_own_proc():
        os._exit(WORKER_FAILED_TO_START)
    readable, hidden, _ = limits_module.worker_ruleset_paths(root)
    try:  # after the namespace's own /proc is mounted: the rule for /proc is for that one
        ruleset = landlock.file_ruleset(readable, hidden, python_paths.values())
    except OSError:
        ruleset = None
    ended: dict[int, int] = {}

    def reap_all() -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            ended[pid] = status

    while True:
        reap_all()
        op = control.recv(1)
        if op == b"S":
            request_read, to_worker = os.pipe()
            from_worker, reply_write = os.pipe()
            for pipe in (to_worker, from_worker):
                with contextlib.suppress(OSError):  # over the user's pipe budget: the default size
                    fcntl.fcntl(pipe, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
            worker = fork()
            if worker == 0:
                control.close()
                os.close(to_worker)
                os.close(from_worker)
                prctl(limits_module.PR_SET_PDEATHSIG, signal.SIGKILL)
                os.setsid()
                return request_read, reply_write, ruleset
            os.close(request_read)
            os.close(reply_write)
            socket.send_fds(control, [worker.to_bytes(8, "big")], [to_worker, from_worker])
            os.close(to_worker)
            os.close(from_worker)
        elif op == b"K":
            request = b""
            while len(request) < 16:
                chunk = control.recv(16 - len(request))
                if not chunk:
                    os._exit(0)
                request += chunk
            worker, wait_ms = int.from_bytes(request[:8], "big"), int.from_bytes(request[8:], "big")
            status = ended.pop(worker, None)
            if status is None:
                status = limits_module.reap(worker, wait=wait_ms / 1000) if wait_ms else None
            if status is None:
                limits_module.kill_process_group(worker)
                status = limits_module.reap(worker)
            else:
                limits_module.kill_process_group(worker)
            reap_all()
            control.sendall(int(status or 0).to_bytes(8, "big", signed=True))
        else:
            os._exit(0)


def _detach(root: Path, keep: list[int]) -> None:
    """In a process just forked from the grading process: a session of its own, default signals,
    ``/dev/null`` for the standard streams, no file descriptor but ``keep``, ``root`` as the current
    folder and no trace of the engine's command line."""
    os.setsid()
    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD, signal.SIGALRM):
        signal.signal(number, signal.SIG_DFL)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    faulthandler.disable()
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    start = 3
    for fd in [*sorted(set(keep)), resource_max_fd()]:
        os.closerange(start, fd)
        start = fd + 1
    sys.stdin = open(0, closefd=False)  # noqa: SIM115
    sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
    os.chdir(root)
    sys.dont_write_bytecode = True
    title_this_process(WORKER_TITLE)


def resource_max_fd() -> int:
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return min(soft if soft > 0 else 4096, 65536)
