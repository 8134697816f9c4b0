"""Confinement of a worker process: what it may open, reach and become.

Each layer is a kernel mechanism applied to the calling process (and inherited by its descendants),
irreversibly:

- **namespaces** (:func:`enter_namespaces`): a user namespace of its own (so the kernel counts its
  processes apart from every other worker's), a network namespace with no interface up, a PID
  namespace (its init is the worker's keeper: when the keeper ends, every process in it ends) and a
  mount namespace with a ``/proc`` of its own (no other process, the engine's included, is visible);
- **Landlock** (:func:`restrict_files`): which files it may read (Python's installation, the system's
  libraries, its own staged files), that it writes none, connects to no TCP port and signals no process
  outside its own;
- **seccomp** (:func:`load_filter`, through libseccomp): no socket of any family is created
  (``socket``, ``socketpair``, ``io_uring``), none inherited is used (``connect``, ``bind``, ...), and
  no process is made (threads are), so the worker's own limits are the limits of all it runs;
- **capabilities** (:func:`drop_capabilities`): the ones a new user namespace grants are given up;
- **cgroups** (:class:`CgroupBudget`, as root where the cgroup v1 hierarchy is writable): memory,
  processes and CPU counted over all the worker's processes together.

:func:`features` says which of them this machine offers (one line, printed by the engine at start).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import importlib.util
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
_MS_NOSUID, _MS_NODEV, _MS_NOEXEC, _MS_REC, _MS_PRIVATE = 2, 4, 8, 1 << 14, 1 << 18
_PR_SET_DUMPABLE = 4
NOBODY = 65534


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _prctl(option: int, value: int) -> None:
    if _libc().prctl(option, value, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}) failed")


# --------------------------------------------------------------------------------------------------
# Namespaces.


def enter_namespaces() -> bool:
    """Move the calling process into new user, PID, network and mount namespaces, keeping its user and
    group ids (mapped one to one). Its next child is the PID namespace's init. Returns False, changing
    nothing, when the kernel refuses (user namespaces turned off)."""
    uid, gid = os.getuid(), os.getgid()
    libc = _libc()
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWNS) != 0:
        return False
    # A process whose uid changed (root become nobody) is not dumpable, so its /proc files belong to
    # root: dumpable for as long as it takes to write its own id maps.
    _prctl(_PR_SET_DUMPABLE, 1)
    try:
        for name, text in (
            ("setgroups", "deny"),
            ("uid_map", f"{uid} {uid} 1"),
            ("gid_map", f"{gid} {gid} 1"),
        ):
            with open(f"/proc/self/{name}", "w") as handle:
                handle.write(text)
    finally:
        _prctl(_PR_SET_DUMPABLE, 0)
    return True


def mount_own_proc() -> bool:
    """In the init of a new PID namespace: mount a ``/proc`` that shows this namespace's processes only
    (nothing of this mount namespace reaches the rest of the machine)."""
    libc = _libc()
    if libc.mount(None, b"/", None, _MS_REC | _MS_PRIVATE, None) != 0:
        return False
    return libc.mount(b"proc", b"/proc", b"proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, None) == 0


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def drop_capabilities() -> None:
    """Give up every capability (those a new user namespace grants its first process included)."""
    header = _CapHeader(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (_CapData * 2)()
    if _libc().capset(ctypes.byref(header), ctypes.byref(data)) != 0:
        raise OSError(ctypes.get_errno(), "capset failed")


@functools.cache
def namespaces_available() -> bool:
    """Whether this process may make the namespaces of :func:`enter_namespaces` (tried in a child)."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            if os.geteuid() == 0:
                os.setgroups([])
                os.setgid(NOBODY)
                os.setuid(NOBODY)
            if enter_namespaces():
                child = os.fork()
                if child == 0:
                    os._exit(0 if mount_own_proc() else 1)
                _, status = os.waitpid(child, 0)
                code = os.waitstatus_to_exitcode(status)
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


# --------------------------------------------------------------------------------------------------
# seccomp: no sockets, no processes.

# Every way to get a socket, or use one inherited (and io_uring, which can make sockets by itself).
SOCKET_SYSCALLS = (
    "socket",
    "socketpair",
    "connect",
    "bind",
    "listen",
    "accept",
    "accept4",
    "sendto",
    "sendmsg",
    "sendmmsg",
    "recvfrom",
    "recvmsg",
    "recvmmsg",
    "io_uring_setup",
)


@functools.cache
def _seccomp():
    try:
        import pyseccomp
    except (ImportError, RuntimeError, OSError):
        return None
    return pyseccomp


def seccomp_available() -> bool:
    """Whether libseccomp (through ``pyseccomp``) can be loaded here."""
    return _seccomp() is not None


_CLONE_THREAD = 0x00010000


