"""The calls into the kernel the sandbox makes: the C library's (through ``ctypes``), and whether a
process exists."""

from __future__ import annotations

import ctypes
import os


def libc() -> ctypes.CDLL:
    """This process's C library, with ``errno`` kept for :func:`ctypes.get_errno`."""
    return ctypes.CDLL(None, use_errno=True)


def prctl(option: int, value: int) -> None:
    """``prctl(option, value)``, raising :class:`OSError` when it fails."""
    if libc().prctl(option, value, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}) failed")


def process_exists(pid: int) -> bool:
    """Whether process ``pid`` exists (of any user). Not a pid of a process of its own (0 or less):
    True, so that it is never taken for one that is gone."""
    if pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True
