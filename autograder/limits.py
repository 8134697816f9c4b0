"""Time, memory and process limits for a worker process, and the privilege drop that goes with them.

The worker runs a learner's code. Whoever starts it (:mod:`autograder.sandbox`) calls
:func:`confine_worker` in the freshly forked child, before any of that code is imported:

- ``RLIMIT_AS``: the address space the process already has plus ``memory_mb`` (a 50 GB allocation fails
  with ``MemoryError``/``RuntimeError`` inside the call instead of taking the machine down);
- ``RLIMIT_CPU``: a safety net for a worker that escapes its wall-clock timeout;
- ``RLIMIT_FSIZE``: files it writes stay small (``SIGXFSZ`` ignored, so a write fails with ``EFBIG``);
- ``RLIMIT_CORE`` 0: a crash leaves no core file;
- Landlock (Linux 5.13 and later, no privilege needed): the worker may read Python's installation, the
  system's libraries and its own staged files, and nothing else: not the reference solutions, the
  hidden graders, the project's repository or another student's files. It may write no file (but
  ``/dev/null``), open no TCP connection and (Linux 6.12 and later) signal no process outside its own;
- when the engine runs as root: the worker becomes ``nobody`` (uid/gid 65534), with ``RLIMIT_NPROC``, so
  it can neither signal the engine's processes nor write into its files. Not as root, this layer is off.

The wall-clock limits (per call, per submission) are enforced by the processes that wait for answers.
"""

from __future__ import annotations

import ctypes
import functools
import importlib.util
import os
import resource
import signal
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

NOBODY = 65534
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36


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
    """

    call_timeout: float = 20.0
    memory_mb: int = 2048
    submission_timeout: float = 300.0
    file_size_bytes: int = 1 << 20
    max_processes: int = 64
    timeouts_per_exercise: int = 2

    @property
    def cpu_seconds(self) -> int:
        return int(10 * self.call_timeout) + 60


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


def confine_worker(limits: Limits, root: Path | None = None) -> None:
    """Apply every limit to the calling process (a freshly forked worker whose files are in ``root``).

    Irreversible. The file rules need Landlock (see :func:`file_sandbox_available`); without it the
    worker may read what the user it runs as may read.
    """
    address_space = vm_size_bytes() + limits.memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 5))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_size_bytes, limits.file_size_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    if root is not None:
        readable, hidden = worker_file_rules()
        restrict_files([*readable, str(Path(root).resolve())], hidden)
    if drops_privileges():
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.max_processes, limits.max_processes))
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)


# --------------------------------------------------------------------------------------------------
# Landlock: which files a worker may open.

_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446  # the same on every architecture
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38
_EXECUTE, _WRITE_FILE, _READ_FILE, _READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_TRUNCATE = 1 << 14
_NET_TCP = (1 << 0) | (1 << 1)  # bind and connect
_SCOPES = (1 << 0) | (1 << 1)  # abstract unix sockets and signals outside the worker's own processes
SYSTEM_DIRS = ("/usr", "/lib", "/lib32", "/lib64", "/bin", "/sbin", "/etc", "/proc", "/sys")
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
PROJECT_PACKAGES = ("autograder", "solutions", "exercises")


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _libc():
    return ctypes.CDLL(None, use_errno=True)


@functools.cache
def landlock_abi() -> int:
    """The kernel's Landlock ABI version, 0 when it has none (or it is turned off)."""
    try:
        version = _libc().syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    except (AttributeError, OSError):
        return 0
    return max(int(version), 0)


def file_sandbox_available() -> bool:
    """Whether workers are kept from reading files outside Python and their own submission."""
    return landlock_abi() >= 1


