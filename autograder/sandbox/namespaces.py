"""Namespaces and capabilities: a submission's own user, PID, network, IPC and mount namespaces.

A user namespace of its own (so the kernel counts its processes apart from every other worker's), a
network namespace with no interface up, a PID namespace (its init is the worker's keeper: when the
keeper ends, every process in it ends), an IPC namespace (System V shared memory, semaphores and
message queues, and POSIX message queues: none is shared with a classmate, and all of them go when the
submission's last process ends) and a mount namespace with a ``/proc`` of its own (no other
process, the engine's included, is visible); the capabilities a new user namespace grants are given up
(:func:`drop_capabilities`).
"""

from __future__ import annotations

import ctypes
import functools
import os

from autograder.sandbox.kernel import libc, prctl

CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
_MS_NOSUID, _MS_NODEV, _MS_NOEXEC, _MS_REC, _MS_PRIVATE = 2, 4, 8, 1 << 14, 1 << 18
_PR_SET_DUMPABLE = 4
NOBODY = 65534


def enter_namespaces() -> bool:
    """Move the calling process into new user, PID, network, IPC and mount namespaces, keeping its user and
    group ids (mapped one to one). Its next child is the PID namespace's init. Returns False, changing
    nothing, when the kernel refuses (user namespaces turned off)."""
    uid, gid = os.getuid(), os.getgid()
    c_library = libc()
    if c_library.unshare(CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWNS) != 0:
        return False
    # A process whose uid changed (root become nobody) is not dumpable, so its /proc files belong to
    # root: dumpable for as long as it takes to write its own id maps.
    prctl(_PR_SET_DUMPABLE, 1)
    try:
        for name, text in (
            ("setgroups", "deny"),
            ("uid_map", f"{uid} {uid} 1"),
            ("gid_map", f"{gid} {gid} 1"),
        ):
            with open(f"/proc/self/{name}", "w") as handle:
                handle.write(text)
    finally:
        prctl(_PR_SET_DUMPABLE, 0)
    return True


def mount_own_proc() -> bool:
    """In the init of a new PID namespace: mount a ``/proc`` that shows this namespace's processes only
    (nothing of this mount namespace reaches the rest of the machine)."""
    c_library = libc()
    if c_library.mount(None, b"/", None, _MS_REC | _MS_PRIVATE, None) != 0:
        return False
    return c_library.mount(b"proc", b"/proc", b"proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, None) == 0


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
    if libc().capset(ctypes.byref(header), ctypes.byref(data)) != 0:
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
