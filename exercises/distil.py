"""DistilBERT in miniature, end to end, on your own five functions.

``python -m exercises.distil [--quick | --long] [--out DIR] [--seed N]``

The DistilBERT paper (Sanh et al. 2019, arXiv:1910.01108) pretrained nothing itself: it took BERT-base,
kept one layer out of two, and trained that student on BERT's soft targets at T = 2 plus the masked
language-model loss. The student had 60% of the parameters, ran 60% faster and kept 97% of BERT's GLUE
score. This command does the same thing at a size a laptop trains in minutes:

1. **Text**: the Python reference manual that ships with Python (``pydoc_data.topics``, about 65,000
   words of technical English), split by topic into training and held-out text. A WordPiece vocabulary
   with BERT's special tokens is trained on the training text with Hugging Face ``tokenizers``.
2. **Teacher**: the given ``BertForMaskedLM`` (6 layers, hidden size 128), pretrained by masked language
   modelling with your ``DynamicMasker`` (ex4): a fresh mask on every batch, as RoBERTa does.
3. **Student**: your ``halve_layers`` (ex3) on the teacher, trained with your ``student_loss`` (ex2) at
   T = 2, with DistilBERT's weights (5 on the soft targets, 2 on the labels: ``alpha = 5 / 7``).
4. **Ablations**, the paper's: the same student shape from random weights with the same loss, and the
   halved student trained on the labels alone. ``--long`` adds RoBERTa's: a teacher pretrained with one
   static mask per sequence, repeated every epoch.
5. **The table**: parameters (your ``count_parameters``, ex5), CPU time per batch (median of repeated
   runs), held-out masked-token accuracy and perplexity, each also as a share of the teacher's, beside
   the paper's figures. Written to ``DIR/table.md`` and printed; learning curves in ``DIR/curves.png``;
   every number in ``DIR/results.json``. Your ``softmax_with_temperature`` (ex1) shows what the teacher's
   soft targets look like at T = 1 and T = 2.

Before training, the visible checks of the five exercises run once; an exercise that is not done stops
the run with one line saying what it is needed for and which file to open.

A run repeats: every random draw comes from generators seeded by ``--seed``, the data order is fixed
and torch uses at most 2 threads. The default run takes a few minutes on 2 CPU cores, ``--quick`` under
a minute, ``--long`` about five times the default. Dropout is off: each model sees its text only a few
times, so it underfits rather than overfits, and dropout would only slow its learning.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import math
import os
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .model import BertConfig, BertForMaskedLM

PACKAGE_DIR = Path(__file__).resolve().parent
PACKAGE = __package__ or PACKAGE_DIR.name
MAX_THREADS = 2

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
"""BERT's special tokens; [PAD] comes first so that its id is 0, ``BertConfig.pad_token_id``."""
HELD_OUT_EVERY = 10
HELD_OUT_OFFSET = 5
"""Topics ``sorted(topics)[5::10]`` are held out (about 8% of the words), the others are trained on."""

TEMPERATURE = 2.0
SOFT_WEIGHT, HARD_WEIGHT = 5.0, 2.0
"""DistilBERT's README recipe: 5.0 * KL at T = 2 + 2.0 * MLM (its cosine loss is left out here)."""
ALPHA = SOFT_WEIGHT / (SOFT_WEIGHT + HARD_WEIGHT)

PAPER = {
    "parameters": 66_362_880 / 109_482_240,
    "time": 410 / 668,
    "quality": 77.0 / 79.5,
}
"""DistilBERT against BERT-base: parameters counted with transformers, CPU inference time on STS-B dev
(410 s against 668 s), GLUE macro-score (77.0 against 79.5); Sanh et al. 2019, arXiv:1910.01108."""

