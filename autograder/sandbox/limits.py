"""Time, memory and process limits for a worker process, and the privilege drop that goes with them.

The worker runs a learner's code. Whoever starts it (:mod:`autograder.sandbox.keeper`) drops its
privileges (:func:`drop_privileges`, root only) and moves it into namespaces of its own
(:mod:`autograder.sandbox.namespaces`), then calls :func:`confine_worker` in the process that will run
that code, before any of it is imported:

- ``RLIMIT_AS``: the address space the process already has plus ``memory_mb`` (a 50 GB allocation fails
  with ``MemoryError``/``RuntimeError`` inside the call instead of taking the machine down);
- ``RLIMIT_CPU``: a safety net for a worker that escapes its wall-clock timeout;
- ``RLIMIT_FSIZE``: files it writes stay small (``SIGXFSZ`` ignored, so a write fails with ``EFBIG``);
- ``RLIMIT_CORE`` 0: a crash leaves no core file;
- ``RLIMIT_NPROC``: processes and threads. The kernel counts them per user *and user namespace*, so in a
  worker's own user namespace they are its own (a classmate's processes do not count against it);
- Landlock, seccomp and the capabilities a user namespace grants (:mod:`autograder.sandbox.confine`).

When the engine runs as root the worker becomes ``nobody`` (uid/gid 65534) first, so it can neither
signal the engine's processes nor write into its files. The wall-clock limits (per call, per
submission) are enforced by the processes that wait for answers.
"""

from __future__ import annotations

import os
import resource
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from autograder.sandbox import kernel, landlock, seccomp
from autograder.sandbox.landlock import (  # noqa: F401  (the names this module had before the package)
    _allowed_paths,
    file_sandbox_available,
    landlock_abi,
    restrict_files,
    worker_file_rules,
)
from autograder.sandbox.namespaces import drop_capabilities

NOBODY = 65534
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
# Children of this process that :func:`kill_children` leaves alone (the zygotes it started).
PROTECTED: set[int] = set()


@dataclass(frozen=True)
class Limits:
    """The limits one grading run applies.

    Attributes:
        call_timeout: seconds one call (or one exercise's import) may take before its worker is killed.
        memory_mb: address space a worker may add to what it inherited.
        submission_timeout: seconds the whole grading of one submission may take.
        file_size_bytes: the largest file a worker may write.
        max_processes: processes the ``nobody`` user may have (only when privileges are dropped).
        timeouts_per_exercise: after this many timed-out calls, an exercise's remaining calls fail fast.
        allow_processes: whether a worker may start processes (threads it always may). Off for grading:
            then the worker's memory, CPU and thread limits are those of everything it runs.
    """

    call_timeout: float = 20.0
    memory_mb: int = 2048
    submission_timeout: float = 300.0
    file_size_bytes: int = 1 << 20
    max_processes: int = 64
    timeouts_per_exercise: int = 2
    allow_processes: bool = False

    @property
    def cpu_seconds(self) -> int:
        return int(10 * self.call_timeout) + 60


DEFAULTS = Limits()
"""The limits a grading run applies unless told otherwise (the grading command's defaults)."""


def vm_size_bytes() -> int:
    """The current process's virtual memory size (``VmSize``), in bytes."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def drops_privileges() -> bool:
    """Whether workers run as ``nobody`` (the engine runs as root)."""
    return os.geteuid() == 0


def drop_privileges() -> None:
    """As root: become ``nobody`` (keeping the process limit root had: see :func:`confine_worker`)."""
    if drops_privileges():
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)


def confine_worker(
    limits: Limits, root: Path | None = None, *, own_namespaces: bool = False, ruleset: int | None = None
) -> dict[str, bool]:
    """Apply every limit to the calling process (the worker about to import the submission staged in
    ``root``); ``own_namespaces``: it is alone in a user namespace made for it; ``ruleset``: the
    Landlock ruleset for ``root`` made beforehand (:func:`autograder.sandbox.landlock.file_ruleset`,
    closed here), else made now.
    Irreversible.

    Returns which confinements took (``{"landlock": ..., "seccomp": ...}``): without Landlock the worker
    may read what the user it runs as may read; without seccomp it may open sockets other than TCP.
    """
    address_space = vm_size_bytes() + limits.memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 5))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_size_bytes, limits.file_size_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if own_namespaces or os.geteuid() == NOBODY:
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.max_processes, limits.max_processes))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    took = {"landlock": False, "seccomp": False}
    if ruleset is not None:
        landlock.restrict_self(ruleset)
        took["landlock"] = True
    elif root is not None:
        took["landlock"] = landlock.restrict_files(*worker_ruleset_paths(root))
    took["seccomp"] = seccomp.load_filter(processes=limits.allow_processes)
    if own_namespaces:
        drop_capabilities()
    return took


def worker_ruleset_paths(root: Path) -> tuple[list[str], tuple[str, ...], list[int]]:
    """``(readable, hidden, readable descriptors)`` of a worker's Landlock rules: the system and Python,
    the staged submission in ``root``, the folders of ``sys.path`` reached by descriptor."""
    readable, hidden = landlock.worker_file_rules()
    by_fd = [int(e.rsplit("/", 1)[1]) for e in sys.path if e.startswith("/proc/self/fd/")]
    return [*readable, str(Path(root).resolve())], hidden, by_fd


def die_with_parent(parent_pid: int) -> None:
    """Ask the kernel to SIGKILL the calling process when its parent ends (set after any uid change)."""
    kernel.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:
        os._exit(1)


def become_subreaper() -> None:
    """Orphaned descendants of the calling process become its children, so it can reap and kill them."""
    try:
        kernel.prctl(PR_SET_CHILD_SUBREAPER, 1)
    except OSError:
        pass


def children_of(pid: int) -> list[int]:
    """The live child processes of ``pid``, read from ``/proc``."""
    children = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(entry))
    return children


def kill_process_group(pid: int) -> None:
    """SIGKILL the process group led by ``pid`` and ``pid`` itself (it may have left the group)."""
    for kill, target in ((os.killpg, pid), (os.kill, pid)):
        try:
            kill(target, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def reap(pid: int, *, wait: float | None = None) -> int | None:
    """Wait for child ``pid``; return its wait status, or None if it still runs after ``wait`` seconds."""
    deadline = None if wait is None else time.monotonic() + wait
    while True:
        try:
            done, status = os.waitpid(pid, 0 if deadline is None else os.WNOHANG)
        except ChildProcessError:
            return 0
        if done:
            return status
        if deadline is not None and time.monotonic() >= deadline:
            return None
        time.sleep(0.005)


def kill_children(*, keep: frozenset[int] | set[int] = frozenset()) -> None:
    """SIGKILL and reap every child of this process except ``keep`` and :data:`PROTECTED` (strays
    adopted as a subreaper)."""
    for _ in range(3):
        strays = [pid for pid in children_of(os.getpid()) if pid not in keep and pid not in PROTECTED]
        if not strays:
            return
        for pid in strays:
            kill_process_group(pid)
        for pid in strays:
            reap(pid, wait=1.0)


def describe_exit(status: int | None) -> str:
    """``"killed by signal SIGSEGV"``, ``"exit code 3"``, from a wait status."""
    if status is None:
        return "still running"
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = str(number)
        return f"killed by signal {name}"
    return f"exit code {os.waitstatus_to_exitcode(status)}"
