"""Naming the mistake behind a wrong value, shared by the visible checks and the hidden graders.

A failed check says what was called, what came back and what was expected (see :mod:`checking`).
This module adds one sentence. Each exercise's known slips are written here as formulas of the call's
inputs (``distillation_mistakes(student, teacher, T)`` gives the value a loss without the T**2 factor
would have, the value of the reversed KL, ...). A slip is named only when the observed value matches
its formula within a tolerance; otherwise the sentence is the contract's, and the numbers (got,
expected, relative error) speak for themselves::

    hint = explain(actual, distillation_mistakes(student, teacher, 4.0), "ex2.loss", expected=expected)
    check_tensor(actual, expected, call=call, hint=hint)

Nothing here computes an exercise's answer that the visible checks do not already compute.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "CLAUSES",
    "HINTON",
    "MATCH_RTOL",
    "NAMED",
    "Candidate",
    "breakdown_mistakes",
    "clause",
    "count_mistakes",
    "diagnose",
    "distillation_mistakes",
    "explain",
    "formula_mistakes",
    "held_teacher_layers",
    "layer_choice_mistakes",
    "layer_index_mistakes",
    "replacement_mistakes",
    "softmax_mistakes",
    "student_loss_mistakes",
]

MATCH_RTOL = 1e-4
"""How close a wrong result must be to a slip's value (relative to the slip's largest entry) to name it."""

HINTON = "(Hinton et al. 2015, section 2)"

NAMED: list[str] = []
"""Every sentence :func:`diagnose` has named, newest last. The graders' results plugin clears it before
each check and reports the named slip of a failed check separately from its message."""

CLAUSES: dict[str, str] = {
    "ex1.value": "softmax_with_temperature returns softmax(logits / T) along dim, same shape and dtype as "
    "the logits.",
    "ex1.stable": "softmax_with_temperature is finite for |logits| up to 1e4 in float32 (subtract the "
    "largest logit along dim first).",
    "ex2.loss": "distillation_loss is T**2 * mean over positions of KL(softmax(teacher/T) || "
    "softmax(student/T)); classes on the last dim, every leading dim is a position.",
    "ex2.mask": "With a mask only positions where it is True count; the mean is over them; a mask with no "
    "True position gives 0.",
    "ex2.student": "student_loss is alpha * distillation_loss(student, teacher, T, mask) + (1 - alpha) * "
    "cross_entropy(student, labels) at T = 1, labels of -100 ignored.",
    "ex3.indices": "student_layer_indices(n) is every other layer starting with layer 0: [0, 2, 4, ...].",
    "ex3.layers": "halve_layers returns a new model of the teacher's class holding copies of the chosen "
    "teacher layers in the order given.",
    "ex3.config": "The student's config.num_hidden_layers is the number of layers it holds; the teacher's "
    "config object is not modified.",
    "ex3.copies": "Every other weight (embeddings, pooler, MLM head) is copied from the teacher.",
    "ex3.teacher": "The teacher is left exactly as it was; the student shares no parameter with it.",
    "ex4.selection": "Each non-special position is selected independently with mlm_probability.",
    "ex4.replacement": "A selected token becomes mask_token_id with probability mask_replace_prob, a random "
    "id with random_replace_prob, and stays unchanged otherwise.",
    "ex4.labels": "labels holds the original id at selected positions and -100 everywhere else.",
    "ex4.unselected": "Only selected positions change; every other token keeps its id.",
    "ex4.seed": "All randomness comes from generator when one is given, so the same seed gives the same "
    "output.",
    "ex4.input": "The input is not modified (edit a copy: input_ids.clone()).",
    "ex5.count": "count_parameters counts the elements of every parameter, each shared parameter once, "
    "buffers never.",
    "ex5.breakdown": "parameter_breakdown has one key per top-level child (named_children() order), a shared "
    'parameter under the first child that holds it, the model\'s own parameters under "".',
    "ex5.formula": "bert_parameter_count(config) equals count_parameters(BertModel(config)) for every "
    "configuration; a config without use_pooler counts the pooler.",
}
"""The contract's sentence for each value a check compares, said when no known slip matches."""


