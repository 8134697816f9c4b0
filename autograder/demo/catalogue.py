"""Known submissions that judge the graders: the classic mistakes, and correct code in other styles.

``WRONG``: each entry is the solution with one misconception put in (``edits``, old -> new, each old text
occurring exactly once in the solution file) or a whole replacement file (``source``). The hidden graders
must take points off that exercise only and say, in some failed check's message, the words in
``expect``.

``ALTERNATIVES``: correct implementations written differently from the solution (library calls, by hand,
loops, float64 inside, another draw order); each must score 100.

``HOLLOW``: code that checks its arguments and then does not do its job (returns its input, a constant,
or raises on every call); each must score 0 on its exercise and 20 on the others.

``DEMO_MISTAKES``: the few of ``WRONG`` shown in the instructor's demo class.

Entries written here are edits of the solution; the others are whole files kept in ``corpus.toml`` next
to this module (many of them written by someone who read the contract and the stubs but never the
graders), each with its kind, the misconception it carries and the words its hidden feedback contains.

``entry.write(folder)`` writes a complete submission: the five solution files, with this entry's exercise
file changed.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from autograder.layout import EXERCISE_BY_ID, EXERCISES, SOLUTIONS_DIR

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "ALTERNATIVES",
    "DEMO_MISTAKES",
    "HOLLOW",
    "WRONG",
    "Alternative",
    "Hollow",
    "Mistake",
    "by_student",
]

CORPUS = Path(__file__).with_name("corpus.toml")


def _apply(text: str, edits: tuple[tuple[str, str], ...], student: str) -> str:
    for old, new in edits:
        occurrences = text.count(old)
        if occurrences != 1:
            raise ValueError(
                f"{student}: the text to replace occurs {occurrences} times, not once: {old[:60]!r}"
            )
        text = text.replace(old, new)
    return text


@dataclass(frozen=True)
class _Entry:
    student: str
    exercise: str
    edits: tuple[tuple[str, str], ...] = ()
    source: str | None = None

    @property
    def filename(self) -> str:
        return EXERCISE_BY_ID[self.exercise].filename

    def exercise_source(self) -> str:
        """The changed exercise file's text."""
        if self.source is not None:
            return self.source
        return _apply((SOLUTIONS_DIR / self.filename).read_text(), self.edits, self.student)

    def write(self, dest_dir: Path | str) -> Path:
        """Write the five exercise files into ``dest_dir`` (created), this entry's one changed; returns it."""
        folder = Path(dest_dir)
        folder.mkdir(parents=True, exist_ok=True)
        for exercise in EXERCISES:
            text = (SOLUTIONS_DIR / exercise.filename).read_text()
            if exercise.id == self.exercise:
                text = self.exercise_source()
            (folder / exercise.filename).write_text(text)
        return folder


@dataclass(frozen=True)
class Mistake(_Entry):
    """A known-wrong submission; ``expect`` is words the feedback on its exercise must contain."""

    expect: str = ""


@dataclass(frozen=True)
class Alternative(_Entry):
    """A correct submission in another style; ``style`` says what is different."""

    style: str = ""


@dataclass(frozen=True)
class Hollow(_Entry):
    """Code that validates its arguments and does nothing useful; ``style`` says what it returns."""

    style: str = ""


def _corpus() -> tuple[list[Mistake], list[Hollow], list[Alternative]]:
    """The whole-file entries of ``corpus.toml``: (wrong, hollow, correct)."""
    wrong: list[Mistake] = []
    hollow: list[Hollow] = []
    correct: list[Alternative] = []
    for entry in tomllib.loads(CORPUS.read_text())["entry"]:
        common = {"student": entry["student"], "exercise": entry["exercise"], "source": entry["source"]}
        if entry["kind"] == "wrong":
            wrong.append(Mistake(**common, expect=entry["expect"]))
        elif entry["kind"] == "hollow":
            hollow.append(Hollow(**common, style=entry["misconception"]))
        elif entry["kind"] == "correct":
            correct.append(Alternative(**common, style=entry["misconception"]))
        else:
            raise ValueError(f"{CORPUS.name}: {entry['student']} has the unknown kind {entry['kind']!r}")
    return wrong, hollow, correct


_CORPUS_WRONG, HOLLOW, _CORPUS_CORRECT = _corpus()


def _edit(old: str, new: str) -> tuple[str, str]:
    return (old, new)


# --------------------------------------------------------------------------------------------------
# ex1: softmax with a temperature

