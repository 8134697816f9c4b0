"""The run: teacher, distilled student, random-init and MLM-only students, the table; the command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path

import torch
from torch import Tensor, nn

from ..model import BertConfig, BertForMaskedLM
from .learner import LearnerFunctions, _shown, calling, learner_functions, problems_with, run_visible_checks
from .report import Row, format_table, inference_milliseconds, plot_curves
from .settings import (
    ALPHA,
    MAX_THREADS,
    MODES,
    PACKAGE,
    PACKAGE_DIR,
    PAPER,
    TEMPERATURE,
    DistilError,
    Settings,
)
from .text import build_corpus
from .training import Curve, HeldOut, evaluate, frequent_token_baseline, masked_lm_loss, train


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
        + f" --seed {seed}{'' if threads == MAX_THREADS else f' --threads {threads}'}.",
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
        f"Wrote {_shown(out_dir / 'table.md')}, {_shown(out_dir / 'curves.png')}, "
        f"{_shown(out_dir / 'results.json')} and {_shown(out_dir / 'vocab.txt')} in {phases['total']:.0f} s."
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
