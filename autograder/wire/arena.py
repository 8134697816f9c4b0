"""Shared memory for the tensors a call hands to a submission, so the graders see what it did to them.

The graders' process makes one arena (a ``memfd`` mapped shared) before its first worker exists; each
worker (forked from the clean zygote, not from the graders) is handed the ``memfd`` with its pipes and
maps it (:func:`attach`). For a call that asks for its arguments back, each argument tensor
is copied into the arena and the worker gives the submission a tensor whose memory *is* that region.
After the call the graders read the region themselves: an input the submission changed in place is seen
there, whatever the worker reports.

Regions are handed out one after the other and the arena starts over from its beginning when it is
full, so a region keeps its bytes for many calls after its own (a submission that keeps an input after
the call sees it overwritten only much later). One call's arguments never overlap: what does not fit
beside the others is sent in the message instead, and the graders then have only the worker's word.
"""

from __future__ import annotations

import fcntl
import math
import mmap
import os

import torch

ARENA_BYTES = 64 * 1024 * 1024
ALIGNMENT = 64


class Arena:
    """One shared mapping of ``size`` bytes and the place of the next region."""

    def __init__(self, size: int = ARENA_BYTES):
        self.size = size
        self.fd = os.memfd_create("autograder-arguments", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        os.ftruncate(self.fd, size)
        # Its size is fixed for good: a worker (which maps it to write the arguments it was handed)
        # cannot shrink it under the graders' mapping (their next read would die of SIGBUS) or grow it.
        fcntl.fcntl(self.fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL)
        self.map = mmap.mmap(self.fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        self.owner = os.getpid()
        self.cursor = 0
        self.used = 0

    def begin_call(self) -> None:
        """Start placing one call's arguments: together they may take at most the whole arena."""
        self.used = 0

    def place(self, tensor: torch.Tensor) -> tuple[int, int] | None:
        """Copy a CPU tensor's values into a new region; ``(offset, nbytes)``, or None when it does not
        fit beside the call's other arguments (see :meth:`begin_call`)."""
        nbytes = tensor.numel() * tensor.element_size()
        taken = math.ceil(max(nbytes, 1) / ALIGNMENT) * ALIGNMENT
        if self.used + taken > self.size:
            return None
        if self.cursor + taken > self.size:
            self.cursor = 0
        offset = self.cursor
        self.cursor = offset + taken
        self.used += taken
        if nbytes:
            self.view(offset, tensor.dtype, list(tensor.shape)).copy_(tensor.detach())
        return offset, nbytes

    def view(self, offset: int, dtype: torch.dtype, shape: list[int]) -> torch.Tensor:
        """A tensor whose memory is the region at ``offset`` (writes go to the arena)."""
        count = math.prod(shape)
        if count == 0:
            return torch.empty(shape, dtype=dtype)
        itemsize = torch.empty((), dtype=dtype).element_size()
        if offset < 0 or offset % ALIGNMENT or offset + count * itemsize > self.size:
            raise ValueError(f"a region of {count * itemsize} bytes at {offset} is not inside the arena")
        return torch.frombuffer(self.map, dtype=dtype, count=count, offset=offset).view(shape)

    def read(self, offset: int, dtype: torch.dtype, shape: list[int]) -> torch.Tensor:
        """A copy of the region's values as they are now."""
        return self.view(offset, dtype, shape).clone()

    def span(self) -> tuple[int, int]:
        """The arena's first and last-plus-one byte addresses in this process."""
        start = torch.frombuffer(self.map, dtype=torch.uint8, count=1).data_ptr()
        return start, start + self.size


_CURRENT: list[Arena] = []


def current() -> Arena:
    """This process's arena, made on first use (a process forked from one with an arena makes its own:
    two grading processes never share one)."""
    if not _CURRENT or _CURRENT[0].owner != os.getpid():
        _CURRENT[:] = [Arena()]
    return _CURRENT[0]


def inherited() -> Arena | None:
    """In a worker: the arena of the graders' process it was forked from, if that process made one."""
    return _CURRENT[0] if _CURRENT else None


def attach(fd: int, size: int = ARENA_BYTES) -> Arena:
    """In a worker not forked from the graders' process: map the arena whose ``fd`` it was handed."""
    shared = Arena.__new__(Arena)
    shared.size, shared.fd, shared.owner, shared.cursor, shared.used = size, fd, -1, 0, 0
    shared.map = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    _CURRENT[:] = [shared]
    return shared
