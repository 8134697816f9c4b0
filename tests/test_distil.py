"""``python -m <package>.distil``: DistilBERT in miniature on the learner's own five functions.

Each test runs the command in a child process, as a learner would, on a copy of the package: the
solutions, the solutions with one exercise still a stub, and correct implementations other than the
solution (a masker that draws its numbers in another order).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.manifest import EXERCISES_DIR, SOLUTIONS_DIR

RUN_TIMEOUT_SECONDS = 1800
"""A guard against a hung run, not a speed check: a --quick run needs about 80 s of CPU time (one
thread, the visible checks included); on a 2-core machine shared by eight jobs it took 15 minutes."""
ALTERNATIVE_MASKER = '''"""A correct masker unlike the solution: one uniform number per position decides
whether it is selected and what happens to it, the random ids are drawn first and avoid the special ids."""

from __future__ import annotations

import torch


class DynamicMasker:
    def __init__(self, vocab_size, mask_token_id, special_token_ids, mlm_probability=0.15,
                 mask_replace_prob=0.8, random_replace_prob=0.1):
        for probability in (mlm_probability, mask_replace_prob, random_replace_prob):
            if not 0 <= probability <= 1:
                raise ValueError("probabilities must lie in [0, 1]")
        if mask_replace_prob + random_replace_prob > 1:
            raise ValueError("mask_replace_prob + random_replace_prob must be at most 1")
        self.mask_token_id = mask_token_id
        self.never = torch.tensor(sorted(set(special_token_ids) | {mask_token_id}))
        self.ordinary = torch.tensor([i for i in range(vocab_size) if i not in set(self.never.tolist())])
        self.cuts = (
            mlm_probability * mask_replace_prob,
            mlm_probability * (mask_replace_prob + random_replace_prob),
        )
        self.mlm_probability = mlm_probability

    def __call__(self, input_ids, generator=None):
        picks = torch.randint(len(self.ordinary), input_ids.shape, generator=generator)
        draw = torch.rand(input_ids.shape, generator=generator)
        selected = (draw < self.mlm_probability) & ~torch.isin(input_ids, self.never)
        labels = torch.where(selected, input_ids, torch.full_like(input_ids, -100))
        masked = input_ids.clone()
        masked[selected & (draw < self.cuts[0])] = self.mask_token_id
        to_random = selected & (draw >= self.cuts[0]) & (draw < self.cuts[1])
        masked[to_random] = self.ordinary[picks][to_random]
        return masked, labels
'''


def copy_package(source: Path, dest: Path) -> Path:
    shutil.copytree(
        source, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.ipynb", ".ipynb_checkpoints")
    )
    return dest


def run_distil(package_dir: Path, *arguments: str) -> subprocess.CompletedProcess:
    """``python -m <package>.distil ARGUMENTS --threads 1`` from the package's parent folder, no terminal.

    One thread: the results repeat for a given thread count, and a second thread only slows a CI machine
    that runs other work at the same time.
    """
    environment = {**os.environ, "PYTHONPATH": str(package_dir.parent)}
    return subprocess.run(
        [sys.executable, "-m", f"{package_dir.name}.distil", *arguments, "--threads", "1"],
        cwd=package_dir.parent,
        env=environment,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        check=False,
    )


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    """``--quick --seed 0`` on a copy of the solutions."""
    root = tmp_path_factory.mktemp("solved")
    package = copy_package(SOLUTIONS_DIR, root / "solved_package")
    out = root / "out"
    return run_distil(package, "--quick", "--seed", "0", "--out", str(out)), out


def test_quick_run_distilled_student_beats_the_randomly_initialised_one(quick_run):
    """Held-out masked-token accuracy, ``--quick --seed 0 --threads 1``.

    In ``--quick``'s few steps the teacher learns the most frequent tokens (held-out accuracy about 7%)
    and no more. The distilled student starts from its embeddings, head and every other layer and keeps
    that; the random-init student, learning from soft targets that are nearly flat at T = 2, has not
    got there yet. Seen (seed 0, one thread): 7.3% against 0.7% with 150 teacher and 75 student steps;
    perplexity 232 against 266. With 60 teacher steps at a lower learning rate (1e-3) both were at 7.4%:
    the margin comes from the random-init student being behind, not from better predictions.

    Margins seen over seeds 0-4 (one thread, distilled minus random-init accuracy): 6.6, 6.9, 6.8, 7.4
    and 6.9 points (distilled 6.9%-8.0%, random-init 0.6%-0.7%), the distilled student's perplexity lower
    every time (220-256 against 246-289). The test keeps seed 0 and asks for 3 points and a lower
    perplexity. The default run's margin is of another kind: there both students get past the frequent
    tokens and the distilled one is ahead by about 5 points (README).
    """
    completed, out = quick_run
    assert completed.returncode == 0, completed.stderr[-2000:]
    results = json.loads((out / "results.json").read_text())
    rows = {row["key"]: row for row in results["rows"]}
    assert rows["distilled"]["accuracy"] >= rows["random_init"]["accuracy"] + 0.03, rows
    assert rows["distilled"]["perplexity"] < rows["random_init"]["perplexity"], rows


def test_quick_run_says_how_to_repeat_it_and_every_file_it_wrote(quick_run):
    completed, out = quick_run
    assert completed.returncode == 0, completed.stderr[-2000:]
    table = (out / "table.md").read_text()
    assert "Run: python -m solved_package.distil --quick --seed 0 --threads 1." in table.splitlines(), table
    (wrote,) = [line for line in completed.stdout.splitlines() if line.startswith("Wrote ")]
    assert all(f"/{name}" in wrote for name in ("table.md", "curves.png", "results.json", "vocab.txt")), wrote
    assert (out / "vocab.txt").is_file()


def test_quick_run_counts_parameters_with_count_parameters(quick_run):
    from solutions.ex3_layers import halve_layers
    from solutions.ex5_params import count_parameters
    from solutions.model import BertConfig, BertForMaskedLM

    completed, out = quick_run
    assert completed.returncode == 0, completed.stderr[-2000:]
    results = json.loads((out / "results.json").read_text())
    settings = results["settings"]
    config = BertConfig(
        vocab_size=results["text"]["vocab_size"],
        hidden_size=settings["hidden_size"],
        num_hidden_layers=settings["num_layers"],
        num_attention_heads=settings["num_heads"],
        intermediate_size=settings["intermediate_size"],
        max_position_embeddings=settings["seq_len"],
    )
    teacher = BertForMaskedLM(config)
    expected = {"teacher": count_parameters(teacher), "distilled": count_parameters(halve_layers(teacher))}
    rows = {row["key"]: row for row in results["rows"]}
    assert {key: rows[key]["parameters"] for key in expected} == expected
    assert rows["distilled"]["layers"] == settings["num_layers"] // 2
    ratio = expected["distilled"] / expected["teacher"]
    table = (out / "table.md").read_text()
    assert f"| distilled student / teacher (this run) | {ratio:.0%} |" in table
    assert f"{expected['teacher']:,}" in table and f"{expected['distilled']:,}" in table
    assert table in completed.stdout, "the table should also be printed"


def test_quick_run_writes_the_plot_and_plain_progress(quick_run):
    completed, out = quick_run
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "vocab.txt").read_text().splitlines()[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    results = json.loads((out / "results.json").read_text())
    assert [curve["label"] for curve in results["curves"]] == [
        "teacher",
        "distilled student",
        "random-init student",
        "halved student, MLM only",
    ]
    frequent = results["frequent_token"]
    assert 0 < frequent["accuracy"] < 1 and frequent["token"] in (out / "vocab.txt").read_text().splitlines()
    assert f"({frequent['token']!r}) scores {frequent['accuracy']:.1%}" in (out / "table.md").read_text()
    assert "\r" not in completed.stderr, "no progress bar when the output is not a terminal"
    assert "teacher: held-out masked-token accuracy" in completed.stderr


def test_one_stub_left_stops_before_training_naming_that_exercise(tmp_path):
    package = copy_package(SOLUTIONS_DIR, tmp_path / "one_stub")
    shutil.copy(EXERCISES_DIR / "ex4_masking.py", package / "ex4_masking.py")
    completed = run_distil(package, "--quick", "--out", str(tmp_path / "out"))
    assert completed.returncode == 1
    assert "Traceback" not in completed.stderr + completed.stdout
    assert (
        "ex4 is not started: the teacher is pretrained with your DynamicMasker; open one_stub/ex4_masking.py"
        in completed.stderr.splitlines()
    )
    assert not any(line.startswith(("ex1", "ex2", "ex3", "ex5")) for line in completed.stderr.splitlines())
    assert not (tmp_path / "out" / "table.md").exists()


def test_a_correct_masker_other_than_the_solution_runs(tmp_path):
    package = copy_package(SOLUTIONS_DIR, tmp_path / "alternatives")
    (package / "ex4_masking.py").write_text(ALTERNATIVE_MASKER)
    completed = run_distil(package, "--quick", "--out", str(tmp_path / "out"))
    assert completed.returncode == 0, completed.stderr[-2000:]
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert {row["key"] for row in results["rows"]} == {"teacher", "distilled", "random_init", "mlm_only"}
    assert (tmp_path / "out" / "table.md").is_file() and (tmp_path / "out" / "curves.png").is_file()