def clause(key: str) -> str:
    """``"The contract: <sentence>"`` for a key of :data:`CLAUSES`."""
    return f"The contract: {CLAUSES[key]}"


@dataclass(frozen=True)
class Candidate:
    """A known slip: the value it gives for the call being judged, and the sentence that names it.

    Attributes:
        value: a tensor (compared with a relative tolerance; non-finite entries must be non-finite in the
            same places), or an int, list, tuple or dict (compared exactly).
        sentence: what the learner reads when the slip is recognised.
    """

    value: Any
    sentence: str


def _as_float64(value: Any) -> Tensor | None:
    if isinstance(value, Tensor):
        return value.detach().to("cpu", torch.float64)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return torch.tensor(float(value), dtype=torch.float64)
    return None


def _close(actual: Tensor, value: Tensor, rtol: float, atol: float) -> bool:
    if actual.shape != value.shape:
        return False
    finite = torch.isfinite(value)
    if not torch.equal(finite, torch.isfinite(actual)):
        return False
    if not bool(finite.all()):
        same_kind = torch.isnan(value) == torch.isnan(actual)
        if not bool(same_kind.all()) or not torch.equal(
            value[torch.isinf(value)], actual[torch.isinf(value)]
        ):
            return False
    if not bool(finite.any()):
        return True
    difference = (actual[finite] - value[finite]).abs().max().item()
    scale = max(value[finite].abs().max().item(), torch.finfo(torch.float64).tiny)
    return difference <= atol + rtol * scale


def _matches(actual: Any, value: Any, rtol: float, atol: float) -> bool:
    actual_tensor, value_tensor = _as_float64(actual), _as_float64(value)
    if isinstance(value, Tensor) or (isinstance(actual, Tensor) and value_tensor is not None):
        if not isinstance(actual, Tensor) or value_tensor is None or actual_tensor is None:
            return False
        return _close(actual_tensor, value_tensor, rtol, atol)
    if type(actual) is bool or type(value) is bool:
        return False
    return type(actual) is type(value) and actual == value


def diagnose(
    actual: Any,
    candidates: Iterable[Candidate],
    *,
    expected: Any = None,
    rtol: float = MATCH_RTOL,
    atol: float = 0.0,
) -> str:
    """The sentence of the first candidate slip whose value ``actual`` matches, or ``""``.

    Args:
        actual: the learner's (wrong) result.
        candidates: the slips to try, most specific first.
        expected: the right value; a candidate that matches it too is never named (at T = 1 the KL with
            and without T**2 is the same number, so that slip cannot be told apart there).
        rtol: relative tolerance for tensors and floats, against the candidate's largest finite entry.
        atol: absolute tolerance (the statistical bound when the values are observed rates).
    """
    for candidate in candidates:
        if expected is not None and _matches(expected, candidate.value, rtol, atol):
            continue
        if _matches(actual, candidate.value, rtol, atol):
            NAMED.append(candidate.sentence)
            return candidate.sentence
    return ""


def explain(
    actual: Any,
    candidates: Iterable[Candidate],
    contract: str,
    *,
    expected: Any = None,
    rtol: float = MATCH_RTOL,
    atol: float = 0.0,
) -> str:
    """The matching slip's sentence (see :func:`diagnose`), else the contract's sentence ``contract``
    (a key of :data:`CLAUSES`, or a sentence of its own)."""
    sentence = diagnose(actual, candidates, expected=expected, rtol=rtol, atol=atol)
    if sentence:
        return sentence
    return clause(contract) if contract in CLAUSES else contract


# --------------------------------------------------------------------------------------------------
# ex1: softmax with a temperature


