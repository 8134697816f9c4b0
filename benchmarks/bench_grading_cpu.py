"""Where the engine's CPU time goes: one ``python -m autograder grade --jobs 2`` of a generated class,
with every process's CPU time (user + system, from ``/proc/PID/stat``), its system time and its minor
page faults read every 20 ms and summed by the part of the engine it belongs to (by its ancestry and
process title).

    python benchmarks/bench_grading_cpu.py [-n 20] [--jobs 2]

Prints a line per part: CPU seconds, processes, seconds per submission, the share of that CPU spent in
the kernel and the page faults (most of the kernel's share: copies on write after a fork, fresh pages).
A process's time after the last sample before it ended is not seen, so short-lived processes (workers)
are counted low; the sampling itself takes some CPU. For the figures that judge the goal (wall time
against the naive way), run ``bench_grading.py``; this script says which part to work on.
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_grading import generate_class

from autograder.sandbox.process_title import ZYGOTE_TITLE


@dataclass
class Seen:
    parent: int
    title: str = ""
    first: tuple[int, int, int] = (0, 0, 0)  # CPU ticks, system ticks, faults when first seen (0s for
    # a process started after the engine)
    ticks: int = 0  # CPU ticks since then, at the last sample
    system: int = 0  # of which in the kernel
    faults: int = 0  # minor page faults since then
    children: set[int] = field(default_factory=set)


def sample(seen: dict[tuple[int, int], Seen], before: bool) -> None:
    """Read every process's CPU ticks; a process is keyed by pid and start time (pids are reused)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                text = stat.read()
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                title = cmdline.read().split(b"\0")[0].decode(errors="replace")
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        key = (int(entry), int(fields[19]))
        counts = (int(fields[11]) + int(fields[12]), int(fields[12]), int(fields[7]))
        process = seen.get(key)
        if process is None:
            process = seen[key] = Seen(parent=int(fields[1]), first=counts if before else (0, 0, 0))
        ticks, system, faults = (now - then for now, then in zip(counts, process.first, strict=True))
        process.ticks, process.system, process.faults = ticks, system, faults
        process.title = title or process.title


def parts(seen: dict[tuple[int, int], Seen], engine: int) -> dict[str, list[Seen]]:
    """Each process, by the part of the engine it belongs to."""
    by_pid = {pid: process for (pid, _), process in seen.items()}
    for pid, process in by_pid.items():
        if process.parent in by_pid:
            by_pid[process.parent].children.add(pid)
    found: dict[str, list[Seen]] = collections.defaultdict(list)

    def walk(pid: int, part: str) -> None:
        process = by_pid[pid]
        found[part].append(process)
        for child in process.children:
            title = by_pid[child].title
            if title == ZYGOTE_TITLE and part == "zygote":
                walk(child, "the late pass's zygote (forked from the zygote)")
            elif title == ZYGOTE_TITLE:
                walk(child, "zygote")
            elif part in ("zygote", "the late pass's zygote (forked from the zygote)"):
                which = "the late pass" if "late" in part else "the main pass"
                walk(child, f"sandbox: keepers, inits, workers of {which}")
            elif part == "engine":
                grandchildren = by_pid[child].children
                late = bool(grandchildren) and all(by_pid[c].title != ZYGOTE_TITLE for c in grandchildren)
                walk(child, "late pass" if late else "grading children (one a submission)")
            elif part == "late pass":
                walk(child, "late pass: grading children (one a submission)")
            else:
                walk(child, part)

    if engine in by_pid:
        walk(engine, "engine")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20, help="submissions to generate (default 20)")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-grading-cpu-") as root:
        folders = generate_class(Path(root) / "class", args.n)
        command = [sys.executable, "-m", "autograder", "grade", *map(str, folders), "--jobs", str(args.jobs)]
        command += ["--out", str(Path(root) / "out")]
        seen: dict[tuple[int, int], Seen] = {}
        sample(seen, before=True)
        started = time.perf_counter()
        engine = subprocess.Popen(command, env={**os.environ, "PYTHONPATH": str(REPO)},
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        # Its children first seen while it runs: their ticks count from 0.
        while engine.poll() is None:
            sample(seen, before=False)
            time.sleep(0.02)
        seconds = time.perf_counter() - started
    tick = os.sysconf("SC_CLK_TCK")
    found = parts(seen, engine.pid)
    every = [process for processes in found.values() for process in processes]
    total = sum(process.ticks for process in every) / tick
    system = sum(process.system for process in every) / tick
    faults = sum(process.faults for process in every)
    print(f"engine --jobs {args.jobs}: {seconds:.1f} s for {args.n}; CPU seen {total:.1f} s "
          f"({system:.1f} s in the kernel, {faults} page faults), by part:")  # fmt: skip
    for part, processes in sorted(found.items(), key=lambda item: -sum(p.ticks for p in item[1])):
        cpu = sum(process.ticks for process in processes) / tick
        kernel = sum(process.system for process in processes) / tick / cpu if cpu else 0.0
        count = f"{len(processes)} process" + ("" if len(processes) == 1 else "es")
        part_faults = sum(process.faults for process in processes)
        print(f"  {cpu:6.2f} s  {count:>14}  {cpu / args.n:5.2f} s per submission  {kernel:4.0%} kernel  "
              f"{part_faults:>8} faults  {part}")  # fmt: skip
    return 0 if engine.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
