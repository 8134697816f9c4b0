"""Training and evaluating a masked language model, with a teacher's soft targets or without."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .settings import DistilError, Settings


@dataclass
class Curve:
    """One model's learning curve: training loss at every step, held-out accuracy now and then."""

    label: str
    loss_name: str
    steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    eval_accuracies: list[float] = field(default_factory=list)
    seconds: float = 0.0


class Progress:
    """A tqdm bar with the loss when stderr is a terminal; otherwise a few plain lines."""

    def __init__(self, label: str, total: int):
        self.label = label
        self.total = total
        self.started = time.perf_counter()
        self.bar = None
        if sys.stderr.isatty():
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self.bar = tqdm(total=total, desc=label, unit="step", file=sys.stderr, leave=True)
        self.next_report = max(1, total // 4)

    def update(self, step: int, loss: float) -> None:
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{loss:.3f}", refresh=False)
        elif step >= self.next_report and step < self.total:
            print(f"  {self.label}: step {step}/{self.total}, loss {loss:.3f}", file=sys.stderr, flush=True)
            self.next_report += max(1, self.total // 4)

    def close(self, summary: str) -> None:
        if self.bar is not None:
            self.bar.close()
        elapsed = time.perf_counter() - self.started
        print(f"  {self.label}: {summary} ({elapsed:.0f} s)", file=sys.stderr, flush=True)


def batches(rows: Tensor, batch_size: int, steps: int, generator: torch.Generator) -> Iterator[Tensor]:
    """``steps`` batches of row indices: epochs shuffled by ``generator``, a last partial batch dropped."""
    per_epoch = max(1, rows.shape[0] // batch_size)
    order = torch.randperm(rows.shape[0], generator=generator)
    position = 0
    for _ in range(steps):
        if position == per_epoch:
            order = torch.randperm(rows.shape[0], generator=generator)
            position = 0
        yield order[position * batch_size : (position + 1) * batch_size]
        position += 1


def warmup_then_linear_decay(optimizer: torch.optim.Optimizer, steps: int, warmup_fraction: float):
    warmup = max(1, int(steps * warmup_fraction))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (steps - step) / max(1, steps - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


@dataclass
class HeldOut:
    """The held-out rows with one fixed mask, the same for every model."""

    masked_ids: Tensor
    labels: Tensor


def frequent_token_baseline(held_out: HeldOut) -> tuple[int, float]:
    """(token id, accuracy) of always guessing the token that is most often masked in the held-out text.

    The best any guess blind to context can score, known only in hindsight: a model that has learnt
    nothing but which tokens are frequent scores at most this.
    """
    chosen_labels = held_out.labels[held_out.labels != -100]
    counts = torch.bincount(chosen_labels)
    token_id = int(counts.argmax())
    return token_id, int(counts[token_id]) / max(1, chosen_labels.numel())


@torch.no_grad()
def evaluate(model: nn.Module, held_out: HeldOut, batch_size: int = 64) -> tuple[float, float]:
    """(masked-token accuracy, perplexity) over the held-out rows' selected positions."""
    was_training = model.training
    model.eval()
    correct = 0
    total = 0
    summed_cross_entropy = 0.0
    for start in range(0, held_out.masked_ids.shape[0], batch_size):
        masked_ids = held_out.masked_ids[start : start + batch_size]
        labels = held_out.labels[start : start + batch_size]
        logits = model(masked_ids).logits
        selected = labels != -100
        chosen_logits, chosen_labels = logits[selected], labels[selected]
        correct += int((chosen_logits.argmax(dim=-1) == chosen_labels).sum())
        total += int(selected.sum())
        summed_cross_entropy += float(F.cross_entropy(chosen_logits, chosen_labels, reduction="sum"))
    model.train(was_training)
    return correct / max(1, total), math.exp(summed_cross_entropy / max(1, total))


def train(
    model: nn.Module,
    curve: Curve,
    loss_of_batch: Callable[[Tensor, int], Tensor],
    rows: Tensor,
    settings: Settings,
    steps: int,
    held_out: HeldOut,
    seed: int,
) -> None:
    """AdamW with warm-up and linear decay for ``steps`` batches; fills ``curve``.

    Args:
        loss_of_batch: (row indices of the batch, step) -> the loss to minimise.
    """
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate, weight_decay=0.01)
    scheduler = warmup_then_linear_decay(optimizer, steps, settings.warmup_fraction)
    order_generator = torch.Generator().manual_seed(seed)
    eval_every = max(1, steps // settings.evaluations)
    progress = Progress(curve.label, steps)
    started = time.perf_counter()
    model.train()
    for step, batch_rows in enumerate(batches(rows, settings.batch_size, steps, order_generator), start=1):
        loss = loss_of_batch(batch_rows, step)
        loss_value = float(loss.detach())
        if not math.isfinite(loss_value):
            raise DistilError(f"{curve.label}: the loss is {loss_value} at step {step}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        curve.steps.append(step)
        curve.losses.append(loss_value)
        progress.update(step, loss_value)
        if step % eval_every == 0 or step == steps:
            accuracy, _ = evaluate(model, held_out)
            curve.eval_steps.append(step)
            curve.eval_accuracies.append(accuracy)
    model.eval()
    curve.seconds = time.perf_counter() - started
    progress.close(f"held-out masked-token accuracy {curve.eval_accuracies[-1]:.1%}")


def masked_lm_loss(logits: Tensor, labels: Tensor) -> Tensor:
    return F.cross_entropy(logits.flatten(0, -2), labels.flatten(), ignore_index=-100)
