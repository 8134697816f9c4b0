"""Worker processes for one staged submission: start them confined, talk to them, restart them.

A :class:`SandboxConnection` is the graders' connection (see :mod:`autograder.submission`) under the
grading engine. Each exercise gets its own worker, so a file that patches ``torch`` at import or
crashes cannot touch another exercise's checks. A worker is killed and replaced after a timeout, a
crash or a broken message; the call that saw it fails with a :class:`~autograder.wire.errors.SubmissionError`
and the next call gets a fresh worker.

No worker is forked from the grading process: a submission's *keeper* is forked by the zygote
(:mod:`autograder.sandbox.zygote`, a clean interpreter holding torch, the given model and this code
only). The keeper drops to ``nobody`` (as root) and, where the kernel allows it
(:func:`autograder.sandbox.confine.namespaces_available`), makes new user, PID, network and mount
namespaces; its child is the init of that PID namespace (it mounts the namespace's own ``/proc`` and
reaps orphans), and the init forks the workers proper, which confine themselves and run the submission.
Killing the keeper kills the init (parent-death signal), and when a PID namespace's init ends the kernel
kills every process in it: no daemon of the submission outlives it.
"""

from __future__ import annotations

import contextlib
import ctypes
import faulthandler
import fcntl
import importlib.abc
import os
import select
import signal
import socket
import stat
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from autograder.grading.staging import PACKAGE
from autograder.manifest import EXERCISE_BY_ID
from autograder.sandbox import confine
from autograder.sandbox import limits as limits_module
from autograder.sandbox.limits import Limits
from autograder.wire import values

WORKER_FAILED_TO_START = 70
# A worker's pipes hold this much (the kernel's default is 64 KiB): a message of a few megabytes (a
# batch of token ids, a model) crosses in a few writes rather than in dozens of wake-ups of the reader.
PIPE_BYTES = 1 << 20