WHY_NEEDED = {
    "ex1": "the teacher's soft targets are shown with your softmax_with_temperature",
    "ex2": "the student is trained with your student_loss",
    "ex3": "the student is made from the teacher by your halve_layers",
    "ex4": "the teacher is pretrained with your DynamicMasker",
    "ex5": "the table counts parameters with your count_parameters",
}
EXERCISE_MODULES = {
    "ex1": "ex1_softmax",
    "ex2": "ex2_distillation",
    "ex3": "ex3_layers",
    "ex4": "ex4_masking",
    "ex5": "ex5_params",
}
MAX_CHECK_MESSAGE_CHARS = 160


class DistilError(Exception):
    """A problem the learner can act on; reported as one line, without a traceback."""


# ------------------------------------------------------------------------------------------------ settings


@dataclass(frozen=True)
class Settings:
    """The size of a run: model shape, data, steps and measurements."""

    name: str
    vocab_size: int = 2048
    seq_len: int = 32
    hidden_size: int = 128
    num_layers: int = 6
    num_heads: int = 4
    intermediate_size: int = 512
    batch_size: int = 32
    teacher_steps: int = 600
    student_steps: int = 300
    learning_rate: float = 1e-3
    warmup_fraction: float = 0.06
    evaluations: int = 6
    timing_repeats: int = 15
    timing_batch: int = 32
    static_mask_teacher: bool = False


MODES = {
    "quick": Settings(
        "quick",
        seq_len=64,
        hidden_size=64,
        num_layers=4,
        num_heads=2,
        intermediate_size=256,
        batch_size=16,
        teacher_steps=150,
        student_steps=75,
        learning_rate=3e-3,
        evaluations=3,
        timing_repeats=7,
    ),
    "default": Settings("default"),
    "long": Settings(
        "long",
        teacher_steps=3000,
        student_steps=1500,
        evaluations=10,
        timing_repeats=30,
        static_mask_teacher=True,
    ),
}
"""``--quick`` is a smaller model (4 layers, hidden size 64) for a first look and the tests; the default
and ``--long`` differ only in training steps (and ``--long`` adds the static-mask teacher). With a
2,048-token vocabulary the 3-layer student has 60% of the 6-layer teacher's parameters, as DistilBERT
has 60.6% of BERT-base's.

The default teacher's 600 steps of 32 rows of 32 tokens (about five passes over the training text) are
what fits the default run's budget. Short rows buy steps, and steps are what counts: a 6-layer teacher of
this size first learns only which tokens are frequent and uses the context only later. With 32 rows of 64
tokens at 1e-3 it got past the frequent tokens after about 150 steps; with 16 rows of 64 tokens at 2e-3 it
stayed there for all of 320. ``--quick``'s teacher stops before that point."""


# ---------------------------------------------------------------------------------- the learner's functions


@dataclass
class ExerciseOutcome:
    """What the visible checks of one exercise did."""

    passed: int = 0
    not_started: int = 0
    failures: list[str] = field(default_factory=list)
    import_error: str | None = None

    @property
    def status(self) -> str:
        if self.import_error is not None or self.failures:
            return "failing"
        if self.not_started:
            return "in progress" if self.passed else "not started"
        return "done" if self.passed else "not run"


_STUB = re.compile(r"^(ex\d+): implement \S+")
_CHECK_FILE = re.compile(r"^test_(ex\d+)\w*\.py$")


def _is_stub(exc: BaseException | None) -> bool:
    """True when ``exc`` (or what caused it) is an untouched stub's ``NotImplementedError``."""
    for _ in range(5):
        if exc is None:
            return False
        if isinstance(exc, NotImplementedError) and exc.args and _STUB.match(str(exc.args[0])):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    line = lines[0] if lines else ""
    return line if len(line) <= MAX_CHECK_MESSAGE_CHARS else line[: MAX_CHECK_MESSAGE_CHARS - 3] + "..."


