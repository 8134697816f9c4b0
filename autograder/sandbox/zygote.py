"""The zygote: a clean Python process that every worker is forked from.

A worker forked from the grading process would carry everything that process holds: the graders'
modules, frames and expected values, the engine's list of students, its environment (pytest's
``PYTEST_CURRENT_TEST`` names the check being run). So the workers come from a process that never held
any of it: the zygote is started with ``subprocess`` (a fresh interpreter: nothing of its starter's
memory), with a command line that names nothing but this module and an environment of a few fixed
variables, and imports only torch, the given model (``solutions.model``), the model classes that may
cross (``autograder.graders.zoo``), the worker's own code and the modules it is asked to preload
(``transformers`` for the late pass). Then it waits.

A grading process asks it for a submission's *keeper* (see :mod:`autograder.sandbox.keeper`): it sends
the staged folder, the limits and whether to make namespaces, with two descriptors, its end of a new
control socket and the arguments' shared memory (:mod:`autograder.wire.arena`). The zygote forks the
keeper and forgets the request; everything after that goes over the control socket, between the
keeper and that grading process alone. The graders' shared inputs reach a worker inside each message,
never by inheritance.

The engine starts one zygote before it forks any grading child (they all share it: each request is one
datagram on a ``SOCK_SEQPACKET`` socket); a process that grades without the engine starts its own on
its first request. A zygote ends with the process that started it. The late pass's zygote, which also
preloads ``transformers``, is forked by the engine's (:func:`start` does so in a process that inherited a
ready zygote): it has torch already and imports only what it adds, and it ends with the engine's zygote
or once no process holds its socket.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import gc
import importlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from autograder.sandbox import huge_pages, kernel, landlock, seccomp, warm_up
from autograder.sandbox import limits as limits_module
from autograder.sandbox.cgroups import BUDGET
from autograder.sandbox.limits import Limits

ZYGOTE_MODULES = (
    "torch",
    "solutions.model",
    "autograder.graders.zoo",
    "autograder.sandbox.worker",
    "autograder.sandbox.keeper",
    "autograder.sandbox.connection",
)
READY = b"ready"
TEMPLATES = "templates"
MESSAGE_BYTES = 65536  # the longest request a zygote reads
READY_SECONDS = 600.0
KEEPER_SECONDS = 120.0
# The only variables a zygote (and so a worker) has: nothing of the engine's environment but where
# Python finds this project, and the hash seed (so that a regrade is the same).
KEPT_VARIABLES = ("PYTHONHASHSEED",)


class ZygoteFailed(OSError):
    """The zygote could not start, or does not answer."""


def _python_path() -> str:
    """Where the zygote's Python finds this project: the folders holding its packages, then the
    starter's ``PYTHONPATH``."""
    folders = []
    for name in ("autograder", "solutions"):
        module = sys.modules.get(name) or importlib.import_module(name)
        for location in getattr(module, "__path__", []):
            folder = str(Path(location).resolve().parent)
            if folder not in folders:
                folders.append(folder)
    folders += [entry for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep) if entry]
    return os.pathsep.join(dict.fromkeys(folders))


