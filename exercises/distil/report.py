"""What a run measures and prints: inference time, the table, the curves."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .settings import PAPER, DistilError
from .training import Curve


@torch.no_grad()
def inference_milliseconds(models: dict[str, nn.Module], batch: Tensor, repeats: int) -> dict[str, float]:
    """Median CPU time of one forward pass on ``batch``, per model, the models taking turns."""
    for model in models.values():
        model.eval()
        model(batch)
    times: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(repeats):
        for name, model in models.items():
            started = time.perf_counter()
            model(batch)
            times[name].append((time.perf_counter() - started) * 1000)
    return {name: statistics.median(values) for name, values in times.items()}


@dataclass
class Row:
    """One model's line of the table."""

    key: str
    label: str
    layers: int
    parameters: int
    milliseconds: float
    accuracy: float
    perplexity: float


def percent(value: float) -> str:
    return f"{value:.0%}"


def format_table(rows: list[Row], teacher: Row, notes: list[str]) -> str:
    """The results in Markdown: each model against the teacher, then the student beside the paper."""
    columns = (
        "model", "layers", "parameters", "vs teacher", "CPU ms / batch", "vs teacher",
        "masked-token accuracy", "vs teacher", "perplexity", "vs teacher",
    )  # fmt: skip
    lines = ["| " + " | ".join(columns) + " |", "|---" + "|---:" * (len(columns) - 1) + "|"]
    for row in rows:
        cells = (
            row.label,
            str(row.layers),
            f"{row.parameters:,}",
            percent(row.parameters / teacher.parameters),
            f"{row.milliseconds:.1f}",
            percent(row.milliseconds / teacher.milliseconds),
            f"{row.accuracy:.1%}",
            percent(row.accuracy / teacher.accuracy),
            f"{row.perplexity:.1f}",
            f"{row.perplexity / teacher.perplexity:.2f}x",
        )
        lines.append("| " + " | ".join(cells) + " |")
    student = next(row for row in rows if row.key == "distilled")
    time_ratio = student.milliseconds / teacher.milliseconds
    lines += [
        "",
        "| student / teacher | parameters | CPU time | quality |",
        "|---|---:|---:|---:|",
        (
            f"| DistilBERT / BERT-base (paper) | {percent(PAPER['parameters'])} (66.4M / 109.5M) "
            f"| {percent(PAPER['time'])} (410 s / 668 s: 60% faster) "
            f"| {percent(PAPER['quality'])} (GLUE 77.0 / 79.5) |"
        ),
        (
            f"| distilled student / teacher (this run) | {percent(student.parameters / teacher.parameters)} "
            f"| {percent(time_ratio)} ({1 / time_ratio - 1:.0%} faster) "
            f"| {percent(student.accuracy / teacher.accuracy)} (masked-token accuracy) |"
        ),
        "",
        *notes,
    ]
    return "\n".join(lines) + "\n"


def plot_curves(curves: list[Curve], path: Path) -> None:
    """Training loss (smoothed) and held-out accuracy against the step, one line per model."""
    try:
        import matplotlib
    except ImportError as exc:
        raise DistilError(
            "matplotlib is not installed (it draws curves.png): pip install matplotlib"
        ) from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(11, 4))
    for curve in curves:
        window = max(1, len(curve.losses) // 20)
        kernel = torch.ones(window) / window
        smoothed = F.conv1d(torch.tensor(curve.losses)[None, None], kernel[None, None]).flatten().tolist()
        loss_axis.plot(curve.steps[window - 1 :], smoothed, label=f"{curve.label} ({curve.loss_name})")
        accuracy_axis.plot(
            curve.eval_steps, [100 * a for a in curve.eval_accuracies], marker="o", label=curve.label
        )
    loss_axis.set(xlabel="training step", ylabel="training loss (moving average)", title="Training loss")
    accuracy_axis.set(
        xlabel="training step", ylabel="held-out masked-token accuracy (%)", title="Held-out accuracy"
    )
    loss_axis.legend(fontsize=7)
    accuracy_axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