@functools.cache
def worker_file_rules() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(readable, hidden)``: what a worker may read, and what inside it stays hidden.

    Readable: the system's directories and devices, Python's prefixes and the entries of ``sys.path``
    outside the project. Hidden: this project's packages (the graders, the reference solutions) wherever
    they are installed, and the repository they come from.
    """
    hidden: set[str] = set()
    for name in PROJECT_PACKAGES:
        spec = importlib.util.find_spec(name)
        for location in (spec.submodule_search_locations or []) if spec else []:
            hidden.add(os.path.realpath(location))
    project = Path(__file__).resolve().parent.parent
    if (project / "pyproject.toml").exists():
        hidden.add(str(project))
    python = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    python |= {entry for entry in sys.path if entry and not _inside(os.path.realpath(entry), str(project))}
    readable = {os.path.realpath(p) for p in (*SYSTEM_DIRS, *DEVICES, *python) if os.path.exists(p)}
    return tuple(sorted(readable)), tuple(sorted(hidden))


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _allowed_paths(readable: Iterable[str], hidden: Iterable[str]) -> list[str]:
    """The readable paths with every hidden path cut out: a readable folder holding a hidden one is
    replaced by its entries (recursively), the hidden one left out."""
    hidden = [os.path.realpath(h) for h in hidden]
    allowed: list[str] = []

    def add(path: str) -> None:
        if path in hidden:
            return
        if not any(_inside(h, path) for h in hidden):
            allowed.append(path)
            return
        try:
            entries = sorted(os.listdir(path))
        except OSError:
            return
        for entry in entries:
            add(os.path.join(path, entry))

    for path in readable:
        add(os.path.realpath(path))
    return allowed


def restrict_files(readable: Iterable[str], hidden: Iterable[str]) -> bool:
    """Let the calling process (and its children) read only ``readable`` minus ``hidden``, write no file
    but the devices, make no TCP connection and signal no process outside its own. Irreversible.

    Returns False, changing nothing, when the kernel has no Landlock.
    """
    abi = landlock_abi()
    if abi < 1:
        return False
    handled_fs = (1 << 13) - 1  # every right of ABI 1 (execute ... make_sym)
    if abi >= 2:
        handled_fs |= 1 << 13  # refer
    if abi >= 3:
        handled_fs |= _TRUNCATE
    if abi >= 5:
        handled_fs |= 1 << 15  # ioctl on devices
    attr = _RulesetAttr(handled_fs, _NET_TCP if abi >= 4 else 0, _SCOPES if abi >= 6 else 0)
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    libc = _libc()
    ruleset = libc.syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")
    try:
        for path in _allowed_paths(readable, hidden):
            if path in DEVICES:
                rights = _READ_FILE | _WRITE_FILE | (_TRUNCATE if abi >= 3 else 0)
            elif os.path.isdir(path):
                rights = _EXECUTE | _READ_FILE | _READ_DIR
            else:
                rights = _EXECUTE | _READ_FILE
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                rule = _PathBeneath(rights, fd)
                if libc.syscall(_SYS_ADD_RULE, ruleset, _RULE_PATH_BENEATH, ctypes.byref(rule), 0) != 0:
                    raise OSError(ctypes.get_errno(), f"landlock_add_rule failed for {path}")
            finally:
                os.close(fd)
        _prctl(_PR_SET_NO_NEW_PRIVS, 1)
        if libc.syscall(_SYS_RESTRICT_SELF, ruleset, ctypes.c_uint32(0)) != 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")
    finally:
        os.close(ruleset)
    return True


def _prctl(option: int, value: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(option, value, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}) failed")


def die_with_parent(parent_pid: int) -> None:
    """Ask the kernel to SIGKILL the calling process when its parent ends (set after any uid change)."""
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:
        os._exit(1)


def become_subreaper() -> None:
    """Orphaned descendants of the calling process become its children, so it can reap and kill them."""
    try:
        _prctl(PR_SET_CHILD_SUBREAPER, 1)
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
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.005)


def kill_children(*, keep: frozenset[int] | set[int] = frozenset()) -> None:
    """SIGKILL and reap every child of this process except ``keep`` (strays adopted as a subreaper)."""
    for _ in range(3):
        strays = [pid for pid in children_of(os.getpid()) if pid not in keep]
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
