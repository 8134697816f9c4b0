"""Hints on request, from a nudge to nearly the answer (never the code).

python -m exercises.hints            which exercises have hints, and how many
python -m exercises.hints ex2        the first hint for ex2
python -m exercises.hints ex2 2      the second one
python -m exercises.hints ex2 --all  all of them
python -m exercises.hints --help     this usage
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from typing import NoReturn


def _paragraphs(text: str) -> tuple[str, ...]:
    """The hints in ``text``, one per paragraph, each on one line."""
    return tuple(" ".join(paragraph.split()) for paragraph in text.strip().split("\n\n"))


HINTS: dict[str, tuple[str, ...]] = {
    "ex1": _paragraphs(
        """
        Start with the plain softmax: exp of each logit divided by the sum of the exps along `dim`. The
        temperature only changes the input: use logits / T instead of logits.

        Softmax does not change when the same number is subtracted from every logit. Subtract the
        largest (scaled) logit along `dim` (`amax(dim=dim, keepdim=True)`) before exp(), and exp() can
        no longer overflow: the largest term becomes exp(0) = 1.

        Check the temperature first: 0, a negative number, nan and inf must raise ValueError.
        `math.isfinite` tells nan and inf apart from ordinary numbers. Build new tensors rather than
        writing into `logits` (no `logits /= T`, no `out=`): the caller's tensor must stay as it was.
        """
    ),
    "ex2": _paragraphs(
        """
        Soften both sides with the same T: the student as log-probabilities (`F.log_softmax(s / T,
        -1)`), the teacher as probabilities (`F.softmax(t / T, -1)`). `F.kl_div(input, target)` wants
        exactly that pair, in that order, and computes KL(target || input).

        The teacher is fixed: `.detach()` its logits so no gradient reaches it. The mean is over
        positions, not over positions x classes: sum the KL over the last dim, then average.
        `reduction='batchmean'` does this for 2-D logits; `reduction='mean'` is C times too small.

        Multiply by T**2 at the end: the soft targets' gradients shrink as 1/T**2 (Hinton et al. 2015,
        section 2). For 3-D logits (batch x sequence x vocab), flatten the positions or sum over the
        classes with reduction='none'.

        With a mask, keep only the positions where it is True and divide by how many there are (at least
        1, so an all-False mask gives 0). In student_loss the hard term is an ordinary `F.cross_entropy`
        on the raw student logits (T = 1) with `ignore_index=-100`.
        """
    ),
    "ex3": _paragraphs(
        """
        student_layer_indices is a one-liner with `range` and a step; check the count first.

        Never edit the teacher: `copy.deepcopy(teacher)` gives a student of the same class whose weights
        are copies, and copying the model in one call keeps the tied MLM decoder tied to the copied word
        embeddings.

        The layers live in `encoder.layer`, an `nn.ModuleList`; for BertForMaskedLM the encoder is
        `model.bert.encoder`. Replace the student's list by a new `nn.ModuleList` of the kept layers, in
        the order given.

        Update `config.num_hidden_layers` on the student (every config object it holds: `student.config`
        and, for BertForMaskedLM, `student.bert.config`). Validate `layers` before copying anything:
        empty, negative or too large must raise ValueError.
        """
    ),
    "ex4": _paragraphs(
        """
        Work with boolean tensors of the input's shape: one for 'special', one for 'selected', one for
        'became [MASK]', one for 'became random'. `torch.isin` finds the special ids; remember that the
        mask id itself is special.

        Draw each choice with `torch.bernoulli(torch.full(shape, p), generator=generator)` and pass the
        generator to every random call (`torch.randint(..., generator=generator)` too): then the same
        seed gives the same output.

        Three draws: selected = Bernoulli(mlm_probability) and not special; to_mask =
        Bernoulli(mask_replace_prob) and selected; to_random = Bernoulli(random_replace_prob / (1 -
        mask_replace_prob)) and selected and not to_mask. Without the division only 2% of the selected
        tokens become random instead of 10%.

        Clone the input before writing into it. Labels: the original id where selected, -100 elsewhere
        (`torch.where`).
        """
    ),
    "ex5": _paragraphs(
        """
        `model.parameters()` yields each Parameter object once, even when two modules share it;
        `numel()` gives its number of elements. `state_dict()` would count the tied decoder twice.

        For the breakdown, walk `model.named_children()` and remember the `id()` of every parameter
        already counted; parameters the model holds directly are `model.parameters(recurse=False)`.

        The closed form: embeddings (V + P + T) H + 2H, each layer 4H^2 + 2HI + 9H + I, the pooler H^2 +
        H. Write down the weights and biases of one layer's Linear and LayerNorm modules in model.py and
        add them up. Read `use_pooler` with getattr(config, 'use_pooler', True).
        """
    ),
}


def _command() -> str:
    return f"python -m {__package__ or 'exercises'}.hints"


class _OneLineParser(argparse.ArgumentParser):
    """An argument parser whose error is one line naming the problem (and the choices), no usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog=_command(),
        description="Hints on request, one at a time, from a nudge to nearly the answer (never the code).",
        epilog=f"Examples: {_command()} ex2   |   {_command()} ex2 2   |   {_command()} ex2 --all",
    )
    parser.add_argument(
        "exercise", nargs="?", help=f"the exercise: {', '.join(HINTS)} (none: list how many hints each has)"
    )
    parser.add_argument("number", nargs="?", help="which hint, from 1 (default 1)")
    parser.add_argument("--all", action="store_true", help="show every hint of the exercise")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Print hints as the command line asks; return the exit status.

    Args:
        argv: the arguments after the program name (``["ex2", "2"]``); None reads ``sys.argv``.

    Returns:
        0 on success, 2 for an unknown exercise or hint number.
    """
    parser = _parser()
    try:
        args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as stop:
        return int(stop.code or 0)
    if args.number == "--all":
        args.all, args.number = True, None
    if args.exercise is None:
        print("Hints, one at a time, from a nudge to nearly the answer:")
        for exercise, hints in HINTS.items():
            print(f"  {exercise}: {len(hints)} hints   ({_command()} {exercise})")
        return 0
    exercise = args.exercise.lower()
    if exercise not in HINTS:
        print(
            f"{_command()}: no exercise {args.exercise!r}; choose one of {', '.join(HINTS)}.", file=sys.stderr
        )
        return 2
    hints = HINTS[exercise]
    if args.all:
        numbers = list(range(1, len(hints) + 1))
    else:
        try:
            numbers = [int(args.number) if args.number is not None else 1]
        except ValueError:
            numbers = [0]
        if not 1 <= numbers[0] <= len(hints):
            print(
                f"{_command()}: {exercise} has hints 1 to {len(hints)} (or --all); got {args.number!r}.",
                file=sys.stderr,
            )
            return 2
    for number in numbers:
        heading = f"{exercise} hint {number} of {len(hints)}:"
        print(textwrap.fill(f"{heading} {hints[number - 1]}", width=100, subsequent_indent="  "))
    last = numbers[-1]
    if last < len(hints):
        print(f"(next: {_command()} {exercise} {last + 1})")
    return 0


def hint_count(exercise: str) -> int:
    """How many hints ``exercise`` has (0 for an unknown one)."""
    return len(HINTS.get(exercise, ()))


if __name__ == "__main__":
    sys.exit(main())