def fork() -> int:
    """``os.fork()`` without Python's warning about forking a process that has threads (torch's)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return os.fork()


class NamespaceHost:
    """One submission's keeper, and through it the processes that fork its workers.

    The *keeper* is forked by the zygote (:mod:`autograder.sandbox.zygote`), never by the grading
    process: it drops to ``nobody`` (as root), joins the submission's cgroups, makes new user, PID,
    network and mount namespaces (where the kernel allows them) and forks their *init*, which mounts the
    namespace's own ``/proc`` and then forks a worker whenever asked, handing the worker's pipes back
    over the control socket. Every worker of the submission is a process of these namespaces: the kernel
    counts their processes and threads together (``RLIMIT_NPROC`` is counted per user namespace), and
    when the keeper is killed, or the grading process closes the control socket (it ended), the init
    ends and takes every process of the namespace with it.
    """

    def __init__(self, root: Path, limits: Limits, *, namespaces: bool = True):
        from autograder.sandbox import zygote
        from autograder.wire import arena

        shared = arena.current()
        self.control, self.pid = zygote.current().keeper(
            Path(root), limits, namespaces=namespaces, arena_fd=shared.fd
        )
        self.control.settimeout(limits.call_timeout + 30.0)

    def spawn(self) -> tuple[int, int, int]:
        """A new worker: ``(its pid inside the namespace, fd to write requests, fd to read replies)``."""
        self.control.sendall(b"S")
        message, fds, _, _ = socket.recv_fds(self.control, 8, 2)
        if len(message) != 8 or len(fds) != 2:
            for fd in fds:
                os.close(fd)
            raise OSError("the submission's namespace did not start a worker")
        return int.from_bytes(message, "big"), fds[0], fds[1]

    def end(self, worker: int, wait: float) -> int | None:
        """Give worker ``worker`` ``wait`` seconds to end, then kill it (and its process group); its
        wait status, or None when the namespace no longer answers."""
        try:
            self.control.sendall(b"K" + worker.to_bytes(8, "big") + int(wait * 1000).to_bytes(8, "big"))
            reply = b""
            while len(reply) < 8:
                chunk = self.control.recv(8 - len(reply))
                if not chunk:
                    return None
                reply += chunk
        except OSError:
            return None
        return int.from_bytes(reply, "big", signed=True)

    def close(self) -> None:
        """End the keeper: every process of the submission ends with it."""
        from autograder.sandbox import zygote

        with contextlib.suppress(OSError):
            self.control.close()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(self.pid, signal.SIGKILL)
        zygote.wait_exit(self.pid, 5.0)
        if confine.BUDGET.active:
            confine.BUDGET.remove_worker(self.pid)


def become_keeper(request: dict[str, Any], fds: list[int], project: list[str]) -> None:
    """In a process the zygote just forked: be the keeper ``request`` asks for (see
    :mod:`autograder.sandbox.zygote`). Never returns."""
    control = socket.socket(fileno=fds[0])
    arena_fd = fds[1] if len(fds) > 1 else None
    confine.BUDGET.folders = {name: Path(folder) for name, folder in request["cgroups"].items()}
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
    python_paths = _open_python_paths()
    keep = [control.fileno(), *python_paths.values(), *([arena_fd] if arena_fd is not None else [])]
    _detach(root, keep)
    if confine.BUDGET.active and limits_module.drops_privileges():
        confine.BUDGET.join(limits.memory_mb * 1024 * 1024, limits.max_processes)
    limits_module.drop_privileges()
    if namespaces and not confine.enter_namespaces():
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
        _reach_python_by_fd(python_paths)
        _run_worker(
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
    confine._prctl(limits_module.PR_SET_PDEATHSIG, signal.SIGKILL)
    if select.select([alive_read], [], [], 0)[0]:  # the keeper died before the line above
        os._exit(WORKER_FAILED_TO_START)
    os.close(alive_read)
    if namespaces and not confine.mount_own_proc():
        os._exit(WORKER_FAILED_TO_START)
    readable, hidden, _ = limits_module.worker_ruleset_paths(root)
    try:  # after the namespace's own /proc is mounted: the rule for /proc is for that one
        ruleset = confine.file_ruleset(readable, hidden, python_paths.values())
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
                confine._prctl(limits_module.PR_SET_PDEATHSIG, signal.SIGKILL)
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


class WorkerProcess:
    """One confined worker serving the staged package found in ``root``, forked inside ``host``'s
    namespaces."""

    def __init__(self, root: Path, limits: Limits, host: NamespaceHost):
        self.root = Path(root)
        self.limits = limits
        self.imported = False
        self.host = host
        self.pid, self._to_worker, self._from_worker = host.spawn()

    def exchange(self, tree: dict[str, Any], timeout: float) -> Any:
        """Send a request and return the decoded reply tree.

        Raises:
            TimeoutError: no complete reply within ``timeout`` seconds.
            EOFError: the worker closed its end (it ended).
            values.ProtocolError: the reply is not plain data or breaks the framing.
        """
        deadline = time.monotonic() + timeout
        try:
            _send(self._to_worker, values.dumps(tree), deadline)
        except BrokenPipeError:
            raise EOFError from None
        return values.loads(values.recv_message(self._from_worker, deadline))

    def stop(self, *, wait: float = 0.0) -> str:
        """End the worker and reap it; returns how it ended (``"killed by signal SIGSEGV"``)."""
        for fd in (self._to_worker, self._from_worker):
            try:
                os.close(fd)
            except OSError:
                pass
        return limits_module.describe_exit(self.host.end(self.pid, wait))


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


def _run_worker(
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
    _forget_the_project(project)
    if given is not None:
        # The zygote's pristine copy of the given model: the submission's models are of its classes.
        sys.modules[f"{PACKAGE}.model"] = given
    sys.path.insert(0, str(root))
    import torch

    torch.set_num_threads(1)
    from autograder.sandbox.worker import serve

    serve(request_read, reply_write, PACKAGE)
    os._exit(0)


def _open_python_paths() -> dict[str, int]:
    """As root, before the drop to ``nobody``: a descriptor for each folder of ``sys.path`` that
    ``nobody`` cannot reach (Python installed under ``/root``, which is ``0700``), so that the worker
    can still import the rest of the standard library (``secrets``, which numpy imports lazily)."""
    if not limits_module.drops_privileges():
        return {}
    _, hidden = confine.worker_file_rules()
    found = {}
    for entry in sys.path:
        if not entry or not os.path.isdir(entry) or entry in found:
            continue
        if any(confine._inside(os.path.realpath(entry), folder) for folder in hidden):
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


def _reach_python_by_fd(python_paths: dict[str, int]) -> None:
    """Put each folder of :func:`_open_python_paths` on ``sys.path`` through its descriptor (a
    ``/proc/self/fd`` link is not checked against the folders above it). Landlock still applies."""
    if python_paths:
        for fd in python_paths.values():
            os.set_inheritable(fd, True)
        sys.path[:] = [f"/proc/self/fd/{python_paths[e]}" if e in python_paths else e for e in sys.path]
        sys.path_importer_cache.clear()


def title_this_process(title: str) -> None:
    """Make ``title`` this process's whole command line: ``sys.argv`` and the memory
    ``/proc/PID/cmdline`` reads (the zygote's names nothing of a batch, but a worker needs no more)."""
    sys.argv[:] = [title]
    with contextlib.suppress(AttributeError, TypeError):
        sys.orig_argv[:] = [title]
    confine._libc().prctl(15, title.encode()[:15], 0, 0, 0)  # PR_SET_NAME: what ps and /proc/PID/comm show
    try:
        with open("/proc/self/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        start, end = int(fields[45]), int(fields[46])  # arg_start and arg_end (fields 48 and 49)
    except (OSError, IndexError, ValueError):
        return
    if 0 < start < end:
        encoded = title.encode()[: end - start - 1]
        ctypes.memset(start, 0, end - start)
        ctypes.memmove(start, encoded, len(encoded))


WORKER_TITLE = "autograder-worker"
ZYGOTE_TITLE = "autograder-zygote"
_NAMESPACES: bool | None = None


def use_namespaces(enabled: bool | None = None) -> bool:
    """Whether submissions graded from now on get namespaces of their own (by default where the kernel
    allows them: probed once, in the warm-up, so that every worker of a batch is confined alike)."""
    global _NAMESPACES
    _NAMESPACES = confine.namespaces_available() if enabled is None else bool(enabled)
    return _NAMESPACES


# What a worker keeps of this project: its own code and the zoo's model classes (which may cross).
WORKER_MODULES = frozenset(
    {
        "autograder",
        "autograder.manifest",
        "autograder.sandbox",
        "autograder.sandbox.confine",
        "autograder.sandbox.limits",
        "autograder.sandbox.process",
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


def _forget_the_project(project: list[str]) -> None:
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


def resource_max_fd() -> int:
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return min(soft if soft > 0 else 4096, 65536)


def _send(fd: int, payload: bytes, deadline: float) -> None:
    data = memoryview(len(payload).to_bytes(8, "big") + payload)
    os.set_blocking(fd, False)
    try:
        while data:
            wait = deadline - time.monotonic()
            if wait <= 0:
                raise TimeoutError
            _, ready, _ = select.select([], [fd], [], wait)
            if not ready:
                raise TimeoutError
            try:
                written = os.write(fd, data[:PIPE_BYTES])
            except BlockingIOError:
                continue
            data = data[written:]
    finally:
        os.set_blocking(fd, True)


class SandboxConnection:
    """The graders' connection to a submission staged under ``root``: one worker per exercise."""

    def __init__(self, root: Path, limits: Limits | None = None):
        self.root = Path(root)
        self.limits = limits or Limits()
        self.workers: dict[str, WorkerProcess] = {}
        self.import_failures: dict[str, str] = {}
        self.timeouts: dict[str, int] = {}
        self.host: NamespaceHost | None = None

    # ----------------------------------------------------------------------------------------------
    def request(self, tree: dict[str, Any], *, exercise: str) -> dict[str, Any]:
        if exercise not in EXERCISE_BY_ID:
            raise values.SubmissionError(f"{exercise} is not an exercise")
        if exercise in self.import_failures:
            raise values.ImportFailed(self.import_failures[exercise], exercise=exercise)
        seconds = _seconds(self.limits.call_timeout)
        if self.timeouts.get(exercise, 0) >= self.limits.timeouts_per_exercise:
            raise values.CallTimedOut(
                f"Not run: {self.timeouts[exercise]} earlier calls into {exercise} did not return within "
                f"{seconds} s (an infinite loop?), so its remaining checks fail without waiting.",
                exercise=exercise,
            )
        worker = self._worker(exercise)
        if not worker.imported:
            self._import(worker, exercise)
        try:
            return worker.exchange(tree, self.limits.call_timeout)
        except TimeoutError:
            self._retire(exercise)
            self.timeouts[exercise] = self.timeouts.get(exercise, 0) + 1
            raise values.CallTimedOut(
                f"it did not return within {seconds} s (an infinite loop?)", exercise=exercise
            ) from None
        except EOFError:
            how = self._retire(exercise, died=True)
            raise values.WorkerDied(
                f"the process running your code died ({how}; out of memory?)", exercise=exercise
            ) from None
        except values.ProtocolError:
            self._retire(exercise)
            raise
        except MemoryError:
            self._retire(exercise)
            raise values.UnsafeResult(
                "its reply is too big for the grading process's memory limit", exercise=exercise
            ) from None
        except OSError as exc:
            how = self._retire(exercise, died=True)
            raise values.WorkerDied(
                f"the process running your code stopped answering ({how}; {exc.strerror})", exercise=exercise
            ) from None

    def start(self) -> NamespaceHost:
        """The submission's keeper, asked for now if it was not yet (so that its namespaces are made
        while the graders are being collected)."""
        if _NAMESPACES is None:
            use_namespaces()
        if self.host is None:
            self.host = NamespaceHost(self.root, self.limits, namespaces=bool(_NAMESPACES))
        return self.host

    def close(self) -> None:
        for exercise in list(self.workers):
            self._retire(exercise)
        if self.host is not None:
            self.host.close()
            self.host = None

    # ----------------------------------------------------------------------------------------------
    def _worker(self, exercise: str) -> WorkerProcess:
        for other in [ex for ex in self.workers if ex != exercise]:
            self._retire(other)
        if exercise not in self.workers:
            self.workers[exercise] = WorkerProcess(self.root, self.limits, self.start())
        return self.workers[exercise]

    def _retire(self, exercise: str, *, died: bool = False) -> str:
        worker = self.workers.pop(exercise, None)
        if worker is None:
            return "not running"
        return worker.stop(wait=1.0 if died else 0.0)

    def _import(self, worker: WorkerProcess, exercise: str) -> None:
        module = EXERCISE_BY_ID[exercise].module
        seconds = _seconds(self.limits.call_timeout)
        try:
            reply = worker.exchange({"op": "import", "module": module}, self.limits.call_timeout)
        except TimeoutError:
            self._retire(exercise)
            message = (
                f"importing {module}.py did not finish within {seconds} s "
                "(an infinite loop or a long computation at import time?)"
            )
        except (EOFError, OSError):
            how = self._retire(exercise, died=True)
            message = f"importing {module}.py ended the process running it ({how})"
        except values.ProtocolError as exc:
            self._retire(exercise)
            message = f"importing {module}.py broke the connection to the grader ({exc})"
        else:
            if type(reply) is dict and reply.get("ok") is True:
                worker.imported = True
                return
            if type(reply) is dict and reply.get("kind") == "import_failed":
                message = str(reply.get("message", ""))
            else:
                detail = str(reply.get("message", "")) if type(reply) is dict else "an unreadable reply"
                message = f"importing {module}.py failed ({detail[:300]})"
            self._retire(exercise)
        self.import_failures[exercise] = message
        raise values.ImportFailed(message, exercise=exercise)


def _seconds(value: float) -> str:
    return f"{value:g}"
