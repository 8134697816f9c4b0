"""seccomp (through libseccomp): a worker makes no socket, no process and no IPC object.

No socket of any family is created (``socket``, ``socketpair``, ``io_uring``), none inherited is used
(``connect``, ``bind``, ...), and no process is made (threads are), so the worker's own limits are the
limits of all it runs. No System V shared memory, semaphore set or message queue and no POSIX message
queue is made or used: the kernel keeps those after their maker ends, where a classmate's worker could
find them (without an IPC namespace of the submission's own) and nothing would remove them. No memory
file (``memfd_create``) is made: its pages are outside the address-space limit.
"""

from __future__ import annotations

import contextlib
import errno
import functools
from typing import Any

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
# System V IPC and POSIX message queues: objects that outlive the process that made them.
IPC_SYSCALLS = (
    "shmget",
    "shmat",
    "shmctl",
    "semget",
    "semop",
    "semtimedop",
    "semctl",
    "msgget",
    "msgsnd",
    "msgrcv",
    "msgctl",
    "mq_open",
    "mq_unlink",
    "mq_timedsend",
    "mq_timedreceive",
    "mq_notify",
    "mq_getsetattr",
    "ipc",
    # and the kernel's key store, which keeps keys after their maker ends too
    "add_key",
    "request_key",
    "keyctl",
)
# Memory held by a file descriptor rather than mapped: RLIMIT_AS does not count it, and without a memory
# cgroup (grading as a normal user) nothing else would (a red team held 1.5 GB with --memory-mb 300).
MEMORY_SYSCALLS = ("memfd_create", "memfd_secret")


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
    child): every socket, IPC and memory-file system call fails with ``EPERM`` (sockets of every address
    family), and with ``processes`` False no new process can be made (``fork``, ``vfork``, ``clone`` without
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
    for name in SOCKET_SYSCALLS + IPC_SYSCALLS + MEMORY_SYSCALLS:
        with contextlib.suppress(RuntimeError, ValueError, OSError):  # a call this architecture lacks
            rules.add_rule(refused, name)
    if not processes:
        for name in ("fork", "vfork"):
            with contextlib.suppress(RuntimeError, ValueError, OSError):
                rules.add_rule(refused, name)
        rules.add_rule(refused, "clone", pyseccomp.Arg(0, pyseccomp.MASKED_EQ, _CLONE_THREAD, 0))
        rules.add_rule(pyseccomp.ERRNO(errno.ENOSYS), "clone3")
    return rules