def softmax_mistakes(logits: Tensor, temperature: float, dim: int = -1) -> list[Candidate]:
    """What the usual slips give for ``softmax_with_temperature(logits, temperature, dim)``."""
    t = float(temperature)
    x = logits.detach().to(torch.float64)
    candidates = []
    if t < 1:
        candidates.append(
            Candidate(
                F.softmax(x, dim),
                f"That is softmax(logits / 1): a temperature below 1 (here {t:g}) was treated as 1 "
                "(clamped, e.g. max(T, 1)) or ignored. T < 1 is allowed: it sharpens the distribution.",
            )
        )
    candidates += [
        Candidate(F.softmax(x, dim), "That is the plain softmax(logits): the temperature was ignored."),
        Candidate(
            F.softmax(x * t, dim),
            "That is softmax(logits * T): the logits must be divided by T (a higher T gives a softer "
            "distribution), not multiplied.",
        ),
        Candidate(
            F.softmax(x / t**2, dim),
            "That is softmax(logits / T**2): divide by T once; the T**2 factor belongs to the distillation "
            "loss (ex2), not to the softmax.",
        ),
    ]
    for other in range(x.dim()) if x.dim() > 1 else ():
        if other != dim % x.dim():
            candidates.append(
                Candidate(
                    F.softmax(x / t, other),
                    f"Those probabilities sum to 1 along dim={other}: normalise along dim={dim}"
                    + (" (the default, the last dim)." if dim == -1 else "."),
                )
            )
    if logits.is_floating_point():
        scaled = logits.detach() / t
        exponentials = torch.exp(scaled)
        candidates.append(
            Candidate(
                exponentials / exponentials.sum(dim, keepdim=True),
                "exp() overflowed: exp(89) is already inf in float32. Subtract the largest logit along dim "
                "before exponentiating; the probabilities do not change.",
            )
        )
        shifted = torch.exp(scaled - scaled.max())
        candidates.append(
            Candidate(
                shifted / shifted.sum(dim, keepdim=True),
                "That subtracted the largest logit of the whole tensor: a row far below it underflows to "
                "0 / 0. Subtract each row's own largest logit (amax along dim, keepdim=True).",
            )
        )
    return candidates


# --------------------------------------------------------------------------------------------------
# ex2: the distillation loss


def _kl_per_position(student: Tensor, teacher: Tensor, t_student: float, t_teacher: float) -> Tensor:
    """KL(softmax(teacher / t_teacher) || softmax(student / t_student)) per position, float64."""
    log_q = F.log_softmax(student.detach().double() / t_student, -1)
    log_p = F.log_softmax(teacher.detach().double() / t_teacher, -1)
    return (log_p.exp() * (log_p - log_q)).sum(-1)


def _cross_entropy_per_position(student: Tensor, teacher: Tensor, temperature: float) -> Tensor:
    """sum(-softmax(teacher / T) * log_softmax(student / T)) per position, float64."""
    log_q = F.log_softmax(student.detach().double() / temperature, -1)
    p = F.softmax(teacher.detach().double() / temperature, -1)
    return -(p * log_q).sum(-1)


def _masked_mean(per_position: Tensor, mask: Tensor | None) -> Tensor:
    if mask is None:
        return per_position.mean()
    chosen = per_position[mask.bool()]
    return chosen.sum() / max(chosen.numel(), 1)


