"""The command line a sandbox process shows: its title only, nothing of the batch that started it."""

from __future__ import annotations

import contextlib
import ctypes
import sys

from autograder.sandbox import kernel

WORKER_TITLE = "autograder-worker"
ZYGOTE_TITLE = "autograder-zygote"


def title_this_process(title: str) -> None:
    """Make ``title`` this process's whole command line: ``sys.argv`` and the memory
    ``/proc/PID/cmdline`` reads (the zygote's names nothing of a batch, but a worker needs no more)."""
    sys.argv[:] = [title]
    with contextlib.suppress(AttributeError, TypeError):
        sys.orig_argv[:] = [title]
    kernel.libc().prctl(15, title.encode()[:15], 0, 0, 0)  # PR_SET_NAME: what ps and /proc/PID/comm show
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
