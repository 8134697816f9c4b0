"""The C library's calls the confinement makes (through ``ctypes``)."""

from __future__ import annotations

import ctypes


def libc() -> ctypes.CDLL:
    """This process's C library, with ``errno`` kept for :func:`ctypes.get_errno`."""
    return ctypes.CDLL(None, use_errno=True)


def prctl(option: int, value: int) -> None:
    """``prctl(option, value)``, raising :class:`OSError` when it fails."""
    if libc().prctl(option, value, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}) failed")