def load_filter(*, processes: bool = True) -> bool:
    """Install the worker's seccomp filter in the calling process (inherited by its threads and any
    child): every socket system call fails with ``EPERM``, for every address family, and with
    ``processes`` False no new process can be made (``fork``, ``vfork``, ``clone`` without
    ``CLONE_THREAD``; ``clone3``, whose flags a filter cannot read, fails with ``ENOSYS`` so that the C
    library falls back to ``clone`` for threads): threads only, all inside the worker's own limits.
    Calls of another architecture's ABI kill the process. Irreversible.

    Returns False, changing nothing, when libseccomp is not available.
    """
    rules = _filter(processes)
    if rules is None:
        return False
    rules.load()
    return True


@functools.cache
def _filter(processes: bool) -> Any:
    """The filter :func:`load_filter` loads, built once per process tree (the zygote builds both before
    it forks any keeper, so a worker only loads it); None without libseccomp."""
    pyseccomp = _seccomp()
    if pyseccomp is None:
        return None
    rules = pyseccomp.SyscallFilter(defaction=pyseccomp.ALLOW)
    refused = pyseccomp.ERRNO(errno.EPERM)
    for name in SOCKET_SYSCALLS:
        with contextlib.suppress(RuntimeError, ValueError, OSError):  # a call this architecture lacks
            rules.add_rule(refused, name)
    if not processes:
        for name in ("fork", "vfork"):
            with contextlib.suppress(RuntimeError, ValueError, OSError):
                rules.add_rule(refused, name)
        rules.add_rule(refused, "clone", pyseccomp.Arg(0, pyseccomp.MASKED_EQ, _CLONE_THREAD, 0))
        rules.add_rule(pyseccomp.ERRNO(errno.ENOSYS), "clone3")
    return rules


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
    project = Path(__file__).resolve().parents[2]
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


def restrict_files(readable: Iterable[str], hidden: Iterable[str], readable_fds: Iterable[int] = ()) -> bool:
    """Let the calling process (and its children) read only ``readable`` minus ``hidden`` (and the
    folders open as ``readable_fds``), write no file but the devices, make no TCP connection and signal
    no process outside its own. Irreversible.

    Returns False, changing nothing, when the kernel has no Landlock.
    """
    ruleset = file_ruleset(readable, hidden, readable_fds)
    if ruleset is None:
        return False
    restrict_self(ruleset)
    return True


@functools.cache
def _rule_rights(readable: str, hidden: tuple[str, ...], abi: int) -> tuple[tuple[str, int], ...]:
    """``(path, rights)`` of each rule for the folder or file ``readable`` minus ``hidden``, worked out
    once per process tree for the fixed ones (the zygote does it before it forks any keeper)."""
    rules = []
    for path in _allowed_paths([readable], hidden):
        if path in DEVICES:
            rights = _READ_FILE | _WRITE_FILE | (_TRUNCATE if abi >= 3 else 0)
        elif os.path.isdir(path):
            rights = _EXECUTE | _READ_FILE | _READ_DIR
        else:
            rights = _EXECUTE | _READ_FILE
        rules.append((path, rights))
    return tuple(rules)


def file_ruleset(
    readable: Iterable[str], hidden: Iterable[str], readable_fds: Iterable[int] = ()
) -> int | None:
    """A Landlock ruleset (its descriptor) holding the rules :func:`restrict_files` describes, not yet in
    force: :func:`restrict_self` puts it in force in the process that calls it. None without Landlock.

    A submission's init makes it once, before it forks any worker (each worker then only calls
    :func:`restrict_self`); it must never reach the submission's code (rules could be added to it).
    """
    abi = landlock_abi()
    if abi < 1:
        return None
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
        hidden = tuple(hidden)
        rules = [rule for path in dict.fromkeys(readable) for rule in _rule_rights(path, hidden, abi)]
        for path, rights in rules:
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
        for fd in readable_fds:
            rule = _PathBeneath(_EXECUTE | _READ_FILE | _READ_DIR, fd)
            if libc.syscall(_SYS_ADD_RULE, ruleset, _RULE_PATH_BENEATH, ctypes.byref(rule), 0) != 0:
                raise OSError(ctypes.get_errno(), f"landlock_add_rule failed for descriptor {fd}")
    except BaseException:
        os.close(ruleset)
        raise
    return ruleset


def restrict_self(ruleset: int) -> None:
    """Put the Landlock ruleset ``ruleset`` (from :func:`file_ruleset`) in force in the calling process
    and its future children, and close it. Irreversible."""
    try:
        _prctl(_PR_SET_NO_NEW_PRIVS, 1)
        if _libc().syscall(_SYS_RESTRICT_SELF, ruleset, ctypes.c_uint32(0)) != 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")
    finally:
        os.close(ruleset)


# --------------------------------------------------------------------------------------------------
# cgroups (v1, as root): one budget over all of a worker's processes.

CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_CONTROLLERS = ("memory", "pids", "cpu")
_CPU_PERIOD_US = 100_000


def _own_cgroup(controller: str) -> Path | None:
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, names, path = line.split(":", 2)
        if controller in names.split(","):
            folder = CGROUP_ROOT / controller / path.lstrip("/")
            return folder if folder.is_dir() else None
    return None