_EX1_SCALE = "    scaled = logits / temperature_value\n"
_EX1_SHIFT = "    shifted = scaled - scaled.amax(dim=dim, keepdim=True).detach()\n"
_EX1_RETURN = "    return exponentials / exponentials.sum(dim=dim, keepdim=True)\n"

WRONG_EX1 = [
    Mistake(
        "ex1-temperature-ignored",
        "ex1",
        edits=(_edit(_EX1_SCALE, "    scaled = logits * 1.0\n"),),
        expect="the temperature was ignored",
    ),
    Mistake(
        "ex1-temperature-multiplied",
        "ex1",
        edits=(_edit(_EX1_SCALE, "    scaled = logits * temperature_value\n"),),
        expect="not multiplied",
    ),
    Mistake(
        "ex1-temperature-squared",
        "ex1",
        edits=(_edit(_EX1_SCALE, "    scaled = logits / temperature_value**2\n"),),
        expect="softmax(logits / T**2)",
    ),
    Mistake(
        "ex1-overflow-no-max-subtracted",
        "ex1",
        edits=(_edit(_EX1_SHIFT, "    shifted = scaled\n"),),
        expect="exp() overflowed",
    ),
    Mistake(
        "ex1-modifies-input-in-place",
        "ex1",
        edits=(_edit(_EX1_SCALE, "    scaled = logits.div_(temperature_value)\n"),),
        expect="were changed by the call",
    ),
    Mistake(
        "ex1-result-detached",
        "ex1",
        edits=(
            _edit(
                _EX1_RETURN, "    return (exponentials / exponentials.sum(dim=dim, keepdim=True)).detach()\n"
            ),
        ),
        expect="cut off from the autograd graph",
    ),
    Mistake(
        "ex1-always-last-dim",
        "ex1",
        edits=(
            _edit(_EX1_SHIFT, "    shifted = scaled - scaled.amax(dim=-1, keepdim=True).detach()\n"),
            _edit(_EX1_RETURN, "    return exponentials / exponentials.sum(dim=-1, keepdim=True)\n"),
        ),
        expect="not dim=",
    ),
    Mistake(
        "ex1-bad-temperature-accepted",
        "ex1",
        edits=(
            _edit(
                "    if not (math.isfinite(temperature_value) and temperature_value > 0):\n",
                "    if False:\n",
            ),
        ),
        expect="expected a ValueError",
    ),
    Mistake(
        "ex1-float32-inside",
        "ex1",
        edits=(_edit(_EX1_SCALE, "    scaled = logits.float() / temperature_value\n"),),
        expect="the result has the logits' dtype",
    ),
]

# --------------------------------------------------------------------------------------------------
# ex2: the distillation loss

_EX2_LOG_Q = "    log_q_student = F.log_softmax(student_logits / temperature_value, dim=-1)\n"
_EX2_P = "    p_teacher = F.softmax(teacher_logits.detach() / temperature_value, dim=-1)\n"
_EX2_KL = '    kl_per_position = F.kl_div(log_q_student, p_teacher, reduction="none").sum(dim=-1)\n'
_EX2_MEAN = "        mean_kl = kl_per_position.mean()\n"
_EX2_RETURN = "    return mean_kl * temperature_value**2\n"

