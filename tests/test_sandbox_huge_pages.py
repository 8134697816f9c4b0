"""Processes that fork many children (the zygote, the engine, the late pass) collapse their private
memory into huge pages first (``autograder.sandbox.huge_pages``): forks get cheaper, and what a child
writes still stays the child's."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from autograder.sandbox import huge_pages

COPY_ON_WRITE = textwrap.dedent(
    """
    import os
    import sys

    import torch

    from autograder.sandbox import huge_pages

    before = huge_pages.in_huge_pages()
    pages = [bytearray(b"p" * 4096) for _ in range(4096)]  # 16 MiB of small objects on the heap
    after = huge_pages.collapse_private_memory()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        for page in pages[::7]:
            page[0] = ord("c")
        os.write(write_fd, bytes([sum(page[0] == ord("c") for page in pages) % 256]))
        os._exit(0)
    os.waitpid(pid, 0)
    child_changed = os.read(read_fd, 1)[0]
    parent_changed = sum(page[0] != ord("p") for page in pages)
    print(before, after, child_changed, parent_changed)
    """
)


def test_collapsed_memory_lies_in_huge_pages_and_a_childs_writes_stay_its_own():
    run = subprocess.run([sys.executable, "-c", COPY_ON_WRITE], capture_output=True, text=True, check=True)
    before, after, child_changed, parent_changed = map(int, run.stdout.split())
    if huge_pages.kernel_collapses():
        assert after >= 16 << 20 > before  # the heap at least, torch's and the 16 MiB above
    else:
        assert after == before == 0
    assert child_changed == len(range(0, 4096, 7)) % 256  # the child saw its own writes
    assert parent_changed == 0  # and the parent none of them


def test_the_zygote_forks_from_huge_pages():
    from autograder.sandbox import zygote

    with open(f"/proc/{zygote.current().pid}/smaps_rollup") as rollup:
        huge = next(int(line.split()[1]) for line in rollup if line.startswith("AnonHugePages:"))
    assert (huge >= 32 * 1024) == huge_pages.kernel_collapses()  # kB: most of torch's 145 MB
