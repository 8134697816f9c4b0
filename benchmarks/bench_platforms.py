"""How long a Gradescope container takes to grade one submission from a cold start.

Builds the Gradescope bundle, lays out ``/autograder`` in a temporary folder as Gradescope does
(``source/``, ``submission/`` with one finished hand-in zip, ``results/``) and runs ``run_autograder``
in a fresh process ``--runs`` times (with this venv's python on PATH, as the tests do). For each run it
takes the wall and CPU time of the whole process (torch's import, collecting the graders and the
sandbox's start-up included) and the engine's own time for the submission (``engine_seconds`` in
``results.json``). Also times ``python -c "import torch"``, the floor any grading process pays.

Prints the medians side by side and the goal: ``run_autograder`` at most 12 s on 2 cores. The machine
this runs on may be shared and busy: wall times then stretch with the load while CPU times stay close to
an idle machine's, so both are printed.

Run from the repository root: ``python benchmarks/bench_platforms.py [--runs N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from autograder.manifest import EXERCISES, SOLUTIONS_DIR
from autograder.platforms import gradescope

GOAL_SECONDS = 12.0


def environment(root: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["AUTOGRADER_ROOT"] = str(root)
    return env


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Run ``command``; its wall time and the CPU time (user + system) it and its children used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    completed = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if completed.returncode != 0:
        raise SystemExit(
            f"{' '.join(command)} exited with {completed.returncode}:\n{completed.stderr[-2000:]}"
        )
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def gradescope_tree(base: Path) -> Path:
    root = base / "autograder"
    with zipfile.ZipFile(gradescope.build_bundle(base / "autograder.zip")) as archive:
        archive.extractall(root / "source")
    shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")
    (root / "run_autograder").chmod(0o755)
    (root / "submission").mkdir()
    with zipfile.ZipFile(root / "submission" / "learner.zip", "w") as archive:
        for exercise in EXERCISES:
            archive.write(SOLUTIONS_DIR / exercise.filename, exercise.filename)
    return root


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="cold starts to time (default 3)")
    args = parser.parse_args()
    walls, cpus, engine, floors = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="bench-platforms-") as base:
        root = gradescope_tree(Path(base))
        env = environment(root)
        for _ in range(args.runs):
            floors.append(timed([sys.executable, "-c", "import torch"], root, env))
            (root / "results").mkdir(exist_ok=True)
            wall, cpu = timed([str(root / "run_autograder")], root, env)
            data = json.loads((root / "results" / "results.json").read_text())
            if data["score"] != 100:
                raise SystemExit(f"the finished submission scored {data['score']}, not 100: {data['output']}")
            walls.append(wall)
            cpus.append(cpu)
            engine.append(float(data["extra_data"]["engine_seconds"]))
            shutil.rmtree(root / "results")
    load = os.getloadavg()[0]
    print(
        f"run_autograder on one finished submission, cold start, median of {args.runs} (load {load:.1f}, "
        f"{os.cpu_count()} cpus)"
    )
    rows: list[tuple[str, float, float | None]] = [
        (
            "python -c 'import torch' (the floor)",
            statistics.median(wall for wall, _ in floors),
            statistics.median(cpu for _, cpu in floors),
        ),
        ("run_autograder, the whole process", statistics.median(walls), statistics.median(cpus)),
        ("  of which the engine on the submission", statistics.median(engine), None),
    ]
    print(f"  {'what':<44}{'wall s':>8}{'cpu s':>8}")
    for what, wall, busy in rows:
        print(f"  {what:<44}{wall:>8.1f}" + (f"{busy:>8.1f}" if busy is not None else ""))
    verdict = "met" if statistics.median(walls) <= GOAL_SECONDS else "NOT met"
    print(f"goal: run_autograder at most {GOAL_SECONDS:g} s wall on 2 cores: {verdict} on this run")
    if load > 1.5:
        print("note: this machine is busy (load above), so wall times are longer than on an idle one")
    return 0


if __name__ == "__main__":
    sys.exit(main())
