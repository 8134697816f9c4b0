"""ex3 (halving the layers): the usual slips as formulas of the call's inputs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from torch import Tensor, nn

from .core import Candidate


def layer_index_mistakes(num_teacher_layers: int) -> list[Candidate]:
    """What the usual slips give for ``student_layer_indices(num_teacher_layers)``."""
    n = num_teacher_layers
    keep = (n + 1) // 2
    candidates = [
        Candidate(
            [0, 2, 4, 7, 9, 11][:keep] if n == 12 else None,
            "That is the released DistilBERT script's choice (it keeps the last layer); the exercise asks "
            "for every other layer: range(0, n, 2).",
        ),
        Candidate(
            list(range(0, n - 1, 2)) if n % 2 else None,
            f"For an odd count keep ceil(n / 2) layers: {n} layers give {keep}.",
        ),
        Candidate(list(range(1, n, 2)), "Start with layer 0 (the first layer), then every other one."),
        Candidate(list(range(keep)), "That is the first half of the layers; take every other layer instead."),
        Candidate(list(range(n - keep, n)), "That is the last half of the layers; take every other layer."),
        Candidate(
            list(range(n - 1, -1, -2)), "Those are the right layers in reverse order: list them from 0 up."
        ),
    ]
    return [candidate for candidate in candidates if candidate.value is not None]


def held_teacher_layers(
    student_layers: Iterable[nn.Module | Mapping[str, Tensor]],
    teacher_layers: Iterable[nn.Module | Mapping[str, Tensor]],
) -> list[int | None]:
    """For each student layer, the index of the teacher layer whose weights it holds exactly (None: none).

    Args:
        student_layers: the student's encoder layers (modules or their state dicts), in order.
        teacher_layers: the teacher's encoder layers (modules, or state dicts saved before the call), in
            order.

    Returns:
        One entry per student layer: a teacher layer's index, or None when its weights match no teacher
        layer (fresh or changed weights).
    """

    def state_of(layer: nn.Module | Mapping[str, Tensor]) -> Mapping[str, Tensor]:
        return layer if isinstance(layer, Mapping) else layer.state_dict()

    teacher_states = [state_of(layer) for layer in teacher_layers]

    def same(a: Mapping[str, Tensor], b: Mapping[str, Tensor]) -> bool:
        return a.keys() == b.keys() and all(
            a[name].shape == b[name].shape and torch.equal(a[name], b[name]) for name in a
        )

    held: list[int | None] = []
    for layer in student_layers:
        state = state_of(layer)
        held.append(
            next((index for index, teacher in enumerate(teacher_states) if same(state, teacher)), None)
        )
    return held


def layer_choice_mistakes(num_teacher_layers: int, layers: list[int] | None = None) -> list[Candidate]:
    """Which teacher layers the usual slips of ``halve_layers(teacher, layers)`` leave in the student.

    Compare with the student's :func:`held_teacher_layers`. With ``layers=None`` the default choice is
    ``student_layer_indices``, whose slips (:func:`layer_index_mistakes`) show here too.
    """
    n = num_teacher_layers
    candidates: list[Candidate] = []
    if layers is None:
        candidates += layer_index_mistakes(n)
        candidates.append(
            Candidate(
                list(range(n)),
                "The student holds every teacher layer: the layers not chosen were not removed.",
            )
        )
        return candidates
    chosen = list(layers)
    if sorted(chosen) != chosen:
        candidates.append(
            Candidate(
                sorted(chosen),
                f"Those are the layers asked for, but sorted: keep them in the order given ({chosen}).",
            )
        )
    candidates += [
        Candidate(list(range(n)), "The student holds every teacher layer: keep only the layers asked for."),
        Candidate(
            list(range(0, n, 2)),
            f"That is the default choice (every other layer): use the layers asked for, {chosen}.",
        ),
    ]
    return [candidate for candidate in candidates if candidate.value != chosen]