WRONG_EX2 = [
    Mistake(
        "ex2-no-temperature-squared",
        "ex2",
        edits=(_edit(_EX2_RETURN, "    return mean_kl\n"),),
        expect="Did you multiply the KL by T**2?",
    ),
    Mistake(
        "ex2-temperature-not-squared",
        "ex2",
        edits=(_edit(_EX2_RETURN, "    return mean_kl * temperature_value\n"),),
        expect="times T, not T**2",
    ),
    Mistake(
        "ex2-reversed-kl",
        "ex2",
        edits=(
            _edit(
                _EX2_KL,
                "    log_p_teacher = F.log_softmax(teacher_logits.detach() / temperature_value, dim=-1)\n"
                "    kl_per_position = F.kl_div(\n"
                '        log_p_teacher, log_q_student.exp(), reduction="none"\n'
                "    ).sum(dim=-1)\n",
            ),
        ),
        expect="reversed direction",
    ),
    Mistake(
        "ex2-reduction-mean",
        "ex2",
        edits=(_edit(_EX2_MEAN, "        mean_kl = kl_per_position.mean() / student_logits.shape[-1]\n"),),
        expect="reduction='mean'",
    ),
    Mistake(
        "ex2-sum-over-batch",
        "ex2",
        edits=(_edit(_EX2_MEAN, "        mean_kl = kl_per_position.sum()\n"),),
        expect="not the mean",
    ),
    Mistake(
        "ex2-teacher-not-softened",
        "ex2",
        edits=(_edit(_EX2_P, "    p_teacher = F.softmax(teacher_logits.detach(), dim=-1)\n"),),
        expect="teacher's probabilities at T = 1",
    ),
    Mistake(
        "ex2-log-of-softmax",
        "ex2",
        edits=(
            _edit(
                _EX2_LOG_Q,
                "    log_q_student = torch.log(F.softmax(student_logits / temperature_value, dim=-1))\n",
            ),
        ),
        expect="use F.log_softmax",
    ),
    Mistake(
        "ex2-teacher-not-detached",
        "ex2",
        edits=(_edit(_EX2_P, "    p_teacher = F.softmax(teacher_logits / temperature_value, dim=-1)\n"),),
        expect="sent a gradient into teacher_logits",
    ),
    Mistake(
        "ex2-mask-mean-over-all-positions",
        "ex2",
        edits=(
            _edit(
                "        mean_kl = kl_per_position[selected].sum() / count\n",
                "        mean_kl = kl_per_position[selected].sum() / kl_per_position.numel()\n",
            ),
        ),
        expect="the mean is over those positions",
    ),
    Mistake(
        "ex2-empty-mask-nan",
        "ex2",
        edits=(_edit("        count = selected.sum().clamp(min=1)\n", "        count = selected.sum()\n"),),
        expect="gives 0 (not nan)",
    ),
    Mistake(
        "ex2-3d-divides-by-batch",
        "ex2",
        edits=(_edit(_EX2_MEAN, "        mean_kl = kl_per_position.sum() / student_logits.shape[0]\n"),),
        expect="divides by the batch size",
    ),
    Mistake(
        "ex2-alpha-swapped",
        "ex2",
        edits=(
            _edit(
                "    return alpha_value * soft_loss + (1.0 - alpha_value) * hard_loss\n",
                "    return (1.0 - alpha_value) * soft_loss + alpha_value * hard_loss\n",
            ),
        ),
        expect="weights are swapped",
    ),
    Mistake(
        "ex2-hard-loss-at-temperature",
        "ex2",
        edits=(
            _edit(
                "        student_logits.reshape(-1, num_classes), flat_labels,",
                "        student_logits.reshape(-1, num_classes) / temperature, flat_labels,",
            ),
        ),
        expect="cross-entropy at T = 1",
    ),
    Mistake(
        "ex2-shapes-checked-one-way",
        "ex2",
        edits=(
            _edit(
                "    if student_logits.shape != teacher_logits.shape:\n",
                "    if student_logits.shape[-1] > teacher_logits.shape[-1]:\n",
            ),
        ),
        expect="the logits' shapes differ",
    ),
    Mistake(
        "ex2-minus-100-labels-counted",
        "ex2",
        edits=(
            _edit(
                "    flat_labels = labels.reshape(-1).to(device=student_logits.device, dtype=torch.long)\n",
                "    flat_labels = labels.reshape(-1).to(device=student_logits.device, dtype=torch.long)\n"
                "    flat_labels = flat_labels.clamp(min=0)\n",
            ),
        ),
        expect="Labels of -100",
    ),
]

# --------------------------------------------------------------------------------------------------
# ex3: halving the layers

_EX3_INDICES = "    return list(range(0, num_teacher_layers, 2))\n"

_EX3_BUILD_FRESH = '''"""ex3 as a learner might write it: a fresh, smaller model, the chosen layers loaded."""

from __future__ import annotations

import copy

from torch import nn

from .model import BertForMaskedLM, BertModel


def student_layer_indices(num_teacher_layers: int) -> list[int]:
    if num_teacher_layers < 1:
        raise ValueError("the teacher needs at least one layer")
    return list(range(0, num_teacher_layers, 2))


def halve_layers(teacher: BertModel | BertForMaskedLM, layers=None) -> nn.Module:
    body = teacher.bert if hasattr(teacher, "bert") else teacher
    count = len(body.encoder.layer)
    chosen = list(student_layer_indices(count) if layers is None else layers)
    if not chosen or any(not 0 <= index < count for index in chosen):
        raise ValueError(f"layers must be a non-empty list of indices below {count}")
    config = copy.deepcopy(teacher.config)
    config.num_hidden_layers = len(chosen)
    student = type(teacher)(config)
    student_body = student.bert if hasattr(student, "bert") else student
    for position, index in enumerate(chosen):
        student_body.encoder.layer[position].load_state_dict(body.encoder.layer[index].state_dict())
    return student
'''