def distillation_mistakes(
    student: Tensor, teacher: Tensor, temperature: float, mask: Tensor | None = None
) -> list[Candidate]:
    """What the usual slips give for ``distillation_loss(student, teacher, temperature, mask)``."""
    t = float(temperature)
    classes = student.shape[-1]
    positions = student.numel() // max(classes, 1)
    kl = _kl_per_position(student, teacher, t, t)
    mean = _masked_mean(kl, mask)
    per_element = (
        f"That is {classes} times too small, one factor per class: reduction='mean' divides by every "
        "element (positions x classes). Sum the KL over the classes and average over the positions "
        "(reduction='batchmean')."
    )
    if mask is not None and int(mask.bool().sum()) == 1:
        per_element = (
            f"That is {classes} times too small, one factor per class. With one position selected, two slips "
            "give this number: reduction='mean' (it divides by every element, positions x classes), or the "
            "selected rows lost their position dim (a .squeeze() on one row leaves a 1-D tensor, whose "
            "length batchmean then divides by: the number of classes). Keep the (positions, classes) shape "
            "and use reduction='batchmean'."
        )
    candidates = [
        Candidate(
            _masked_mean(_kl_per_position(teacher, student, t, t), mask) * t**2,
            "That is KL(student || teacher), the reversed direction. The loss is KL(teacher || student): "
            "F.kl_div(log_softmax(student / T), softmax(teacher / T)) takes the student's "
            "LOG-probabilities first and the teacher's probabilities second.",
        ),
        Candidate(mean, f"That is the KL without the T**2 factor. Did you multiply the KL by T**2? {HINTON}"),
        Candidate(
            mean * t,
            "That is the KL times T, not T**2: the soft gradients scale as 1/T**2, so multiply by "
            f"T**2. {HINTON}",
        ),
        Candidate(mean * t**2 / classes, per_element),
        Candidate(
            _masked_mean(_kl_per_position(student, teacher, t, 1.0), mask) * t**2,
            "That uses the teacher's probabilities at T = 1: soften the teacher with the same temperature "
            f"as the student, softmax(teacher / T). {HINTON}",
        ),
        Candidate(
            _masked_mean(_kl_per_position(student, teacher, 1.0, t), mask) * t**2,
            "That uses the student's probabilities at T = 1: soften the student with the same temperature "
            "as the teacher, log_softmax(student / T).",
        ),
        Candidate(
            _masked_mean(_kl_per_position(student, teacher, 1.0, 1.0), mask) * t**2,
            "That is the KL at T = 1 times T**2: divide both sets of logits by T before the softmax.",
        ),
        Candidate(
            _masked_mean(_cross_entropy_per_position(student, teacher, t), mask) * t**2,
            "That is the cross-entropy with the teacher's probabilities, sum(-p log q): the KL plus the "
            "teacher's entropy. The loss is the KL, sum(p (log p - log q)).",
        ),
    ]
    if t < 1:
        clamped = max(t, 1.0)
        candidates.append(
            Candidate(
                _masked_mean(_kl_per_position(student, teacher, clamped, clamped), mask) * clamped**2,
                f"That is the loss at T = 1: a temperature below 1 (here {t:g}) was treated as 1. T < 1 is "
                "allowed: use the temperature given.",
            )
        )
    if mask is None:
        candidates.append(
            Candidate(
                kl.sum() * t**2,
                f"That is the sum over the {positions} positions, not the mean: divide by the number of "
                "positions (reduction='batchmean').",
            )
        )
        if student.dim() > 2:
            batch = student.shape[0]
            candidates.append(
                Candidate(
                    kl.sum() * t**2 / batch,
                    f"That divides by the batch size ({batch}) only: every leading dim is a position, so "
                    f"average over all {positions} positions (flatten to (positions, classes) first).",
                )
            )
    else:
        selected = mask.bool()
        count = int(selected.sum())
        candidates += [
            Candidate(
                kl.mean() * t**2,
                "That is the loss over every position: the mask was ignored.",
            ),
            Candidate(
                (kl * selected).sum() / selected.numel() * t**2,
                f"Only positions where mask is True count, and the mean is over those positions ({count} "
                f"here), not over all {selected.numel()}.",
            ),
            Candidate(
                (kl * selected).sum() * t**2,
                "That is the sum over the masked positions: divide by how many there are.",
            ),
            Candidate(
                _masked_mean(kl, ~selected) * t**2,
                "That is the mean over the positions where mask is False: the mask was inverted. Keep the "
                "positions where it is True.",
            ),
        ]
        if count == 0:
            candidates.append(
                Candidate(
                    torch.tensor(math.nan, dtype=torch.float64),
                    "A mask with no True position gives 0 (not nan): divide the sum by max(count, 1).",
                )
            )
    if student.is_floating_point():
        with torch.no_grad():
            p = F.softmax(teacher.detach() / t, -1)
            log_q = torch.log(F.softmax(student.detach() / t, -1))
            naive = F.kl_div(log_q, p, reduction="none").sum(-1)
        candidates.append(
            Candidate(
                _masked_mean(naive.double(), mask) * t**2,
                "log(softmax(x)) gives log(0) = -inf once a probability underflows; use F.log_softmax for "
                "the student (it subtracts the largest logit), never torch.log of a softmax.",
            )
        )
    return candidates