class VisibleCheckOutcomes:
    """A pytest plugin that tallies the visible checks' outcomes per exercise."""

    def __init__(self) -> None:
        self.outcomes: dict[str, ExerciseOutcome] = {}

    def _entry(self, path_name: str) -> ExerciseOutcome | None:
        match = _CHECK_FILE.match(path_name)
        return self.outcomes.setdefault(match.group(1), ExerciseOutcome()) if match else None

    def pytest_collectreport(self, report) -> None:
        if report.failed:
            entry = self._entry(Path(report.nodeid.split("::")[0]).name)
            if entry is not None:
                lines = [line for line in str(report.longrepr).splitlines() if line.strip()]
                entry.import_error = _first_line(lines[-1].lstrip("E ")) if lines else "cannot be imported"

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        """A wrapper, so that it sees every check even when another plugin makes the report itself."""
        yield
        entry = self._entry(item.path.name)
        if entry is None or call.when not in ("setup", "call"):
            return
        if call.excinfo is None:
            if call.when == "call":
                entry.passed += 1
        elif _is_stub(call.excinfo.value):
            entry.not_started += 1
        elif not call.excinfo.errisinstance(pytest.skip.Exception):
            entry.failures.append(_first_line(str(call.excinfo.value)) or call.excinfo.typename)


def _shown(path: Path) -> str:
    try:
        return path.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return str(path)


def run_visible_checks() -> dict[str, ExerciseOutcome]:
    """Runs ``pytest`` on this package's visible checks once, in this process, printing nothing."""
    plugin = VisibleCheckOutcomes()
    arguments = [str(PACKAGE_DIR), "-q", "-p", "no:cacheprovider", "-p", "no:warnings"]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        pytest.main(arguments, plugins=[plugin])
    return {exercise: plugin.outcomes.get(exercise, ExerciseOutcome()) for exercise in EXERCISE_MODULES}


def problems_with(outcomes: dict[str, ExerciseOutcome]) -> list[str]:
    """One line per exercise that is not done: its state, what this command needs it for, what to open."""
    lines = []
    for exercise, outcome in outcomes.items():
        why = WHY_NEEDED[exercise]
        path = _shown(PACKAGE_DIR / f"{EXERCISE_MODULES[exercise]}.py")
        status = outcome.status
        if status == "done":
            continue
        if status == "not started":
            lines.append(f"{exercise} is not started: {why}; open {path}")
        elif status == "in progress":
            lines.append(f"{exercise} is not finished: {why}; finish the TODOs in {path}")
        elif status == "not run":
            lines.append(f"{exercise} has no visible check that ran: {why}; run pytest {_shown(PACKAGE_DIR)}")
        else:
            reason = outcome.import_error or outcome.failures[0]
            lines.append(
                f"{exercise} fails a visible check ({reason}): {why}; run pytest {_shown(PACKAGE_DIR)} "
                f"-m {exercise}"
            )
    return lines


@dataclass(frozen=True)
class LearnerFunctions:
    """The five functions this run uses, taken from the package it sits in."""

    softmax_with_temperature: Callable
    student_loss: Callable
    halve_layers: Callable
    DynamicMasker: type
    count_parameters: Callable


def learner_functions() -> LearnerFunctions:
    modules = {
        exercise: importlib.import_module(f"{PACKAGE}.{name}") for exercise, name in EXERCISE_MODULES.items()
    }
    return LearnerFunctions(
        softmax_with_temperature=modules["ex1"].softmax_with_temperature,
        student_loss=modules["ex2"].student_loss,
        halve_layers=modules["ex3"].halve_layers,
        DynamicMasker=modules["ex4"].DynamicMasker,
        count_parameters=modules["ex5"].count_parameters,
    )


@contextlib.contextmanager
def calling(what: str) -> Iterator[None]:
    """Turns an exception raised by the learner's code into a one-line :class:`DistilError`."""
    try:
        yield
    except DistilError:
        raise
    except Exception as exc:
        raise DistilError(f"{what} raised {type(exc).__name__}: {_first_line(str(exc))}") from exc


# ---------------------------------------------------------------------------------------------------- text


@dataclass
class Corpus:
    """Token ids of the training and held-out text, cut into ``[CLS] ... [SEP]`` rows of ``seq_len``."""

    train: Tensor
    held_out: Tensor
    vocab_size: int
    mask_token_id: int
    special_token_ids: list[int]
    train_words: int
    held_out_words: int
    tokens: list[str]
    """The vocabulary, in id order."""