_EX3_CUT_TEACHER = '''"""ex3 as a learner might write it: cut the teacher's layer list, then copy it."""

from __future__ import annotations

import copy

from torch import nn

from .model import BertForMaskedLM, BertModel


def student_layer_indices(num_teacher_layers: int) -> list[int]:
    if num_teacher_layers < 1:
        raise ValueError("the teacher needs at least one layer")
    return list(range(0, num_teacher_layers, 2))


def halve_layers(teacher: BertModel | BertForMaskedLM, layers=None) -> nn.Module:
    body = teacher.bert if hasattr(teacher, "bert") else teacher
    count = len(body.encoder.layer)
    chosen = list(student_layer_indices(count) if layers is None else layers)
    if not chosen or any(not 0 <= index < count for index in chosen):
        raise ValueError(f"layers must be a non-empty list of indices below {count}")
    body.encoder.layer = nn.ModuleList([body.encoder.layer[index] for index in chosen])
    teacher.config.num_hidden_layers = len(chosen)
    return copy.deepcopy(teacher)
'''

WRONG_EX3 = [
    Mistake(
        "ex3-distilbert-script-indices",
        "ex3",
        edits=(_edit(_EX3_INDICES, "    return [0, 2, 4, 7, 9, 11][: (num_teacher_layers + 1) // 2]\n"),),
        expect="released DistilBERT script",
    ),
    Mistake(
        "ex3-floor-half-for-odd-counts",
        "ex3",
        edits=(_edit(_EX3_INDICES, "    return list(range(0, num_teacher_layers - 1, 2))\n"),),
        expect="ceil(n / 2)",
    ),
    Mistake(
        "ex3-first-half-of-layers",
        "ex3",
        edits=(_edit(_EX3_INDICES, "    return list(range((num_teacher_layers + 1) // 2))\n"),),
        expect="first half",
    ),
    Mistake(
        "ex3-config-not-updated",
        "ex3",
        edits=(
            _edit(
                "            config.num_hidden_layers = len(student_layers)\n",
                "            pass\n",
            ),
        ),
        expect="than its config.num_hidden_layers says",
    ),
    Mistake(
        "ex3-shares-teacher-layers",
        "ex3",
        edits=(
            _edit(
                "        layer = copy.deepcopy(teacher_layers[index], dict(memo))\n",
                "        layer = teacher_layers[index]\n",
            ),
        ),
        expect="shares tensors with the teacher",
    ),
    Mistake(
        "ex3-fresh-layers",
        "ex3",
        edits=(
            _edit(
                "        layer = copy.deepcopy(teacher_layers[index], dict(memo))\n",
                "        layer = copy.deepcopy(teacher_layers[index], dict(memo))\n"
                "        for part in layer.modules():\n"
                "            if hasattr(part, 'reset_parameters'):\n"
                "                part.reset_parameters()\n",
            ),
        ),
        expect="matches no teacher layer",
    ),
    Mistake(
        "ex3-bad-layers-accepted",
        "ex3",
        edits=(
            _edit("    if not chosen:\n", "    if False:\n"),
            _edit("        if not 0 <= index < num_teacher_layers:\n", "        if False:\n"),
        ),
        expect="expected a ValueError",
    ),
    Mistake(
        "ex3-zero-layers-accepted",
        "ex3",
        edits=(_edit("    if num_teacher_layers < 1:\n", "    if False:\n"),),
        expect="expected a ValueError",
    ),
    Mistake(
        "ex3-only-this-packages-classes",
        "ex3",
        edits=(
            _edit(
                "    body = teacher.bert if isinstance(getattr(teacher, "
                '"bert", None), nn.Module) else teacher\n',
                "    body = teacher.bert if isinstance(teacher, BertForMaskedLM) else teacher\n",
            ),
        ),
        expect="should work on transformers' classes",
    ),
    Mistake(
        "ex3-only-outer-config-updated",
        "ex3",
        edits=(
            _edit(
                "    configs = {id(module.config): module.config for module in student.modules() "
                'if hasattr(module, "config")}\n',
                "    configs = {id(student.config): student.config}\n",
            ),
        ),
        expect="Only the outer config was updated",
    ),
    Mistake("ex3-embeddings-not-copied", "ex3", source=_EX3_BUILD_FRESH, expect="differ from the teacher's"),
    Mistake("ex3-teacher-cut-in-place", "ex3", source=_EX3_CUT_TEACHER, expect="afterwards the teacher"),
]

# --------------------------------------------------------------------------------------------------
# ex4: dynamic masking

_EX4_SHARE = "        random_share = self.random_replace_prob / remaining if remaining > 0 else 0.0\n"
_EX4_SELECT = "        selected = bernoulli(self.mlm_probability) & ~special\n"