def student_loss_mistakes(
    student: Tensor,
    teacher: Tensor,
    labels: Tensor,
    temperature: float,
    alpha: float,
    mask: Tensor | None = None,
) -> list[Candidate]:
    """What the usual slips give for ``student_loss(student, teacher, labels, temperature, alpha, mask)``."""
    t = float(temperature)
    classes = student.shape[-1]
    flat = student.detach().double().reshape(-1, classes)
    flat_labels = labels.reshape(-1)
    counted = flat_labels != -100

    def cross_entropy(logits: Tensor, keep: Tensor) -> Tensor:
        if not bool(keep.any()):
            return logits.new_zeros(())
        return F.cross_entropy(logits[keep], flat_labels[keep])

    soft = _masked_mean(_kl_per_position(student, teacher, t, t), mask) * t**2
    hard = cross_entropy(flat, counted)
    candidates = [
        Candidate(
            (1 - alpha) * soft + alpha * hard,
            "alpha weighs the soft (distillation) loss and 1 - alpha the hard one; the weights are swapped.",
        ),
        Candidate(
            alpha * soft + (1 - alpha) * cross_entropy(flat / t, counted),
            "The hard loss is the ordinary cross-entropy at T = 1: do not divide the logits by T there.",
        ),
        Candidate(
            alpha * soft + (1 - alpha) * hard * t**2,
            "Only the soft loss carries the T**2 factor; the hard cross-entropy is used as it is.",
        ),
        Candidate(
            alpha * soft / t**2 + (1 - alpha) * hard,
            "distillation_loss already includes T**2: use it as it is in the weighted sum.",
        ),
        Candidate(
            soft + hard, "It is a weighted average: alpha * soft + (1 - alpha) * hard, not the plain sum."
        ),
        Candidate(
            alpha * soft + (1 - alpha) * F.cross_entropy(flat, flat_labels.clamp(min=0)),
            "Labels of -100 mark positions without a label: leave them out of the hard loss "
            "(F.cross_entropy's ignore_index=-100 does).",
        ),
    ]
    if mask is not None:
        selected = mask.reshape(-1).bool()
        candidates += [
            Candidate(
                alpha * _kl_per_position(student, teacher, t, t).mean() * t**2 + (1 - alpha) * hard,
                "The mask was not passed on to distillation_loss: the soft loss counts only the positions "
                "where mask is True.",
            ),
            Candidate(
                alpha * soft + (1 - alpha) * cross_entropy(flat, counted & selected),
                "The mask applies to the soft (distillation) loss only; the hard loss counts every labelled "
                "position (labels of -100 already mark the others).",
            ),
        ]
    if not bool(counted.any()):
        candidates.append(
            Candidate(
                torch.tensor(math.nan, dtype=torch.float64),
                "No label counts here (all are -100): the hard loss is then 0, not nan (a mean of nothing).",
            )
        )
    return candidates


# --------------------------------------------------------------------------------------------------
# ex3: halving the layers


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


# --------------------------------------------------------------------------------------------------
# ex4: dynamic masking