def reference_manual_topics() -> tuple[list[str], list[str]]:
    """The Python reference manual's topics (``pydoc_data.topics``): (training texts, held-out texts)."""
    try:
        from pydoc_data.topics import topics
    except ImportError as exc:
        raise DistilError(
            "this Python has no pydoc_data.topics (the reference manual's text this command trains on)"
        ) from exc
    names = sorted(topics)
    held_out = set(names[HELD_OUT_OFFSET::HELD_OUT_EVERY])
    train_texts = [topics[name] for name in names if name not in held_out]
    held_out_texts = [topics[name] for name in names if name in held_out]
    return train_texts, held_out_texts


def train_wordpiece(texts: Sequence[str], vocab_size: int):
    """A BERT-style WordPiece tokenizer (lower case, BERT's pre-tokenizer, special tokens) for ``texts``.

    The same texts give the same vocabulary every time. ``tokenizers``' trainer alone does not: it numbers
    the word-continuing pieces (``##e``) in hash-map order, and those numbers break ties between merges
    of equal count (huggingface/tokenizers issue 1794). Here every ``##`` character is numbered first, in
    sorted order, and the trained vocabulary is then loaded into a fresh tokenizer.
    """
    try:
        from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    except ImportError as exc:
        raise DistilError("Hugging Face tokenizers is not installed: pip install tokenizers") from exc

    def bert_style(model):
        tokenizer = Tokenizer(model)
        tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
        tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tokenizer.decoder = decoders.WordPiece()
        return tokenizer

    trainee = bert_style(models.WordPiece(unk_token="[UNK]"))
    continuing = set()
    for text in texts:
        normalized = trainee.normalizer.normalize_str(text)
        for word, _ in trainee.pre_tokenizer.pre_tokenize_str(normalized):
            continuing.update(word[1:])
    numbered_first = [*SPECIAL_TOKENS, *(f"##{character}" for character in sorted(continuing))]
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, special_tokens=numbered_first, show_progress=False
    )
    trainee.train_from_iterator(texts, trainer=trainer)
    tokenizer = bert_style(models.WordPiece(trainee.get_vocab(), unk_token="[UNK]"))
    tokenizer.add_special_tokens(list(SPECIAL_TOKENS))
    return tokenizer


def rows_of(tokenizer, texts: Sequence[str], seq_len: int) -> Tensor:
    """The texts' tokens cut into ``[CLS] ... [SEP]`` rows of ``seq_len``, a short rest dropped."""
    ids: list[int] = []
    for encoding in tokenizer.encode_batch(list(texts), add_special_tokens=False):
        ids.extend(encoding.ids)
    body = seq_len - 2
    count = len(ids) // body
    pieces = torch.tensor(ids[: count * body], dtype=torch.long).view(count, body)
    cls = torch.full((count, 1), tokenizer.token_to_id("[CLS]"), dtype=torch.long)
    sep = torch.full((count, 1), tokenizer.token_to_id("[SEP]"), dtype=torch.long)
    return torch.cat([cls, pieces, sep], dim=1)


def build_corpus(settings: Settings, out_dir: Path) -> Corpus:
    """Trains the vocabulary (written to ``out_dir/vocab.txt``) and tokenizes both splits."""
    train_texts, held_out_texts = reference_manual_topics()
    tokenizer = train_wordpiece(train_texts, settings.vocab_size)
    tokenizer.model.save(str(out_dir))
    special_ids = [tokenizer.token_to_id(token) for token in SPECIAL_TOKENS]
    return Corpus(
        train=rows_of(tokenizer, train_texts, settings.seq_len),
        held_out=rows_of(tokenizer, held_out_texts, settings.seq_len),
        vocab_size=tokenizer.get_vocab_size(),
        mask_token_id=tokenizer.token_to_id("[MASK]"),
        special_token_ids=[
            token_id for token_id in special_ids if token_id != tokenizer.token_to_id("[MASK]")
        ],
        train_words=sum(len(text.split()) for text in train_texts),
        held_out_words=sum(len(text.split()) for text in held_out_texts),
        tokens=[token for token, _ in sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])],
    )


