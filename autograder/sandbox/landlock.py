"""Landlock: which files a worker may open.

Which files it may read (Python's installation, the system's libraries, its own staged files), that it
writes none, connects to no TCP port and signals no process outside its own (:func:`restrict_files`,
or :func:`file_ruleset` made once and :func:`restrict_self` in each worker).
"""

from __future__ import annotations

import ctypes
import functools
import importlib.util
import os
import sys
from collections.abc import Iterable
from pathlib import Path

from autograder.sandbox.kernel import libc, prctl

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
        version = libc().syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
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
    c_library = libc()
    ruleset = c_library.syscall(
        _SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0)
    )
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
                if c_library.syscall(_SYS_ADD_RULE, ruleset, _RULE_PATH_BENEATH, ctypes.byref(rule), 0) != 0:
                    raise OSError(ctypes.get_errno(), f"landlock_add_rule failed for {path}")
            finally:
                os.close(fd)
        for fd in readable_fds:
            rule = _PathBeneath(_EXECUTE | _READ_FILE | _READ_DIR, fd)
            if c_library.syscall(_SYS_ADD_RULE, ruleset, _RULE_PATH_BENEATH, ctypes.byref(rule), 0) != 0:
                raise OSError(ctypes.get_errno(), f"landlock_add_rule failed for descriptor {fd}")
    except BaseException:
        os.close(ruleset)
        raise
    return ruleset


def restrict_self(ruleset: int) -> None:
    """Put the Landlock ruleset ``ruleset`` (from :func:`file_ruleset`) in force in the calling process
    and its future children, and close it. Irreversible."""
    try:
        prctl(_PR_SET_NO_NEW_PRIVS, 1)
        if libc().syscall(_SYS_RESTRICT_SELF, ruleset, ctypes.c_uint32(0)) != 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")
    finally:
        os.close(ruleset)