def replacement_mistakes(mask_replace_prob: float, random_replace_prob: float) -> list[Candidate]:
    """The shares (mask, random, unchanged) among selected tokens that the usual slips give.

    Compare observed shares with ``diagnose(observed, ..., atol=bound)``, ``bound`` the statistical
    tolerance of the observation.
    """
    p_mask, p_random = mask_replace_prob, random_replace_prob
    remaining = 1 - p_mask
    unchanged = 1 - p_mask - p_random

    def shares(mask: float, random: float, kept: float) -> Tensor:
        return torch.tensor([mask, random, kept], dtype=torch.float64)

    candidates = [
        Candidate(
            shares(p_mask, remaining * p_random, remaining * (1 - p_random)),
            f"Drawing 'random' with probability {p_random:g} among the {remaining:.0%} left after [MASK] "
            f"gives {remaining * p_random:.0%}: among those, use random_replace_prob / (1 - "
            "mask_replace_prob), as DataCollatorForLanguageModeling does.",
        ),
        Candidate(
            shares(p_mask + p_random, 0.0, unchanged),
            "The random replacements seem to become [MASK] too: put the random ids (not the mask id) at "
            "the positions chosen for random replacement.",
        ),
        Candidate(
            shares(p_mask, remaining, 0.0),
            f"None of the selected tokens stayed unchanged: BERT's recipe keeps {unchanged:.0%} of them as "
            "they are, so the model cannot assume that only [MASK] positions matter.",
        ),
        Candidate(
            shares(p_random, p_mask, unchanged),
            "mask_replace_prob and random_replace_prob are swapped: most selected tokens should become "
            "[MASK].",
        ),
    ]
    right = shares(p_mask, p_random, unchanged)
    return [candidate for candidate in candidates if not torch.allclose(candidate.value, right)]


# --------------------------------------------------------------------------------------------------
# ex5: counting parameters

DOUBLE_COUNT = (
    "A tied (shared) weight was counted twice: state_dict() and named_parameters(remove_duplicate=False) "
    "list it under every name that holds it. Count model.parameters(), which yields each parameter once."
)


def count_mistakes(model: nn.Module, trainable_only: bool = False) -> list[Candidate]:
    """What the usual slips give for ``count_parameters(model, trainable_only)``."""

    def counted(parameters: Iterable[nn.Parameter], *, trainable: bool | None) -> int:
        return sum(p.numel() for p in parameters if trainable is None or p.requires_grad == trainable)

    wanted = True if trainable_only else None
    once = counted(model.parameters(), trainable=wanted)
    every_name = counted((p for _, p in model.named_parameters(remove_duplicate=False)), trainable=wanted)
    buffers = sum(b.numel() for b in model.buffers())
    state = sum(t.numel() for t in model.state_dict().values())
    nested = sum(
        p.numel()
        for module in model.modules()
        for p in module.parameters()
        if wanted is None or p.requires_grad
    )
    everything = counted(model.parameters(), trainable=None)
    if trainable_only:
        candidates = [
            Candidate(
                everything,
                "The frozen parameters (requires_grad=False) were counted: trainable_only=True keeps the "
                "parameters with requires_grad=True only.",
            ),
            Candidate(
                counted(model.parameters(), trainable=False),
                "That is the frozen part: the condition is inverted (keep requires_grad=True).",
            ),
        ]
    else:
        candidates = [
            Candidate(
                counted(model.parameters(), trainable=True),
                "By default (trainable_only=False) frozen parameters count too.",
            )
        ]
    candidates += [
        Candidate(every_name, DOUBLE_COUNT),
        Candidate(
            nested,
            "That counts each parameter once for every module above it (summing module.parameters() over "
            "model.modules()): model.parameters() already goes through every submodule.",
        ),
        Candidate(
            once + buffers,
            "That includes the model's buffers: count parameters only (buffers are not learned).",
        ),
    ]
    if state not in (everything, every_name, once + buffers):
        candidates.append(
            Candidate(
                state,
                "That counts state_dict(): it holds buffers, and a tied weight under every name. Count "
                "model.parameters() only.",
            )
        )
    return [candidate for candidate in candidates if candidate.value != once]