class CgroupBudget:
    """The batch's cgroup folders (one per controller); each worker gets a folder of its own in each,
    limited to the worker's memory, processes and one CPU. Root only, where cgroup v1 is mounted and
    writable; otherwise :attr:`active` is False and nothing is counted this way."""

    def __init__(self) -> None:
        self.folders: dict[str, Path] = {}

    @property
    def active(self) -> bool:
        return bool(self.folders)

    def start(self) -> bool:
        """Make the batch's folders; False (and nothing made) if any controller is missing."""
        if os.geteuid() != 0:
            return False
        made: dict[str, Path] = {}
        for controller in CGROUP_CONTROLLERS:
            own = _own_cgroup(controller)
            if own is None:
                break
            folder = own / f"autograder-{os.getpid()}"
            try:
                folder.mkdir(exist_ok=True)
            except OSError:
                break
            made[controller] = folder
        else:
            self.folders = made
            return True
        for folder in made.values():
            with contextlib.suppress(OSError):
                folder.rmdir()
        return False

    def worker_folders(self, pid: int) -> list[Path]:
        return [folder / f"w{pid}" for folder in self.folders.values()]

    def join(self, memory_bytes: int, max_processes: int) -> bool:
        """Put the calling process (a worker, still root) in folders of its own with these limits."""
        if not self.active:
            return False
        pid = os.getpid()
        settings = {
            "memory": {"memory.limit_in_bytes": memory_bytes},
            "pids": {"pids.max": max_processes},
            "cpu": {"cpu.cfs_period_us": _CPU_PERIOD_US, "cpu.cfs_quota_us": _CPU_PERIOD_US},
        }
        try:
            for controller, folder in self.folders.items():
                mine = folder / f"w{pid}"
                mine.mkdir(exist_ok=True)
                for name, value in settings[controller].items():
                    (mine / name).write_text(str(value))
                (mine / "cgroup.procs").write_text(str(pid))
        except OSError:
            return False
        return True

    def remove_worker(self, pid: int, *, wait: float = 1.0) -> None:
        """Remove a worker's folders (once the processes in them are gone: tried for ``wait`` s)."""
        import time

        deadline = time.monotonic() + wait
        for folder in self.worker_folders(pid):
            while folder.exists():
                try:
                    folder.rmdir()
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() >= deadline:
                        break
                    time.sleep(0.01)

    def finish(self) -> None:
        """Remove every worker folder left and the batch's folders."""
        for folder in self.folders.values():
            for mine in folder.glob("w*"):
                if mine.is_dir():
                    self.remove_worker(int(mine.name[1:]), wait=2.0)
            with contextlib.suppress(OSError):
                folder.rmdir()
        self.folders = {}


BUDGET = CgroupBudget()


# --------------------------------------------------------------------------------------------------
# What is in force.


@functools.cache
def cgroups_available() -> bool:
    """Whether a batch can have cgroups of its own here (made and removed again to find out)."""
    if BUDGET.active:
        return True
    trial = CgroupBudget()
    made = trial.start()
    trial.finish()
    return made


def features() -> dict[str, object]:
    """The confinement this machine gives workers, as recorded in each results file."""
    return {
        "landlock_abi": landlock_abi(),
        "seccomp_no_sockets_no_processes": seccomp_available(),
        "namespaces": namespaces_available(),
        "runs_as_nobody": os.geteuid() == 0,
        "cgroups": list(CGROUP_CONTROLLERS) if cgroups_available() else [],
    }


def describe_features(found: dict[str, object]) -> str:
    """One line: ``sandbox: Landlock ABI 7 (files, TCP, signals); seccomp: no sockets, ...``."""
    abi = int(found["landlock_abi"])  # type: ignore[call-overload]
    parts = []
    if abi >= 1:
        reach = [
            "files",
            *(["TCP"] if abi >= 4 else []),
            *(["signals, abstract sockets"] if abi >= 6 else []),
        ]
        parts.append(f"Landlock ABI {abi} ({', '.join(reach)})")
    else:
        parts.append("NO Landlock (workers may read every file this user can)")
    parts.append(
        "seccomp: no sockets, no processes (threads only)"
        if found["seccomp_no_sockets_no_processes"]
        else "NO seccomp (UDP and Unix sockets allowed, processes counted per worker only)"
    )
    if found["namespaces"]:
        parts.append("namespaces per submission: user, pid, net, mount (own /proc, processes counted apart)")
    else:
        parts.append("NO namespaces (processes counted per user; daemons killed by process group only)")
    parts.append("workers as nobody" if found["runs_as_nobody"] else "workers keep your user id")
    cgroups: Any = found["cgroups"]
    parts.append(
        f"cgroups per submission: {', '.join(cgroups)}"
        if cgroups
        else "no cgroups (memory limited per worker process)"
    )
    return "sandbox: " + "; ".join(parts)