WRONG_EX4 = [
    Mistake(
        "ex4-mask-id-toggled-out-of-specials",
        "ex4",
        edits=(
            _edit(
                "            {int(token_id) for token_id in special_token_ids} | {self.mask_token_id}\n",
                "            {int(token_id) for token_id in special_token_ids} ^ {self.mask_token_id}\n",
            ),
        ),
        expect="a special token (id 103) was selected",
    ),
    Mistake(
        "ex4-random-share-of-remainder",
        "ex4",
        edits=(_edit(_EX4_SHARE, "        random_share = self.random_replace_prob\n"),),
        expect="among the 20% left after [MASK] gives 2%",
    ),
    Mistake(
        "ex4-no-unchanged-case",
        "ex4",
        edits=(_edit(_EX4_SHARE, "        random_share = 1.0\n"),),
        expect="None of the selected tokens stayed unchanged",
    ),
    Mistake(
        "ex4-random-becomes-mask",
        "ex4",
        edits=(
            _edit(
                "        masked_ids[replaced_by_random] = random_ids[replaced_by_random]\n",
                "        masked_ids[replaced_by_random] = self.mask_token_id\n",
            ),
        ),
        expect="random replacements seem to become [MASK]",
    ),
    Mistake(
        "ex4-selects-special-tokens",
        "ex4",
        edits=(_edit(_EX4_SELECT, "        selected = bernoulli(self.mlm_probability)\n"),),
        expect="a special token (id",
    ),
    Mistake(
        "ex4-labels-everywhere",
        "ex4",
        edits=(
            _edit(
                "        labels = torch.where(selected, input_ids, torch.full_like(input_ids, -100))\n",
                "        labels = input_ids.clone()\n",
            ),
        ),
        expect="no label is -100",
    ),
    Mistake(
        "ex4-unselected-tokens-replaced",
        "ex4",
        edits=(
            _edit(
                "        replaced_by_mask = bernoulli(self.mask_replace_prob) & selected\n",
                "        replaced_by_mask = bernoulli(self.mask_replace_prob) & ~special\n",
            ),
        ),
        expect="although their label is -100",
    ),
    Mistake(
        "ex4-static-mask",
        "ex4",
        edits=(
            _edit(
                _EX4_SELECT,
                "        if getattr(self, '_selection', None) is None "
                "or self._selection.shape != input_ids.shape:\n"
                "            self._selection = bernoulli(self.mlm_probability)\n"
                "        selected = self._selection & ~special\n",
            ),
        ),
        expect="new pattern on every call",
    ),
    Mistake(
        "ex4-reseeds-every-call",
        "ex4",
        edits=(
            _edit(
                "        device = input_ids.device\n",
                "        device = input_ids.device\n"
                "        if generator is None:\n"
                "            generator = torch.Generator().manual_seed(0)\n",
            ),
        ),
        expect="new pattern on every call",
    ),
    Mistake(
        "ex4-ignores-generator",
        "ex4",
        edits=(
            _edit(
                "            return torch.bernoulli(probabilities, generator=generator).bool().to(device)\n",
                "            return torch.bernoulli(probabilities).bool().to(device)\n",
            ),
            _edit(
                "            input_ids.shape,\n            generator=generator,\n",
                "            input_ids.shape,\n",
            ),
        ),
        expect="Take every random draw from the generator",
    ),
    Mistake(
        "ex4-modifies-input",
        "ex4",
        edits=(_edit("        masked_ids = input_ids.clone()\n", "        masked_ids = input_ids\n"),),
        expect="were changed by the call",
    ),
    Mistake(
        "ex4-probabilities-unchecked",
        "ex4",
        edits=(
            _edit("            if not 0.0 <= float(value) <= 1.0:\n", "            if False:\n"),
            _edit(
                "        if mask_replace_prob + random_replace_prob > 1.0 + 1e-12:\n", "        if False:\n"
            ),
        ),
        expect="expected a ValueError",
    ),
]

# --------------------------------------------------------------------------------------------------
# ex5: counting parameters

_EX5_COUNT = (
    "        parameter.numel() for parameter in model.parameters() "
    "if parameter.requires_grad or not trainable_only\n"
)