def clean_environment() -> dict[str, str]:
    environment = {
        "PATH": os.defpath,
        "LANG": "C.UTF-8",
        "PYTHONPATH": _python_path(),
        "PYTHONDONTWRITEBYTECODE": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    environment.update({name: os.environ[name] for name in KEPT_VARIABLES if name in os.environ})
    return environment


class Zygote:
    """The handle on a zygote, in the process that started it and in every process forked from that.

    A zygote is a fresh interpreter (``Zygote(preload)``), or a child of one that is running
    (``fork_of``): it has torch already, and imports only what it preloads on top.
    """

    process: subprocess.Popen | None

    def __init__(self, preload: tuple[str, ...] = (), *, fork_of: Zygote | None = None):
        self.preload = tuple(preload)
        self.owner = os.getpid()
        self.ready = False
        if fork_of is not None:
            self._fork_from(fork_of)
            return
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        entry = f"from autograder.sandbox.zygote import main; main({theirs.fileno()}, {os.getpid()})"
        self.process = subprocess.Popen(
            [sys.executable, "-c", entry],
            # This very interpreter: its path may run through a folder this user cannot reach
            # (/root/.pyenv when grading as a normal user: it runs only because it was already started).
            executable="/proc/self/exe",
            pass_fds=[theirs.fileno()],
            env=clean_environment(),
            cwd="/",
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C meant for the engine reaches the engine only
        )
        theirs.close()
        self.pid = self.process.pid
        self.socket = ours
        limits_module.PROTECTED.add(self.pid)
        atexit.register(stop_own)
        ours.sendall(json.dumps({"preload": list(self.preload)}).encode())

    def _fork_from(self, parent: Zygote) -> None:
        """Have ``parent`` (ready) fork this zygote: it imports only ``preload`` on top of what the
        parent holds (torch is the most of a zygote's start). It ends when every process holding its
        socket has ended, or with ``parent``.

        Raises:
            ZygoteFailed: ``parent`` is gone or did not fork it.
        """
        self.process = None
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            request = json.dumps({"zygote": list(self.preload)}).encode()
            socket.send_fds(parent.socket, [request], [theirs.fileno()])
        except OSError as exc:
            ours.close()
            raise ZygoteFailed(f"the sandbox's zygote process is gone ({exc.strerror})") from None
        finally:
            theirs.close()
        readable, _, _ = select.select([ours], [], [], KEEPER_SECONDS)
        answer = ours.recv(64) if readable else b""
        if len(answer) != 8:
            ours.close()
            raise ZygoteFailed("the sandbox's zygote process did not fork a zygote")
        self.pid = int.from_bytes(answer, "big")
        self.socket = ours
        atexit.register(stop_own)

    def wait_ready(self, timeout: float = READY_SECONDS) -> None:
        """Wait until the zygote has imported everything (call it before forking processes that share it).

        Raises:
            ZygoteFailed: it ended or said why it could not start.
        """
        if self.ready:
            return
        readable, _, _ = select.select([self.socket], [], [], timeout)
        answer = self.socket.recv(4096) if readable else b""
        if answer != READY:
            self.stop()
            detail = answer.decode(errors="replace") or "it did not answer"
            raise ZygoteFailed(f"the sandbox's zygote process could not start ({detail})")
        self.ready = True

    def alive(self) -> bool:
        if os.getpid() == self.owner and self.process is not None:
            return self.process.poll() is None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        return True

    def keeper(
        self, root: Path, limits: Limits, *, namespaces: bool, arena_fd: int | None
    ) -> tuple[socket.socket, int]:
        """Have a keeper forked for the submission staged in ``root``: ``(control socket, its pid)``.

        Raises:
            ZygoteFailed: the zygote is gone, or the keeper did not start.
        """
        control, theirs = socket.socketpair()
        request = {
            "root": str(root),
            "limits": dataclasses.asdict(limits),
            "namespaces": bool(namespaces),
            "cgroups": {name: str(folder) for name, folder in BUDGET.folders.items()},
        }
        try:
            fds = [theirs.fileno(), *([arena_fd] if arena_fd is not None else [])]
            socket.send_fds(self.socket, [json.dumps(request).encode()], fds)
        except OSError as exc:
            control.close()
            raise ZygoteFailed(f"the sandbox's zygote process is gone ({exc.strerror})") from None
        finally:
            theirs.close()
        control.settimeout(KEEPER_SECONDS)
        answer = b""
        try:
            while len(answer) < 8:
                chunk = control.recv(8 - len(answer))
                if not chunk:
                    break
                answer += chunk
        except OSError:
            pass
        if len(answer) != 8:
            control.close()
            raise ZygoteFailed("the sandbox's zygote process did not start a keeper")
        return control, int.from_bytes(answer, "big")

    def keep_templates(self, specs: list[tuple[str, dict, str]]) -> None:
        """Have the zygote make templates of these models (``(key, config, device)``, see
        :func:`autograder.wire.models.keep_templates`) before it forks another keeper: every worker
        then rebuilds such a model as a copy, faster than by its constructor. Configs only (the
        graders' shared inputs' classes and sizes, which their messages carry anyway), no weights. Not
        waited for; a zygote that is gone is noticed by the next keeper's request."""
        for spec in specs:
            with contextlib.suppress(OSError, TypeError, ValueError):
                message = json.dumps({TEMPLATES: [list(spec)]}).encode()
                if len(message) <= MESSAGE_BYTES:
                    self.socket.sendall(message)

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.socket.close()
        if os.getpid() == self.owner and self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            self.process.wait()
        elif os.getpid() == self.owner:  # forked by another zygote, which reaps it
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(self.pid, signal.SIGKILL)
        limits_module.PROTECTED.discard(self.pid)


_CURRENT: list[Zygote] = []


def start(preload: tuple[str, ...] = ()) -> Zygote:
    """This process's zygote, started now (without waiting for it) unless one that preloads the same
    modules is running; the processes forked from here on use it."""
    if _CURRENT and _CURRENT[0].preload == tuple(preload) and _CURRENT[0].alive():
        return _CURRENT[0]
    inherited = _CURRENT[0] if _CURRENT else None
    if (
        inherited is not None
        and preload
        and not inherited.preload
        and inherited.ready
        and inherited.owner != os.getpid()  # its owner may stop it, and this one with it
        and inherited.alive()
    ):
        with contextlib.suppress(ZygoteFailed):
            forked = Zygote(tuple(preload), fork_of=inherited)
            inherited.stop()
            _CURRENT[:] = [forked]
            return forked
    return _replace(tuple(preload))


def current() -> Zygote:
    """The zygote of this process (inherited, or started now), ready."""
    zygote = _CURRENT[0] if _CURRENT else None
    # One inherited before it said it was ready may answer any process sharing its socket: not used.
    if zygote is None or not zygote.alive() or (not zygote.ready and zygote.owner != os.getpid()):
        zygote = _replace(zygote.preload if zygote is not None else ())
    zygote.wait_ready()
    return zygote


def _replace(preload: tuple[str, ...]) -> Zygote:
    if _CURRENT:
        _CURRENT[0].stop()
    _CURRENT[:] = [Zygote(preload)]
    return _CURRENT[0]


def stop_own() -> None:
    """End the zygote this process started, if any, and reap it (before this process ends, so that it
    is not left to an init that may not reap it)."""
    if _CURRENT and _CURRENT[0].owner == os.getpid():
        _CURRENT[0].stop()
        _CURRENT.clear()


def pids() -> set[int]:
    """The zygotes started by this process (alive or not)."""
    return {z.pid for z in _CURRENT if z.owner == os.getpid()}


# --------------------------------------------------------------------------------------------------
# The zygote process itself.


def main(fd: int, parent: int) -> None:
    """The zygote: import, say ready on ``fd``, then fork a keeper for each request. Never returns."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    requests = socket.socket(fileno=fd)
    kernel.prctl(limits_module.PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)

    def prepare() -> None:
        preload = json.loads(requests.recv(65536))["preload"]
        _import(ZYGOTE_MODULES)
        _import(preload, missing_ok=True)
        import torch

        from autograder.sandbox import process_title

        torch.set_num_threads(1)
        readable, hidden = landlock.worker_file_rules()
        for path in readable:  # the Landlock rules every submission's init then makes from these
            landlock._rule_rights(path, hidden, landlock.landlock_abi())
        for processes in (False, True):
            seccomp._filter(processes)
        process_title.title_this_process(process_title.ZYGOTE_TITLE)

    _serve_once_ready(requests, prepare)


def _become_forked_zygote(preload: list[str], fd: int) -> None:
    """In a process a zygote just forked: import ``preload`` on top of what it holds, say ready on
    ``fd`` and serve keepers from there. Never returns."""
    requests = socket.socket(fileno=fd)
    requests.send(os.getpid().to_bytes(8, "big"))
    _serve_once_ready(requests, lambda: _import(preload, missing_ok=True))


def _import(names: Iterable[str], *, missing_ok: bool = False) -> None:
    """Import ``names``; ``missing_ok``: skip one that fails (a module the graders' process found
    elsewhere: theirs only)."""
    for name in names:
        if missing_ok:
            with contextlib.suppress(Exception):
                importlib.import_module(name)
        else:
            importlib.import_module(name)


def _serve_once_ready(requests: socket.socket, prepare: Callable[[], None]) -> None:
    """Run ``prepare``, warm what a worker uses and freeze what was imported, then say ready on
    ``requests`` and serve keepers (or say why not and end). Never returns."""
    from autograder.sandbox import worker_start

    try:
        prepare()
        warm_up.model_classes()
        project = worker_start.project_modules_here()
        gc.collect()
        gc.freeze()  # the imports' objects: no collection in a worker walks them (or copies their pages)
        # A worker lives for seconds and builds many small objects (models): cycles are collected less
        # often than by default (every 700 allocations), as in the grading process.
        gc.set_threshold(50_000, 50, 100)
        huge_pages.collapse_private_memory()  # every keeper and worker is forked from here: cheaper forks
    except BaseException as exc:  # noqa: BLE001
        with contextlib.suppress(OSError):
            requests.send(f"{type(exc).__name__}: {exc}"[:4000].encode())
        os._exit(1)
    requests.send(READY)
    _serve(requests, project)


def _serve(requests: socket.socket, project: list[str]) -> None:
    from autograder.sandbox import keeper, worker_start

    this_zygote = os.getpid()
    while True:
        _reap_keepers()
        if not select.select([requests], [], [], 1.0)[0]:
            continue
        try:
            message, fds, _, _ = socket.recv_fds(requests, MESSAGE_BYTES, 2)
        except InterruptedError:
            continue
        except OSError:
            os._exit(0)
        if not message:
            os._exit(0)  # every process that could ask has ended
        if message.startswith(b'{"' + TEMPLATES.encode() + b'"'):
            for received in fds:
                os.close(received)
            _keep_templates(message)
            continue
        pid = keeper.fork()
        if pid == 0:
            try:
                requests.close()
                request = json.loads(message)
                if "zygote" in request:
                    limits_module.die_with_parent(this_zygote)  # and now, if it ended since the fork
                    _become_forked_zygote(list(request["zygote"]), fds[0])
                keeper.become_keeper(request, fds, project)
            finally:
                os._exit(worker_start.WORKER_FAILED_TO_START)
        for received in fds:
            os.close(received)
        del message, fds


def _keep_templates(message: bytes) -> None:
    """Make the templates a :meth:`Zygote.keep_templates` message asks for, in the zygote itself (so
    that every keeper forked from now on has them), and keep the collector off them as off the imports."""
    from autograder.wire import models

    with contextlib.suppress(Exception):
        specs = json.loads(message)[TEMPLATES]
        models.keep_templates((str(key), dict(init), str(device)) for key, init, device in specs)
    gc.freeze()
    huge_pages.collapse_private_memory()


def _reap_keepers() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def wait_exit(pid: int, timeout: float) -> None:
    """Wait up to ``timeout`` seconds for process ``pid`` (not necessarily a child) to end."""
    try:
        handle = os.pidfd_open(pid)
    except OSError:
        return
    try:
        select.select([handle], [], [], timeout)
    finally:
        os.close(handle)