def breakdown_mistakes(model: nn.Module) -> list[Candidate]:
    """What the usual slips give for ``parameter_breakdown(model)``."""
    every_child = {name: sum(p.numel() for p in child.parameters()) for name, child in model.named_children()}
    seen: set[int] = set()
    first_holder: dict[str, int] = {}
    for name, child in model.named_children():
        first_holder[name] = 0
        for parameter in child.parameters():
            if id(parameter) not in seen:
                seen.add(id(parameter))
                first_holder[name] += parameter.numel()
    own = sum(p.numel() for p in model.parameters(recurse=False) if id(p) not in seen)
    candidates = [
        Candidate(
            {**every_child, **({"": own} if own else {})},
            "A shared parameter counts once, under the first child (in named_children() order) that holds "
            "it; later children skip it.",
        ),
    ]
    if own:
        candidates.append(
            Candidate(
                first_holder,
                "Parameters the model holds itself (not in a child) go under "
                'the key "" (model.parameters(recurse=False)).',
            )
        )
    empty = [name for name, number in first_holder.items() if number == 0]
    if empty:
        without_empty = {name: n for name, n in first_holder.items() if n} | ({"": own} if own else {})
        candidates.append(
            Candidate(
                without_empty,
                f"Every top-level child has a key, even one without parameters ({', '.join(empty)}: 0).",
            )
        )
    return candidates


def _field(config: Any, name: str, default: Any = None) -> Any:
    if isinstance(config, Mapping):
        return config.get(name, default)
    return getattr(config, name, default)


def formula_mistakes(config: Any) -> list[Candidate]:
    """What the usual slips give for ``bert_parameter_count(config)`` (a config object or its fields)."""
    v, p = _field(config, "vocab_size"), _field(config, "max_position_embeddings")
    types = _field(config, "type_vocab_size", 0) or 0
    h, i, layers = (
        _field(config, "hidden_size"),
        _field(config, "intermediate_size"),
        _field(config, "num_hidden_layers"),
    )
    has_pooler_field = (isinstance(config, Mapping) and "use_pooler" in config) or (
        not isinstance(config, Mapping) and hasattr(config, "use_pooler")
    )
    use_pooler = bool(_field(config, "use_pooler", True))
    embeddings = (v + p + types) * h + 2 * h
    one_layer = 4 * h * h + 2 * h * i + 9 * h + i
    pooler = h * h + h
    right = embeddings + layers * one_layer + (pooler if use_pooler else 0)
    candidates = [
        Candidate(
            right + pooler if not use_pooler else None,
            "With use_pooler=False there is no pooler: leave out its H^2 + H.",
        ),
        Candidate(
            right - pooler if use_pooler and not has_pooler_field else None,
            "This config has no use_pooler field (transformers' BertConfig has none): count the pooler, as "
            "transformers.BertModel builds one by default (getattr(config, 'use_pooler', True)).",
        ),
        Candidate(
            right - pooler if use_pooler and has_pooler_field else None,
            "With use_pooler=True the pooler counts: add its H^2 + H.",
        ),
        Candidate(
            right - layers * 4 * h,
            "Each layer is 4H short: its two LayerNorms (2H each), or the attention biases (query, key, "
            "value, output: 4H), were left out. One layer is 4H^2 + 2HI + 9H + I.",
        ),
        Candidate(right - 2 * h, "The embeddings' LayerNorm adds 2H (a weight and a bias per feature)."),
        Candidate(
            right + (2 - types) * h if types != 2 else None,
            f"type_vocab_size={types} gives {types} token-type embedding rows (0: none), not always 2.",
        ),
        Candidate(
            right - layers * (4 * h + i + h),
            "The layers' biases were left out: 4H for query, key, value and output, I and H for the "
            "feed-forward pair.",
        ),
        Candidate(
            right - layers * (i + h),
            "The feed-forward biases were left out: the pair H -> I -> H adds I + H biases per layer.",
        ),
    ]
    return [candidate for candidate in candidates if candidate.value is not None and candidate.value != right]
