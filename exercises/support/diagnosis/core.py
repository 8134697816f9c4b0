"""The shared part of the diagnosis: the contract's sentences, a known slip (:class:`Candidate`), and
naming the slip a wrong value matches (:func:`diagnose`, :func:`explain`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

MATCH_RTOL = 1e-4
"""How close a wrong result must be to a slip's value (relative to the slip's largest entry) to name it."""

HINTON = "(Hinton et al. 2015, section 2)"


class NamedSlips:
    """The sentences :func:`diagnose` has named since the last :meth:`clear`, newest last. The graders'
    results plugin clears them after each check and reports the named slip of a failed check separately
    from its message."""

    def __init__(self) -> None:
        self.sentences: list[str] = []

    def add(self, sentence: str) -> None:
        """Record that ``sentence`` was named."""
        self.sentences.append(sentence)

    def newest_in(self, message: str) -> str:
        """The most recently named sentence that ``message`` contains, or ``""``."""
        return next((named for named in reversed(self.sentences) if named in message), "")

    def clear(self) -> None:
        """Forget every sentence named so far."""
        self.sentences.clear()


NAMED = NamedSlips()
"""The slips named in this process (see :class:`NamedSlips`)."""

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
            NAMED.add(candidate.sentence)
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