WRONG_EX5 = [
    Mistake(
        "ex5-tied-weight-counted-twice",
        "ex5",
        edits=(
            _edit(
                _EX5_COUNT,
                "        parameter.numel()\n"
                "        for _, parameter in model.named_parameters(remove_duplicate=False)\n"
                "        if parameter.requires_grad or not trainable_only\n",
            ),
        ),
        expect="counted twice",
    ),
    Mistake(
        "ex5-buffers-counted",
        "ex5",
        edits=(
            _edit(
                "    return sum(\n" + _EX5_COUNT + "    )\n",
                "    return sum(\n"
                + _EX5_COUNT
                + "    ) + sum(buffer.numel() for buffer in model.buffers())\n",
            ),
        ),
        expect="includes the model's buffers",
    ),
    Mistake(
        "ex5-trainable-only-ignored",
        "ex5",
        edits=(_edit(_EX5_COUNT, "        parameter.numel() for parameter in model.parameters()\n"),),
        expect="frozen parameters (requires_grad=False) were counted",
    ),
    Mistake(
        "ex5-breakdown-counts-shared-twice",
        "ex5",
        edits=(_edit("            if id(parameter) not in seen:\n", "            if True:\n"),),
        expect="once, under the first child",
    ),
    Mistake(
        "ex5-breakdown-forgets-own-parameters",
        "ex5",
        edits=(_edit("    if own:\n", "    if False:\n"),),
        expect='go under the key ""',
    ),
    Mistake(
        "ex5-formula-always-pooler",
        "ex5",
        edits=(
            _edit(
                '    pooler = hidden * hidden + hidden if getattr(config, "use_pooler", True) else 0\n',
                "    pooler = hidden * hidden + hidden\n",
            ),
        ),
        expect="there is no pooler",
    ),
    Mistake(
        "ex5-formula-forgets-layer-norms",
        "ex5",
        edits=(
            _edit(
                "2 * hidden * intermediate + 9 * hidden + intermediate",
                "2 * hidden * intermediate + 5 * hidden + intermediate",
            ),
        ),
        expect="two LayerNorms",
    ),
    Mistake(
        "ex5-count-returns-tensor",
        "ex5",
        edits=(
            _edit("from torch import nn\n", "import torch\nfrom torch import nn\n"),
            _edit(
                "    return sum(\n" + _EX5_COUNT + "    )\n",
                "    return torch.tensor(sum(\n" + _EX5_COUNT + "    ))\n",
            ),
        ),
        expect="expected a plain int",
    ),
]

WRONG: list[Mistake] = WRONG_EX1 + WRONG_EX2 + WRONG_EX3 + WRONG_EX4 + WRONG_EX5 + _CORPUS_WRONG

# --------------------------------------------------------------------------------------------------
# Correct submissions in other styles.

_ALT_EX1_LIBRARY = '''"""ex1 with the library call, checking the temperature first."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def softmax_with_temperature(logits: torch.Tensor, temperature: float = 1.0, dim: int = -1) -> torch.Tensor:
    if not isinstance(temperature, (int, float)) or not math.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"bad temperature {temperature}")
    return F.softmax(logits / temperature, dim=dim)
'''

_ALT_EX1_FLOAT64 = '''"""ex1 by hand in float64 with logsumexp, cast back to the input's dtype."""

from __future__ import annotations

import math

import torch


def softmax_with_temperature(logits: torch.Tensor, temperature: float = 1.0, dim: int = -1) -> torch.Tensor:
    if not (temperature > 0 and math.isfinite(temperature)):
        raise ValueError("temperature must be positive and finite")
    scaled = logits.to(torch.float64) / temperature
    log_probabilities = scaled - torch.logsumexp(scaled, dim=dim, keepdim=True)
    return log_probabilities.exp().to(logits.dtype)
'''

_ALT_EX2_BY_HAND = '''"""ex2 by hand: explicit sums, a Python loop over the rows, no F.kl_div."""

from __future__ import annotations

import math

import torch


def _check(temperature):
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError("temperature must be a positive finite number")


def distillation_loss(student_logits, teacher_logits, temperature=2.0, mask=None):
    _check(temperature)
    if student_logits.shape != teacher_logits.shape:
        raise ValueError("the student's and the teacher's logits differ in shape")
    if mask is not None and mask.shape != student_logits.shape[:-1]:
        raise ValueError("the mask must have the logits' leading dims")
    classes = student_logits.shape[-1]
    student = student_logits.reshape(-1, classes)
    with torch.no_grad():
        teacher = teacher_logits.reshape(-1, classes) / temperature
        log_p = teacher - torch.logsumexp(teacher, dim=-1, keepdim=True)
    keep = torch.ones(student.shape[0], dtype=torch.bool) if mask is None else mask.reshape(-1)
    total = student.new_zeros(())
    count = 0
    for row in range(student.shape[0]):
        if not bool(keep[row]):
            continue
        scaled = student[row] / temperature
        log_q = scaled - torch.logsumexp(scaled, dim=-1)
        total = total + (log_p[row].exp() * (log_p[row] - log_q)).sum()
        count += 1
    if count == 0:
        return student.sum() * 0.0
    return total / count * temperature**2


def student_loss(student_logits, teacher_logits, labels, temperature=2.0, alpha=0.5, mask=None):
    if not 0 <= alpha <= 1:
        raise ValueError("alpha must lie in [0, 1]")
    if labels.shape != student_logits.shape[:-1]:
        raise ValueError("labels must have the logits' leading dims")
    soft = distillation_loss(student_logits, teacher_logits, temperature, mask)
    classes = student_logits.shape[-1]
    flat = student_logits.reshape(-1, classes)
    targets = labels.reshape(-1)
    counted = targets != -100
    log_q = flat - torch.logsumexp(flat, dim=-1, keepdim=True)
    picked = log_q[counted].gather(1, targets[counted].unsqueeze(1))
    hard = -picked.sum() / max(int(counted.sum()), 1)
    return alpha * soft + (1 - alpha) * hard
'''

