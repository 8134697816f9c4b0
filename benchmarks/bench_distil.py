"""The wall time of ``python -m solutions.distil`` and of each of its phases.

Runs the command as a learner would (a child process: importing torch, the visible checks, the
vocabulary, the teacher, each student, the measurements) and prints the whole run's wall time beside each
phase's, read from the run's ``results.json``. The default run's goal is at most 5 minutes on 2 cores,
``--quick``'s under a minute.

    python benchmarks/bench_distil.py [--quick | --long] [--seed N]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
PHASES = {
    "tokenizer": "text and WordPiece vocabulary",
    "teacher": "teacher (MLM, DynamicMasker)",
    "distilled": "distilled student",
    "random_init": "random-init student",
    "mlm_only": "halved student, MLM only",
    "static_teacher": "teacher, one static mask",
    "measure": "evaluation and CPU timing",
    "total": "inside run() (after the checks)",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true")
    size.add_argument("--long", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args()
    mode = ["--quick"] if arguments.quick else ["--long"] if arguments.long else []
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        completed = subprocess.run(
            [sys.executable, "-m", "solutions.distil", *mode, "--seed", str(arguments.seed), "--out", out],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - started
        if completed.returncode != 0:
            sys.exit(f"the run failed (exit status {completed.returncode}):\n{completed.stderr[-3000:]}")
        results = json.loads((Path(out) / "results.json").read_text())
        table = (Path(out) / "table.md").read_text()
    print(table)
    print(f"mode {results['mode']}, seed {results['seed']}, {results['threads']} threads")
    print(f"{'phase':40} {'seconds':>8}")
    for key, label in PHASES.items():
        if key in results["phase_seconds"]:
            print(f"{label:40} {results['phase_seconds'][key]:8.1f}")
    print(f"{'whole command (wall, from the shell)':40} {wall:8.1f}")


if __name__ == "__main__":
    main()