# ------------------------------------------------------------------------------------------------ training


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


# --------------------------------------------------------------------------------------------- measurement


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


# ---------------------------------------------------------------------------------------------------- run


def run(
    settings: Settings, out_dir: Path, seed: int, functions: LearnerFunctions, threads: int = MAX_THREADS
) -> dict:
    """Pretrains the teacher, distils the students, measures; writes table.md, curves.png and results.json."""
    torch.set_num_threads(max(1, min(threads, os.cpu_count() or 1)))
    phases: dict[str, float] = {}
    run_started = time.perf_counter()

    started = time.perf_counter()
    corpus = build_corpus(settings, out_dir)
    phases["tokenizer"] = time.perf_counter() - started
    print(
        f"Text: the Python reference manual, {corpus.train_words:,} words to train on and "
        f"{corpus.held_out_words:,} held out; WordPiece vocabulary of {corpus.vocab_size:,}; "
        f"{corpus.train.shape[0]} training rows and {corpus.held_out.shape[0]} held-out rows of "
        f"{settings.seq_len} tokens ({phases['tokenizer']:.1f} s)",
        file=sys.stderr,
    )

    with calling("DynamicMasker(...)"):
        masker = functions.DynamicMasker(corpus.vocab_size, corpus.mask_token_id, corpus.special_token_ids)
    with calling("your DynamicMasker on the held-out rows"):
        held_out_ids, held_out_labels = masker(corpus.held_out, generator=torch.Generator().manual_seed(seed))
    held_out = HeldOut(held_out_ids, held_out_labels)

    config = BertConfig(
        vocab_size=corpus.vocab_size,
        hidden_size=settings.hidden_size,
        num_hidden_layers=settings.num_layers,
        num_attention_heads=settings.num_heads,
        intermediate_size=settings.intermediate_size,
        max_position_embeddings=settings.seq_len,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    curves: list[Curve] = []

    def pretrain(label: str, phase_seed: int, static_masks: tuple[Tensor, Tensor] | None) -> BertForMaskedLM:
        torch.manual_seed(phase_seed)
        model = BertForMaskedLM(config)
        curve = Curve(label, "MLM")
        mask_generator = torch.Generator().manual_seed(phase_seed + 1)

        def loss_of_batch(batch_rows: Tensor, step: int) -> Tensor:
            if static_masks is not None:
                masked_ids, labels = static_masks[0][batch_rows], static_masks[1][batch_rows]
            else:
                with calling("your DynamicMasker"):
                    masked_ids, labels = masker(corpus.train[batch_rows], generator=mask_generator)
            return masked_lm_loss(model(masked_ids).logits, labels)

        train(
            model, curve, loss_of_batch, corpus.train, settings, settings.teacher_steps, held_out, phase_seed
        )
        curves.append(curve)
        return model

    started = time.perf_counter()
    teacher = pretrain("teacher", seed * 1000 + 1, None)
    phases["teacher"] = time.perf_counter() - started
    teacher.eval()
    for parameter in teacher.parameters():
        parameter.requires_grad_(False)

    soft_targets = soft_target_summary(teacher, held_out, functions)
    print(
        f"The teacher's soft targets (your softmax_with_temperature): its top token gets "
        f"{soft_targets['top_probability_t1']:.0%} of the probability at T = 1 and "
        f"{soft_targets['top_probability_t2']:.0%} at T = 2, where the rest (dark knowledge) counts more.",
        file=sys.stderr,
    )

    def distil(
        label: str, key: str, student: BertForMaskedLM, phase_seed: int, soft: bool
    ) -> BertForMaskedLM:
        torch.manual_seed(phase_seed)
        curve = Curve(label, "student_loss" if soft else "MLM")
        mask_generator = torch.Generator().manual_seed(phase_seed + 1)

        def loss_of_batch(batch_rows: Tensor, step: int) -> Tensor:
            with calling("your DynamicMasker"):
                masked_ids, labels = masker(corpus.train[batch_rows], generator=mask_generator)
            student_logits = student(masked_ids).logits
            if not soft:
                return masked_lm_loss(student_logits, labels)
            with torch.no_grad():
                teacher_logits = teacher(masked_ids).logits
            with calling("your student_loss"):
                return functions.student_loss(
                    student_logits, teacher_logits, labels, temperature=TEMPERATURE, alpha=ALPHA
                )

        started = time.perf_counter()
        train(
            student,
            curve,
            loss_of_batch,
            corpus.train,
            settings,
            settings.student_steps,
            held_out,
            phase_seed,
        )
        phases[key] = time.perf_counter() - started
        curves.append(curve)
        return student

    def halved() -> BertForMaskedLM:
        with calling("your halve_layers on the teacher"):
            student = functions.halve_layers(teacher)
        for parameter in student.parameters():
            parameter.requires_grad_(True)
        if any(a is b for a in student.parameters() for b in teacher.parameters()):
            raise DistilError("your halve_layers returned a student that shares parameters with the teacher")
        return student

    distilled = distil("distilled student", "distilled", halved(), seed * 1000 + 2, soft=True)
    student_layers = len(distilled.bert.encoder.layer)
    torch.manual_seed(seed * 1000 + 3)
    random_init = BertForMaskedLM(replace(config, num_hidden_layers=student_layers))
    random_init = distil("random-init student", "random_init", random_init, seed * 1000 + 3, soft=True)
    mlm_only = distil("halved student, MLM only", "mlm_only", halved(), seed * 1000 + 4, soft=False)

    models = {"teacher": teacher, "distilled": distilled, "random_init": random_init, "mlm_only": mlm_only}
    labels = {
        "teacher": "teacher (your DynamicMasker)",
        "distilled": "distilled student (halve_layers + student_loss)",
        "random_init": "same shape, random init + student_loss",
        "mlm_only": "halve_layers + MLM only",
    }
    if settings.static_mask_teacher:
        with calling("your DynamicMasker"):
            static = masker(corpus.train, generator=torch.Generator().manual_seed(seed * 1000 + 5))
        started = time.perf_counter()
        models["static_teacher"] = pretrain("teacher, one static mask", seed * 1000 + 1, static)
        phases["static_teacher"] = time.perf_counter() - started
        labels["static_teacher"] = "teacher, one static mask repeated (BERT)"

    started = time.perf_counter()
    milliseconds = inference_milliseconds(
        models, corpus.held_out[: settings.timing_batch], settings.timing_repeats
    )
    rows = []
    for key, model in models.items():
        accuracy, perplexity = evaluate(model, held_out)
        with calling("your count_parameters"):
            parameters = int(functions.count_parameters(model))
        rows.append(
            Row(
                key,
                labels[key],
                len(model.bert.encoder.layer),
                parameters,
                milliseconds[key],
                accuracy,
                perplexity,
            )
        )
    phases["measure"] = time.perf_counter() - started
    with calling("your count_parameters"):
        kept_whole = int(functions.count_parameters(teacher)) - sum(
            int(functions.count_parameters(layer)) for layer in teacher.bert.encoder.layer
        )
    teacher_row = rows[0]
    frequent_id, frequent_accuracy = frequent_token_baseline(held_out)
    notes = [
        (
            f"Held-out text: {corpus.held_out_words:,} words of the Python reference manual "
            f"({int((held_out.labels != -100).sum()):,} masked tokens, the same mask for every model); "
            f"CPU time: median of {settings.timing_repeats} forward passes on {settings.timing_batch} rows "
            f"of {settings.seq_len} tokens, {torch.get_num_threads()} thread(s)."
        ),
        (
            f"Always guessing the token masked most often in the held-out text "
            f"({corpus.tokens[frequent_id]!r}) scores {frequent_accuracy:.1%}: above that, a model has "
            "learnt something from the context."
        ),
        (
            f"The embeddings and the MLM head ({kept_whole:,} parameters) are kept whole by halve_layers: "
            "that is why half the layers is not half the parameters."
        ),
        f"Run: python -m {PACKAGE}.distil{'' if settings.name == 'default' else ' --' + settings.name}"
        + f" --seed {seed}.",
    ]
    table = format_table(rows, teacher_row, notes)
    (out_dir / "table.md").write_text(table, encoding="utf-8")
    plot_curves(curves, out_dir / "curves.png")
    phases["total"] = time.perf_counter() - run_started
    results = {
        "mode": settings.name,
        "seed": seed,
        "settings": asdict(settings),
        "threads": torch.get_num_threads(),
        "phase_seconds": phases,
        "soft_targets": soft_targets,
        "frequent_token": {"token": corpus.tokens[frequent_id], "accuracy": frequent_accuracy},
        "rows": [asdict(row) for row in rows],
        "paper": PAPER,
        "text": {
            "train_words": corpus.train_words,
            "held_out_words": corpus.held_out_words,
            "vocab_size": corpus.vocab_size,
            "train_rows": corpus.train.shape[0],
            "held_out_rows": corpus.held_out.shape[0],
        },
        "curves": [asdict(curve) for curve in curves],
    }
    (out_dir / "results.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    print(table)
    print(
        f"Wrote {_shown(out_dir / 'table.md')}, {_shown(out_dir / 'curves.png')} and "
        f"{_shown(out_dir / 'results.json')} in {phases['total']:.0f} s."
    )
    return results


@torch.no_grad()
def soft_target_summary(
    teacher: nn.Module, held_out: HeldOut, functions: LearnerFunctions
) -> dict[str, float]:
    """The teacher's mean top probability at the held-out masked positions, at T = 1 and T = 2 (ex1)."""
    logits = teacher(held_out.masked_ids[:32]).logits[held_out.labels[:32] != -100]
    summary = {}
    for temperature, key in ((1.0, "top_probability_t1"), (TEMPERATURE, "top_probability_t2")):
        with calling(f"your softmax_with_temperature at T = {temperature:g}"):
            probabilities = functions.softmax_with_temperature(logits, temperature)
        summary[key] = float(probabilities.max(dim=-1).values.mean())
    return summary


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=f"python -m {PACKAGE}.distil",
        description="DistilBERT in miniature: pretrain a small BERT with your DynamicMasker, halve it with "
        "your halve_layers, distil it with your student_loss, and compare with the paper's table.",
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="a small run, under a minute")
    size.add_argument(
        "--long",
        action="store_true",
        help="five times the default, plus a teacher pretrained with static masks",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("distil-out"),
        help="folder for table.md, curves.png, results.json and vocab.txt (default distil-out)",
    )
    parser.add_argument("--seed", type=int, default=0, help="the seed of every random draw (default 0)")
    parser.add_argument(
        "--threads",
        type=int,
        choices=(1, 2),
        default=MAX_THREADS,
        help="torch threads (default 2; 1 is faster on a machine busy with other work)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    settings = MODES["quick" if arguments.quick else "long" if arguments.long else "default"]
    try:
        arguments.out.mkdir(parents=True, exist_ok=True)
        probe = arguments.out / ".distil-write-test"
        probe.write_text("", encoding="utf-8")
        probe.unlink()
    except OSError as exc:
        print(f"cannot write to {arguments.out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(f"Running the visible checks of your five exercises ({_shown(PACKAGE_DIR)})...", file=sys.stderr)
    problems = problems_with(run_visible_checks())
    if problems:
        for line in problems:
            print(line, file=sys.stderr)
        print(
            f"This run uses all five exercises; `pytest {_shown(PACKAGE_DIR)}` shows the details.",
            file=sys.stderr,
        )
        return 1
    try:
        run(settings, arguments.out, arguments.seed, learner_functions(), arguments.threads)
    except DistilError as exc:
        print(f"stopped: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopped (interrupted)", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