_ALT_EX4_ORDER = '''"""ex4 with one uniform number per decision and another draw order: random ids first."""

from __future__ import annotations

import torch


class DynamicMasker:
    def __init__(self, vocab_size, mask_token_id, special_token_ids, mlm_probability=0.15,
                 mask_replace_prob=0.8, random_replace_prob=0.1):
        for p in (mlm_probability, mask_replace_prob, random_replace_prob):
            if not 0 <= p <= 1:
                raise ValueError("probabilities must lie in [0, 1]")
        if mask_replace_prob + random_replace_prob > 1:
            raise ValueError("mask_replace_prob + random_replace_prob must be at most 1")
        self.vocab_size = vocab_size
        self.mask_token_id = mask_token_id
        self.never = torch.tensor(sorted(set(special_token_ids) | {mask_token_id}))
        self.p = mlm_probability
        self.p_mask = mask_replace_prob
        self.p_random = random_replace_prob

    def __call__(self, input_ids, generator=None):
        random_ids = torch.randint(0, self.vocab_size, input_ids.shape, generator=generator)
        selection_draw = torch.rand(input_ids.shape, generator=generator)
        action_draw = torch.rand(input_ids.shape, generator=generator)
        selected = (selection_draw < self.p) & ~torch.isin(input_ids, self.never)
        labels = torch.full_like(input_ids, -100)
        labels[selected] = input_ids[selected]
        masked = input_ids.clone()
        to_mask = selected & (action_draw < self.p_mask)
        to_random = selected & (action_draw >= self.p_mask) & (action_draw < self.p_mask + self.p_random)
        masked[to_mask] = self.mask_token_id
        masked[to_random] = random_ids[to_random]
        return masked, labels
'''

_ALT_EX4_LOOP = '''"""ex4 position by position in a Python loop; random ids avoid the special ones."""

from __future__ import annotations

import torch


class DynamicMasker:
    def __init__(self, vocab_size, mask_token_id, special_token_ids, mlm_probability=0.15,
                 mask_replace_prob=0.8, random_replace_prob=0.1):
        if not (0 <= mlm_probability <= 1 and 0 <= mask_replace_prob <= 1 and 0 <= random_replace_prob <= 1):
            raise ValueError("probabilities must lie in [0, 1]")
        if mask_replace_prob + random_replace_prob > 1:
            raise ValueError("mask and random replacement together exceed 1")
        self.special = set(int(i) for i in special_token_ids) | {int(mask_token_id)}
        self.ordinary = [i for i in range(vocab_size) if i not in self.special]
        self.mask_token_id = mask_token_id
        self.probabilities = (mlm_probability, mask_replace_prob, random_replace_prob)

    def __call__(self, input_ids, generator=None):
        p, p_mask, p_random = self.probabilities
        flat = input_ids.reshape(-1).tolist()
        draws = torch.rand(len(flat), 2, generator=generator).tolist()
        picks = torch.randint(0, len(self.ordinary), (len(flat),), generator=generator).tolist()
        masked, labels = [], []
        for token, (select, action), pick in zip(flat, draws, picks):
            if token in self.special or select >= p:
                masked.append(token)
                labels.append(-100)
                continue
            labels.append(token)
            if action < p_mask:
                masked.append(self.mask_token_id)
            elif action < p_mask + p_random:
                masked.append(self.ordinary[pick])
            else:
                masked.append(token)
        shape = input_ids.shape
        return torch.tensor(masked, dtype=torch.long).reshape(shape), torch.tensor(labels).reshape(shape)
'''

_ALT_EX3_STATE_DICT = '''"""ex3 through state dicts: a smaller model loaded with renamed teacher weights."""

from __future__ import annotations

import copy

from torch import nn


def student_layer_indices(num_teacher_layers: int) -> list[int]:
    if num_teacher_layers <= 0:
        raise ValueError("need at least one teacher layer")
    return [index for index in range(num_teacher_layers) if index % 2 == 0]


def halve_layers(teacher, layers=None) -> nn.Module:
    prefix = "bert.encoder.layer." if hasattr(teacher, "bert") else "encoder.layer."
    teacher_state = teacher.state_dict()
    count = teacher.config.num_hidden_layers
    chosen = student_layer_indices(count) if layers is None else list(layers)
    if len(chosen) == 0:
        raise ValueError("layers is empty")
    for index in chosen:
        if index < 0 or index >= count:
            raise ValueError(f"layer {index} does not exist")
    config = copy.deepcopy(teacher.config)
    config.num_hidden_layers = len(chosen)
    student = type(teacher)(config)
    renamed = {}
    for name in student.state_dict():
        source = name
        if name.startswith(prefix):
            position, _, rest = name[len(prefix):].partition(".")
            source = f"{prefix}{chosen[int(position)]}.{rest}"
        renamed[name] = teacher_state[source].clone()
    student.load_state_dict(renamed)
    return student.train(teacher.training)
'''

_ALT_EX5_BY_HAND = '''"""ex5 by hand: parameters deduplicated by identity, the formula term by term."""

from __future__ import annotations

from torch import nn


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    seen = {}
    for _, parameter in model.named_parameters(remove_duplicate=False):
        if parameter.requires_grad or not trainable_only:
            seen[id(parameter)] = parameter.numel()
    return int(sum(seen.values()))


def parameter_breakdown(model: nn.Module) -> dict[str, int]:
    counted = set()
    result = {}
    for name, child in model.named_children():
        result[name] = 0
        for parameter in child.parameters():
            if id(parameter) not in counted:
                counted.add(id(parameter))
                result[name] += parameter.numel()
    own = sum(p.numel() for p in model.parameters(recurse=False) if id(p) not in counted)
    if own:
        result[""] = own
    return result


def bert_parameter_count(config) -> int:
    h, i = config.hidden_size, config.intermediate_size
    embeddings = config.vocab_size * h + config.max_position_embeddings * h + config.type_vocab_size * h
    embeddings += 2 * h
    attention = 4 * (h * h + h) + 2 * h
    feed_forward = (h * i + i) + (i * h + h) + 2 * h
    pooler = h * h + h if getattr(config, "use_pooler", True) else 0
    return embeddings + config.num_hidden_layers * (attention + feed_forward) + pooler
'''

ALTERNATIVES: list[Alternative] = [
    Alternative("ex1-alt-library-call", "ex1", source=_ALT_EX1_LIBRARY, style="F.softmax on logits / T"),
    Alternative(
        "ex1-alt-float64-logsumexp", "ex1", source=_ALT_EX1_FLOAT64, style="float64 inside, logsumexp"
    ),
    Alternative("ex2-alt-by-hand-loop", "ex2", source=_ALT_EX2_BY_HAND, style="by hand, a loop over rows"),
    Alternative(
        "ex3-alt-state-dict", "ex3", source=_ALT_EX3_STATE_DICT, style="renamed state dict into a new model"
    ),
    Alternative("ex4-alt-other-draw-order", "ex4", source=_ALT_EX4_ORDER, style="one uniform per decision"),
    Alternative(
        "ex4-alt-python-loop", "ex4", source=_ALT_EX4_LOOP, style="a loop; random ids avoid specials"
    ),
    Alternative("ex5-alt-by-hand", "ex5", source=_ALT_EX5_BY_HAND, style="dedup by id, formula term by term"),
    *_CORPUS_CORRECT,
]

DEMO_MISTAKES: list[Mistake] = [
    entry
    for entry in WRONG
    if entry.student
    in (
        "ex2-no-temperature-squared",
        "ex3-shares-teacher-layers",
        "ex4-random-share-of-remainder",
        "ex5-tied-weight-counted-twice",
    )
]


def by_student(student: str) -> Mistake | Alternative | Hollow:
    """The entry of ``WRONG``, ``ALTERNATIVES`` or ``HOLLOW`` with this student id."""
    for entry in [*WRONG, *ALTERNATIVES, *HOLLOW]:
        if entry.student == student:
            return entry
    raise KeyError(student)
