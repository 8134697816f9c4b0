"""The solutions: they pass their visible checks, agree with transformers, and reject bad inputs by name.

Also the shared check helpers (``solutions/support/checking.py``), the hints command, and the visible checks'
messages on known slips (a copy of the solutions with one classic mistake per exercise).
"""

from __future__ import annotations

import ast
import dataclasses
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest
import torch
import transformers

from autograder.demo.catalogue import WRONG
from autograder.manifest import EXERCISES, REPO_ROOT, SOLUTIONS_DIR
from solutions import hints
from solutions.ex1_softmax import softmax_with_temperature
from solutions.ex2_distillation import distillation_loss, student_loss
from solutions.ex3_layers import halve_layers, student_layer_indices
from solutions.ex4_masking import DynamicMasker
from solutions.ex5_params import bert_parameter_count, count_parameters, parameter_breakdown
from solutions.model import BertConfig, BertForMaskedLM, BertModel
from solutions.support.checking import (
    check_raises,
    check_tensor,
    describe,
    describe_call,
    not_started,
    not_started_exercise,
    relative_error,
)

MIN_VISIBLE_CHECKS = 3
"""The fewest visible checks an exercise has (a visible test file that collects none is a mistake)."""

BERT_BASE_MODEL = 109_482_240
BERT_BASE_MLM = 109_514_298
BERT_BASE_MLM_DOUBLE_COUNTED = 132_985_716
DISTILBERT_MODEL = 66_362_880
ROBERTA_BASE_MODEL = 124_645_632
DISTILROBERTA_MODEL = 82_118_400

SIGMAS = 6.0
"""Statistical bounds are 6 binomial standard deviations. A normal tail beyond 6 sigma (two-sided) has
probability 2.0e-9; this file makes fewer than 40 such comparisons, so a correct masker fails one with
probability below 1e-7 (< 1e-6 as required), while the classic random-replacement bug (2% instead of 10%
of the selected tokens) lies more than 25 sigma away."""


def subprocess_env(*paths: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(str(path) for path in (*paths, REPO_ROOT))
    return env


def on_meta(build):
    with torch.device("meta"):
        return build()


# --------------------------------------------------------------------------------------------------
# The visible checks pass on the solutions


def _pytest_solutions(*args: str) -> str:
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "solutions", "-q", "-p", "no:cacheprovider", *args],
        cwd=REPO_ROOT,
        env=subprocess_env(),
        capture_output=True,
        check=False,
        text=True,
        timeout=600,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    return output


def test_every_visible_check_passes_on_the_solutions():
    collected = [
        line for line in _pytest_solutions("--collect-only").splitlines() if line.startswith("solutions/")
    ]
    per_exercise = {
        exercise.id: sum(line.startswith(f"solutions/test_{exercise.filename}::") for line in collected)
        for exercise in EXERCISES
    }
    assert min(per_exercise.values()) >= MIN_VISIBLE_CHECKS, per_exercise
    output = _pytest_solutions()
    passed = re.search(r"(\d+) passed", output)
    assert passed and int(passed.group(1)) == len(collected), output
    assert not re.search(r"\d+ (failed|skipped|error)", output), output


SLIPS = {
    "ex1_softmax.py": (
        "shifted = scaled - scaled.amax(dim=dim, keepdim=True).detach()",
        "shifted = scaled",
    ),
    "ex2_distillation.py": ("return mean_kl * temperature_value**2", "return mean_kl"),
    "ex3_layers.py": ("config.num_hidden_layers = len(student_layers)", "pass"),
    "ex4_masking.py": (
        "random_share = self.random_replace_prob / remaining if remaining > 0 else 0.0",
        "random_share = self.random_replace_prob",
    ),
    "ex5_params.py": (
        "for parameter in model.parameters() if parameter.requires_grad",
        "for _, parameter in model.named_parameters(remove_duplicate=False) if parameter.requires_grad",
    ),
}
SLIP_MESSAGES = (
    "the expected values are finite",
    "Did you multiply the KL by T**2? (Hinton et al. 2015, section 2)",
    "update the student's config",
    "among those, use random_replace_prob / (1 - mask_replace_prob)",
    "A tied (shared) weight was counted twice",
)


ONE_SLIP_PACKAGES = {
    "reversed_kl": (
        "ex2_distillation.py",
        'F.kl_div(log_q_student, p_teacher, reduction="none")',
        (
            "F.kl_div(F.log_softmax(teacher_logits.detach() / temperature_value, dim=-1), "
            'log_q_student.exp(), reduction="none")'
        ),
        "That is KL(student || teacher), the reversed direction.",
    ),
    "log_of_softmax": (
        "ex2_distillation.py",
        "log_q_student = F.log_softmax(student_logits / temperature_value, dim=-1)",
        "log_q_student = torch.log(F.softmax(student_logits / temperature_value, dim=-1))",
        "log(softmax(x)) gives log(0) = -inf",
    ),
}
"""One classic mistake per package, each with the words its visible message must hold."""


def copy_solutions_with(package: Path, replacements: dict[str, tuple[str, str]]) -> None:
    package.mkdir()
    for path in SOLUTIONS_DIR.glob("*.py"):
        if path.name != "conftest.py":
            shutil.copyfile(path, package / path.name)
    shutil.copytree(SOLUTIONS_DIR / "support", package / "support")
    for filename, (correct, slip) in replacements.items():
        source = (package / filename).read_text()
        assert source.count(correct) == 1, f"{filename} no longer contains {correct!r}: update the slips"
        (package / filename).write_text(source.replace(correct, slip))


def test_visible_checks_name_the_classic_slips(tmp_path):
    copy_solutions_with(tmp_path / "slipped", SLIPS)
    for name, (filename, correct, slip, _) in ONE_SLIP_PACKAGES.items():
        copy_solutions_with(tmp_path / name, {filename: (correct, slip)})
    packages = [str(tmp_path / name) for name in ("slipped", *ONE_SLIP_PACKAGES)]
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", *packages, "-q", "-p", "no:cacheprovider", "--tb=short"],
        cwd=tmp_path,
        env={**subprocess_env(tmp_path), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
        capture_output=True,
        check=False,
        text=True,
        timeout=600,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 1, output
    for message in (*SLIP_MESSAGES, *(slip[3] for slip in ONE_SLIP_PACKAGES.values())):
        assert message in output, f"no {message!r} in:\n{output}"
    # A message names a mistake only when the value matches it: no fixed hint per check any more.
    assert "Use F.log_softmax for the student: log(softmax" not in output, output
    assert "Every leading dim is a position: average" not in output, output


VISIBLE_MESSAGES: dict[str, tuple[str, ...] | None] = {
    "ex3-bad-layers-accepted": (
        "Called halve_layers(BertModel(...), []) and got BertModel(...); expected a ValueError",
    ),
    "ex3-bertmodel-only": ("AttributeError: 'BertForMaskedLM' object has no attribute 'encoder'",),
    "ex3-config-not-updated": (
        "got student.config.num_hidden_layers == 6; expected 3",
        "It still says the teacher's 6: update the student's config",
    ),
    "ex3-distilbert-default-12": None,
    "ex3-distilbert-script-indices": (
        "got [0, 2, 4, 7, 9, 11]; expected [0, 2, 4, 6, 8, 10].",
        "That is the released DistilBERT script's choice",
    ),
    "ex3-drops-pooler": None,
    "ex3-embeddings-not-copied": (
        "for the student's bert.embeddings.word_embeddings.weight, values that differ",
        "The contract: Every other weight (embeddings, pooler, MLM head) is copied from the teacher.",
    ),
    "ex3-empty-list-default": (
        "Called halve_layers(BertModel(...), []) and got BertModel(...); expected a ValueError",
    ),
    "ex3-first-half-of-layers": (
        "got [0, 1, 2, 3, 4, 5]; expected [0, 2, 4, 6, 8, 10]. That is the first half of the layers",
        "hold teacher layers [0, 1, 2]; expected teacher layers [0, 2, 4]. That is the first half",
    ),
    "ex3-floor-half-for-odd-counts": (
        "got [0, 2]; expected [0, 2, 4]. For an odd count keep ceil(n / 2) layers",
    ),
    "ex3-fresh-layers": (
        "hold teacher layers [None, None, None]; expected teacher layers [0, 2, 4].",
        "Student layer 0 matches no teacher layer",
    ),
    "ex3-mutates-teacher-config": (
        "afterwards the teacher's config.num_hidden_layers is 3, not 6: the student shares the teacher's",
    ),
    "ex3-negative-wraps": (
        "Called halve_layers(BertModel(...), [-1]) and got BertModel(...); expected a ValueError",
    ),
    "ex3-off-by-one-range": ("Called halve_layers(BertModel(...), [6]) and it raised IndexError",),
    "ex3-only-outer-config-updated": None,
    "ex3-only-this-packages-classes": None,
    "ex3-package-config-rebuild": None,
    "ex3-pythonic-negative": (
        "Called halve_layers(BertModel(...), [-1]) and got BertModel(...); expected a ValueError",
    ),
    "ex3-shares-teacher-layers": (
        "and the student shares ['bert.encoder.layer.0.attention.self.query.weight'",
    ),
    "ex3-returns-bert-body": ("and got BertModel; expected a new BertForMaskedLM, the teacher's class",),
    "ex3-sorted-layers": None,
    "ex3-teacher-cut-in-place": (
        "afterwards the teacher holds 3 layers, not 6: the layers were cut from the teacher itself",
    ),
    "ex3-untied-head": ("the student's MLM decoder is no longer tied to its own word embeddings",),
    "ex3-zero-layers-accepted": ("Called student_layer_indices(0) and got []; expected a ValueError",),
    "ex4-2d-only": None,
    "ex4-default-seed-0": None,
    "ex4-exact-count-per-row": None,
    "ex4-floor-count-short-rows": None,
    "ex4-hardcoded-half": None,
    "ex4-ignores-generator": (
        "twice and got, for the second masked_ids, values that differ",
        "The contract: All randomness comes from generator when one is given",
    ),
    "ex4-labels-after-replace": (
        "and got, for the labels, values that differ",
        "The contract: labels holds the original id at selected positions and -100 everywhere else.",
    ),
    "ex4-labels-everywhere": (
        "of the non-special tokens (mlm_probability=0.15). The contract: Each non-special position is",
    ),
    "ex4-mask-id-toggled-out-of-specials": None,
    "ex4-mask-token-selectable": (
        "special tokens ([CLS], [SEP], [PAD] or [MASK] itself): they must never be",
    ),
    "ex4-modifies-input": (
        "and got, for the input afterwards, values that differ",
        "The contract: The input is not modified",
    ),
    "ex4-no-sum-check": (
        "mask_replace_prob=0.8, random_replace_prob=0.3) and got DynamicMasker(...); expected a",
    ),
    "ex4-no-unchanged-case": ("None of the selected tokens stayed unchanged",),
    "ex4-probabilities-unchecked": (
        "mlm_probability=1.5) and got DynamicMasker(...); expected a ValueError",
    ),
    "ex4-random-becomes-mask": ("The random replacements seem to become [MASK] too",),
    "ex4-random-excludes-largest": None,
    "ex4-random-ids-global-rng": (
        "twice and got, for the second masked_ids, values that differ",
        "The contract: All randomness comes from generator when one is given",
    ),
    "ex4-random-share-of-remainder": (
        "selected tokens that became a random id: 2.1%",
        "Drawing 'random' with probability 0.1 among the 20% left after [MASK] gives 2%",
    ),
    "ex4-reseeds-every-call": None,
    "ex4-same-pattern-every-row": None,
    "ex4-selects-special-tokens": (
        "special tokens ([CLS], [SEP], [PAD] or [MASK] itself): they must never be",
    ),
    "ex4-static-mask": (
        "twice and got, for the second masked_ids, values that differ",
        "The contract: All randomness comes from generator when one is given",
    ),
    "ex4-unselected-tokens-replaced": (
        "for the tokens that were not selected, values that differ",
        "The contract: Only selected positions change",
    ),
    "ex4-zero-division": None,
    "ex5-breakdown-counts-shared-twice": (
        "got {'bert': 108891648, 'cls': 24063546}",
        "A shared parameter counts once, under the first child (in named_children() order) that holds it",
    ),
    "ex5-breakdown-forgets-own-parameters": (
        "got {'linear': 15}; expected {'linear': 15, '': 3}. Parameters the model holds itself",
    ),
    "ex5-breakdown-last-child": (
        "got {'bert': 85450752, 'cls': 24063546}",
        "The contract: parameter_breakdown has one key per top-level child",
    ),
    "ex5-breakdown-own-key-always": (
        "got {'bert': 108891648, 'cls': 622650, '': 0}",
        "The contract: parameter_breakdown has one key per top-level child",
    ),
    "ex5-breakdown-skips-empty": None,
    "ex5-breakdown-sorted": None,
    "ex5-buffers-counted": ("got 109,483,264; expected 109,482,240. That includes the model's buffers",),
    "ex5-count-returns-tensor": None,
    "ex5-ffn-biases-missing": ("(off by -46,080). The feed-forward biases were left out",),
    "ex5-formula-always-pooler": ("(off by +590,592). With use_pooler=False there is no pooler",),
    "ex5-formula-forgets-layer-norms": ("(off by -36,864). Each layer is 4H short: its two LayerNorms",),
    "ex5-formula-forgets-intermediate-bias": (
        "or the feed-forward's first bias (I, which is 4H here)",
        "Each layer is I short: the feed-forward's first bias (H -> I adds I biases) was left out.",
    ),
    "ex5-modules-recursive": (
        "got 611,976,960; expected 109,482,240. That counts each parameter once for every module above it",
    ),
    "ex5-no-embedding-layernorm": ("(off by -1,536). The embeddings' LayerNorm adds 2H",),
    "ex5-pooler-never": ("(off by -590,592). With use_pooler=True the pooler counts",),
    "ex5-tied-weight-counted-twice": (
        "got 132,985,716; expected 109,514,298. A tied (shared) weight was counted twice",
    ),
    "ex5-token-types-always-two": (
        "type_vocab_size=0 gives 0 token-type embedding rows (0: none), not always 2",
    ),
    "ex5-trainable-only-ignored": ("The frozen parameters (requires_grad=False) were counted",),
    "ex5-use-pooler-attribute": None,
    "ex3-repeat-shares-the-layer": None,
    "ex4-labels-only-where-masked": (
        "selected tokens: 11.9% of 50,300; expected 15%",
        "The contract: Only selected positions change",
    ),
    "ex4-labels-only-where-changed": ("selected tokens: 13.5% of 50,300; expected 15%",),
    "ex3-indices-agree-later": ("expected teacher layers [0, 2, 4]. Start with layer 0",),
    "ex5-own-first-by-prefix": None,
    "ex5-trainable-counts-tied-twice": None,
    "ex5-formula-one-layernorm-per-layer": ("Each layer is 2H short: one of its two LayerNorms",),
    "ex5-dedupe-by-data-ptr": None,
}
"""What the visible checks say to each catalogue mistake of ex3 to ex5 (words of its failure messages): the
mistake by name when the observed values match its formula, else the numbers and the contract's
sentence. None: the mistake passes the visible checks (only the hidden graders catch it)."""


def test_visible_checks_name_each_catalogue_mistake_of_ex3_to_ex5(tmp_path):
    mistakes = [mistake for mistake in WRONG if mistake.exercise in ("ex3", "ex4", "ex5")]
    listed = set(VISIBLE_MESSAGES)
    in_catalogue = {mistake.student for mistake in mistakes}
    assert in_catalogue == listed, (
        f"catalogue mistakes without a visible message in VISIBLE_MESSAGES: {sorted(in_catalogue - listed)}; "
        f"listed but not in the catalogue: {sorted(listed - in_catalogue)}"
    )
    student_of: dict[str, str] = {}
    for mistake in mistakes:
        package = tmp_path / ("m_" + re.sub(r"\W", "_", mistake.student))
        package.mkdir()
        for path in SOLUTIONS_DIR.glob("*.py"):
            other_checks = path.name.startswith("test_") and not path.name.startswith(
                f"test_{mistake.exercise}_"
            )
            if path.name != "conftest.py" and not other_checks:
                shutil.copyfile(path, package / path.name)
        shutil.copytree(SOLUTIONS_DIR / "support", package / "support")
        (package / mistake.filename).write_text(mistake.exercise_source())
        student_of[package.name] = mistake.student
    report = tmp_path / "visible.xml"
    # Only the checks and pytest's own plugins (no installed plugin), asserts as written: the messages are
    # the checks' own.
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            *sorted(student_of),
            "-q",
            "-p",
            "no:cacheprovider",
            "--assert=plain",
            f"--junitxml={report}",
        ],
        cwd=tmp_path,
        env={**subprocess_env(tmp_path), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
        capture_output=True,
        check=False,
        text=True,
        timeout=900,
    )
    assert report.is_file(), completed.stdout + completed.stderr
    messages: dict[str, list[str]] = {student: [] for student in listed}
    for case in ElementTree.parse(report).iter("testcase"):
        student = student_of[case.get("classname", "").split(".")[0]]
        for outcome in (*case.findall("failure"), *case.findall("error")):
            messages[student].append(outcome.get("message", ""))
    problems = []
    for student, expected in VISIBLE_MESSAGES.items():
        said = "\n".join(messages[student])
        if expected is None:
            if said:
                problems.append(f"{student} should pass the visible checks; they said:\n{said}")
            continue
        if not said:
            problems.append(f"{student} passed the visible checks; expected a failure saying {expected[0]!r}")
        problems += [
            f"{student}: no {words!r} in:\n{said}" for words in expected if said and words not in said
        ]
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------------------------------
# ex3 on transformers' classes

HF_TINY = {
    "vocab_size": 60,
    "hidden_size": 16,
    "num_hidden_layers": 6,
    "num_attention_heads": 2,
    "intermediate_size": 24,
    "max_position_embeddings": 32,
}


def layer_mapped_name(student_name: str, kept: list[int], prefix: str) -> str:
    """The teacher's name for a student weight: layer i of the student is layer kept[i] of the teacher."""
    if not student_name.startswith(prefix):
        return student_name
    position, rest = student_name.removeprefix(prefix).split(".", 1)
    return f"{prefix}{kept[int(position)]}.{rest}"


@pytest.mark.parametrize("layers", [None, [0, 2, 5], [5, 1]])
@pytest.mark.parametrize("model_class", [transformers.BertModel, transformers.BertForMaskedLM])
def test_halve_layers_works_on_transformers_models(model_class, layers):
    torch.manual_seed(0)
    teacher = model_class(transformers.BertConfig(**HF_TINY)).eval()
    before = {name: weight.clone() for name, weight in teacher.state_dict().items()}
    student = halve_layers(teacher, layers)
    kept = student_layer_indices(6) if layers is None else layers
    prefix = "bert.encoder.layer." if model_class is transformers.BertForMaskedLM else "encoder.layer."

    assert type(student) is model_class
    assert student.config.num_hidden_layers == len(kept)
    assert teacher.config.num_hidden_layers == 6 and student.config is not teacher.config
    body = student.bert if hasattr(student, "bert") else student
    assert len(body.encoder.layer) == len(kept)
    assert [layer.attention.self.layer_idx for layer in body.encoder.layer] == list(range(len(kept)))

    teacher_weights = teacher.state_dict()
    assert teacher_weights.keys() == before.keys()
    for name, weight in teacher_weights.items():
        assert torch.equal(weight, before[name]), f"the teacher's {name} changed"
    student_weights = student.state_dict()
    assert {layer_mapped_name(name, kept, prefix) for name in student_weights} <= teacher_weights.keys()
    for name, weight in student_weights.items():
        assert torch.equal(weight, teacher_weights[layer_mapped_name(name, kept, prefix)]), name

    teacher_parameters = {id(parameter) for parameter in teacher.parameters()}
    assert not any(id(parameter) in teacher_parameters for parameter in student.parameters())
    if model_class is transformers.BertForMaskedLM:
        assert student.cls.predictions.decoder.weight is student.bert.embeddings.word_embeddings.weight

    # The student is an ordinary model of its depth: a fresh one loaded with its weights agrees with it.
    fresh = model_class(transformers.BertConfig(**{**HF_TINY, "num_hidden_layers": len(kept)})).eval()
    fresh.load_state_dict(student_weights)
    ids = torch.tensor([[2, 7, 11, 3, 0]])
    with torch.no_grad():
        torch.testing.assert_close(student(ids)[0], fresh(ids)[0])


def test_halve_layers_on_our_mlm_updates_both_configs_and_takes_the_distilbert_choice():
    config = BertConfig(
        vocab_size=40, hidden_size=8, num_hidden_layers=12, num_attention_heads=2, intermediate_size=12
    )
    torch.manual_seed(1)
    teacher = BertForMaskedLM(config).eval()
    student = halve_layers(teacher, [0, 2, 4, 7, 9, 11])
    assert student.config.num_hidden_layers == 6 and student.bert.config.num_hidden_layers == 6
    assert teacher.config.num_hidden_layers == 12 and teacher.bert.config.num_hidden_layers == 12
    for position, index in enumerate([0, 2, 4, 7, 9, 11]):
        for mine, theirs in zip(
            student.bert.encoder.layer[position].parameters(),
            teacher.bert.encoder.layer[index].parameters(),
            strict=True,
        ):
            assert torch.equal(mine, theirs)
    assert student.cls.predictions.decoder.weight is student.bert.embeddings.word_embeddings.weight
    assert student.cls.predictions.decoder.bias is student.cls.predictions.bias


# --------------------------------------------------------------------------------------------------
# ex5: known counts, here and in transformers


def test_count_parameters_gives_the_known_counts_on_meta_models():
    assert count_parameters(on_meta(lambda: BertModel(BertConfig()))) == BERT_BASE_MODEL
    mlm = on_meta(lambda: BertForMaskedLM(BertConfig()))
    assert count_parameters(mlm) == BERT_BASE_MLM
    assert sum(weight.numel() for weight in mlm.state_dict().values()) == BERT_BASE_MLM_DOUBLE_COUNTED
    assert count_parameters(mlm) != BERT_BASE_MLM_DOUBLE_COUNTED
    distil = on_meta(lambda: BertModel(BertConfig(num_hidden_layers=6, type_vocab_size=0, use_pooler=False)))
    assert count_parameters(distil) == DISTILBERT_MODEL
    assert parameter_breakdown(distil) == {"embeddings": 23_835_648, "encoder": 42_527_232}


def test_bert_parameter_count_gives_the_known_counts():
    assert bert_parameter_count(BertConfig()) == BERT_BASE_MODEL
    assert bert_parameter_count(BertConfig(use_pooler=False)) == 108_891_648
    assert (
        bert_parameter_count(BertConfig(num_hidden_layers=6, type_vocab_size=0, use_pooler=False))
        == DISTILBERT_MODEL
    )
    assert bert_parameter_count(transformers.BertConfig()) == BERT_BASE_MODEL
    roberta_base = {"vocab_size": 50265, "max_position_embeddings": 514, "type_vocab_size": 1}
    assert bert_parameter_count(transformers.RobertaConfig(**roberta_base)) == ROBERTA_BASE_MODEL
    distilroberta = transformers.RobertaConfig(**roberta_base, num_hidden_layers=6)
    assert bert_parameter_count(distilroberta) == DISTILROBERTA_MODEL


def test_counting_agrees_with_transformers():
    hf_model = on_meta(lambda: transformers.BertModel(transformers.BertConfig()))
    hf_mlm = on_meta(lambda: transformers.BertForMaskedLM(transformers.BertConfig()))
    hf_distil = on_meta(lambda: transformers.DistilBertModel(transformers.DistilBertConfig()))
    assert count_parameters(hf_model) == hf_model.num_parameters() == BERT_BASE_MODEL
    assert count_parameters(hf_mlm) == hf_mlm.num_parameters() == BERT_BASE_MLM
    assert count_parameters(hf_distil) == hf_distil.num_parameters() == DISTILBERT_MODEL
    assert parameter_breakdown(hf_mlm) == {"bert": 108_891_648, "cls": 622_650}
    hf_model.embeddings.requires_grad_(False)
    assert count_parameters(hf_model, trainable_only=True) == hf_model.num_parameters(only_trainable=True)


@pytest.mark.parametrize(
    "changes",
    [{"use_pooler": False}, {"type_vocab_size": 0}, {"num_hidden_layers": 1, "intermediate_size": 7}],
)
def test_bert_parameter_count_is_exact_for_other_shapes(changes):
    config = dataclasses.replace(
        BertConfig(vocab_size=33, hidden_size=12, num_attention_heads=3, intermediate_size=20), **changes
    )
    assert bert_parameter_count(config) == count_parameters(BertModel(config))


def test_parameter_breakdown_puts_the_models_own_parameters_under_the_empty_key():
    class Shared(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.first = torch.nn.Linear(3, 3)
            self.second = torch.nn.Linear(3, 3)
            self.second.weight = self.first.weight
            self.scale = torch.nn.Parameter(torch.ones(2))
            self.alias = self.first.bias

    breakdown = parameter_breakdown(Shared())
    assert breakdown == {"first": 12, "second": 3, "": 2}
    assert sum(breakdown.values()) == count_parameters(Shared())


# --------------------------------------------------------------------------------------------------
# ex4 against transformers' DataCollatorForLanguageModeling

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"word{i}" for i in range(995)]


def offline_tokenizer(tmp_path: Path) -> transformers.PreTrainedTokenizerBase:
    """A BERT tokenizer over VOCAB, built from a vocabulary in memory or on disk: nothing downloaded."""
    vocab = {token: index for index, token in enumerate(VOCAB)}
    try:
        tokenizer = transformers.BertTokenizerFast(vocab=vocab)  # transformers 5
    except TypeError:
        tokenizer = None
    if tokenizer is None or len(tokenizer) != len(VOCAB):
        vocab_file = tmp_path / "vocab.txt"
        vocab_file.write_text("\n".join(VOCAB) + "\n")
        tokenizer = transformers.BertTokenizerFast(vocab_file=str(vocab_file))  # transformers 4
    assert len(tokenizer) == len(VOCAB)
    return tokenizer


def sentence_batch(tokenizer, rows: int, length: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(len(tokenizer.all_special_ids), len(VOCAB), (rows, length), generator=generator)
    ids[:, 0] = tokenizer.cls_token_id
    ids[:, -1] = tokenizer.sep_token_id
    ids[::3, -6:-1] = tokenizer.pad_token_id
    ids[:, 7] = tokenizer.mask_token_id
    ids[:, 9] = tokenizer.unk_token_id
    return ids


@dataclasses.dataclass
class MaskingCounts:
    candidates: int
    selected: int
    became_mask: int
    became_random: int
    unchanged: int
    special_selected: int


def masking_counts(
    ids: torch.Tensor, masked_ids: torch.Tensor, labels: torch.Tensor, special_ids
) -> MaskingCounts:
    special = torch.isin(ids, torch.tensor(special_ids))
    selected = labels != -100
    became_mask = selected & (masked_ids == special_ids[-1])
    unchanged = selected & (masked_ids == ids)
    return MaskingCounts(
        candidates=int((~special).sum()),
        selected=int(selected.sum()),
        became_mask=int(became_mask.sum()),
        became_random=int((selected & ~became_mask & ~unchanged).sum()),
        unchanged=int(unchanged.sum()),
        special_selected=int((selected & special).sum()),
    )


def assert_rate(count: int, total: int, expected: float, what: str, bias: float = 0.0) -> None:
    bound = SIGMAS * math.sqrt(expected * (1 - expected) / total) + bias
    assert abs(count / total - expected) <= bound, (
        f"{what}: {count / total:.4f}, expected {expected} ± {bound:.4f}"
    )


def test_masker_matches_the_collator_statistics(tmp_path):
    tokenizer = offline_tokenizer(tmp_path)
    special_ids = [
        *sorted(set(tokenizer.all_special_ids) - {tokenizer.mask_token_id}),
        tokenizer.mask_token_id,
    ]
    ids = sentence_batch(tokenizer, rows=300, length=200, seed=0)
    collator = transformers.DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15)
    torch.manual_seed(11)
    collator_ids, collator_labels = collator.torch_mask_tokens(ids.clone())
    masker = DynamicMasker(len(tokenizer), tokenizer.mask_token_id, special_ids[:-1])
    masker_ids, masker_labels = masker(ids, generator=torch.Generator().manual_seed(12))

    collision = (
        0.1 * 2 / len(VOCAB)
    )  # a random id equal to the original or to [MASK] is not counted as random
    counts = {
        "collator": masking_counts(ids, collator_ids, collator_labels, special_ids),
        "masker": masking_counts(ids, masker_ids, masker_labels, special_ids),
    }
    for who, count in counts.items():
        assert count.special_selected == 0, f"{who} selected special tokens"
        assert_rate(count.selected, count.candidates, 0.15, f"{who} selection rate")
        assert_rate(count.became_mask, count.selected, 0.8, f"{who} [MASK] share", collision)
        assert_rate(count.became_random, count.selected, 0.1, f"{who} random share", collision)
        assert_rate(count.unchanged, count.selected, 0.1, f"{who} unchanged share", collision)
    ours, theirs = counts["masker"], counts["collator"]
    for field, total_field, rate in [
        ("selected", "candidates", 0.15),
        ("became_mask", "selected", 0.8),
        ("became_random", "selected", 0.1),
        ("unchanged", "selected", 0.1),
    ]:
        n_ours, n_theirs = getattr(ours, total_field), getattr(theirs, total_field)
        difference = getattr(ours, field) / n_ours - getattr(theirs, field) / n_theirs
        bound = SIGMAS * math.sqrt(rate * (1 - rate) * (1 / n_ours + 1 / n_theirs)) + 2 * collision
        assert abs(difference) <= bound, (
            f"{field}: masker and collator differ by {difference:.4f} > {bound:.4f}"
        )


def test_masker_draws_like_the_collator_from_the_global_generator(tmp_path):
    # Same draws in the same order (selection, [MASK], random, random ids), so the same seed gives the
    # collator's exact output: learners can compare their masker with transformers directly.
    tokenizer = offline_tokenizer(tmp_path)
    ids = sentence_batch(tokenizer, rows=6, length=40, seed=1)
    collator = transformers.DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.3)
    masker = DynamicMasker(
        len(tokenizer), tokenizer.mask_token_id, tokenizer.all_special_ids, mlm_probability=0.3
    )
    torch.manual_seed(5)
    expected_ids, expected_labels = collator.torch_mask_tokens(ids.clone())
    torch.manual_seed(5)
    masked_ids, labels = masker(ids)
    assert torch.equal(labels, expected_labels)
    assert torch.equal(masked_ids, expected_ids)


def test_masker_edge_probabilities_and_any_shape():
    ids = torch.arange(5, 65).reshape(3, 4, 5)
    everything_masked, labels = DynamicMasker(100, 4, [0], 1.0, 1.0, 0.0)(ids)
    assert torch.equal(labels, ids) and bool((everything_masked == 4).all())
    all_random, labels = DynamicMasker(100, 4, [0], 1.0, 0.0, 1.0)(
        ids, generator=torch.Generator().manual_seed(0)
    )
    assert torch.equal(labels, ids) and all_random.shape == ids.shape and not torch.equal(all_random, ids)
    untouched, labels = DynamicMasker(100, 4, [0], 0.0)(ids)
    assert torch.equal(untouched, ids) and bool((labels == -100).all())


# --------------------------------------------------------------------------------------------------
# Bad inputs are named


@pytest.mark.parametrize("temperature", [0.0, -1.0, math.nan, math.inf])
def test_bad_temperatures_are_named(temperature):
    logits = torch.randn(2, 3)
    with pytest.raises(ValueError, match=r"temperature must be a positive finite number, got"):
        softmax_with_temperature(logits, temperature)
    with pytest.raises(ValueError, match=r"temperature must be a positive finite number, got"):
        distillation_loss(logits, logits, temperature)


def test_mismatched_logits_and_bad_masks_are_named():
    with pytest.raises(
        ValueError, match=re.escape("student_logits has shape (4, 10) but teacher_logits has shape (4, 11)")
    ):
        distillation_loss(torch.randn(4, 10), torch.randn(4, 11))
    with pytest.raises(ValueError, match=r"mask has shape \(4,\)"):
        distillation_loss(torch.randn(4, 3, 5), torch.randn(4, 3, 5), mask=torch.ones(4, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"labels has shape \(3,\)"):
        student_loss(torch.randn(4, 5), torch.randn(4, 5), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"alpha must be a number in \[0, 1\]"):
        student_loss(torch.randn(4, 5), torch.randn(4, 5), torch.zeros(4, dtype=torch.long), alpha=1.5)


def test_bad_layer_choices_are_named():
    teacher = BertModel(
        BertConfig(
            vocab_size=20, hidden_size=8, num_hidden_layers=4, num_attention_heads=2, intermediate_size=8
        )
    )
    with pytest.raises(ValueError, match=r"layers is empty"):
        halve_layers(teacher, [])
    for layers in ([4], [-1], [0, 9]):
        with pytest.raises(ValueError, match=r"out of range: the teacher has 4 layers, numbered 0 to 3"):
            halve_layers(teacher, layers)
    for count in (0, -3):
        with pytest.raises(ValueError, match=r"at least one layer"):
            student_layer_indices(count)
    assert len(teacher.encoder.layer) == 4


@pytest.mark.parametrize(
    ("probabilities", "message"),
    [
        ({"mlm_probability": 1.5}, r"mlm_probability must be a probability in \[0, 1\], got 1.5"),
        ({"mlm_probability": -0.01}, r"mlm_probability must be a probability in \[0, 1\]"),
        ({"mask_replace_prob": 2.0}, r"mask_replace_prob must be a probability in \[0, 1\]"),
        ({"random_replace_prob": -0.5}, r"random_replace_prob must be a probability in \[0, 1\]"),
        ({"mlm_probability": math.nan}, r"mlm_probability must be a probability"),
        ({"mask_replace_prob": 0.8, "random_replace_prob": 0.3}, r"must be at most 1, got 0.8 \+ 0.3"),
    ],
)
def test_bad_masking_probabilities_are_named(probabilities, message):
    with pytest.raises(ValueError, match=message):
        DynamicMasker(100, 4, [0, 1, 2], **probabilities)


# --------------------------------------------------------------------------------------------------
# The shared check helpers


def test_describe_is_short_and_exact():
    assert describe(torch.zeros(4, 10)) == "tensor(4, 10)"
    assert describe(torch.zeros(4, 10, dtype=torch.int64)) == "tensor(4, 10, dtype=int64)"
    assert describe(torch.tensor(0.052312)) == "tensor(0.05231)"
    assert describe(torch.tensor(3)) == "tensor(3, dtype=int64)"
    assert describe(4.0) == "4.0" and describe(0.123456) == "0.1235" and describe(math.nan) == "nan"
    assert describe([1, 2]) == "[1, 2]" and describe(list(range(9))) == "a list of 9 items"
    assert (
        describe(
            BertModel(
                BertConfig(
                    vocab_size=8,
                    hidden_size=4,
                    num_hidden_layers=1,
                    num_attention_heads=1,
                    intermediate_size=4,
                )
            )
        )
        == "BertModel(...)"
    )
    assert describe_call("f", torch.zeros(2, 3), temperature=2.0) == "f(tensor(2, 3), temperature=2.0)"


def test_relative_error_is_max_difference_over_max_reference():
    assert relative_error(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 4.0])) == pytest.approx(0.5)
    assert relative_error(torch.tensor([]), torch.tensor([])) == 0.0
    assert relative_error(torch.tensor([0.0]), torch.tensor([0.0])) == 0.0


def failure_message(actual, expected, **kwargs) -> str:
    with pytest.raises(AssertionError) as caught:
        check_tensor(actual, expected, call="f(x)", **kwargs)
    return str(caught.value)


def test_check_tensor_reports_type_shape_dtype_finiteness_then_value():
    expected = torch.zeros(4, 10)
    check_tensor(expected.clone(), expected, call="f(x)")
    assert failure_message([0.0], expected) == "Called f(x) and got [0.0] (a list); expected a torch.Tensor"
    assert failure_message(torch.nn.Parameter(expected), expected).endswith("expected a torch.Tensor")
    assert failure_message(torch.zeros(4, 11), expected) == (
        "Called f(x) and got shape (4, 11); the expected shape is (4, 10)"
    )
    assert "dtype float64; the expected dtype is float32" in failure_message(expected.double(), expected)
    nan_message = failure_message(torch.full((4, 10), math.nan), expected)
    assert "nan at index (0, 0) (40 of 40 values are not finite)" in nan_message
    assert failure_message(torch.tensor(0.052), torch.tensor(0.83), hint="Did you?") == (
        "Called f(x) and got 0.052; the expected value is 0.83, 16 times larger (relative error 0.94). "
        "Did you?"
    )
    ones = torch.ones(4, 10)
    off = ones.clone()
    off[2, 3] = 1.5
    assert failure_message(off, ones) == (
        "Called f(x) and got values that differ from the expected ones (relative error 0.5; 1 of 40 values "
        "off, first at index (2, 3): got 1.5, expected 1.0)."
    )
    labels_message = failure_message(torch.tensor([1, 2]), torch.tensor([1, 3]), what="the labels")
    assert labels_message.startswith("Called f(x) and got, for the labels, values that differ")
    check_tensor(torch.tensor([1.0, math.inf]), torch.tensor([1.0, math.inf]), call="f(x)")


def test_check_raises_passes_a_stub_through_and_names_the_wrong_outcome():
    def stub(*_args):
        raise NotImplementedError("ex1: implement softmax_with_temperature")

    def returns(*_args):
        return 3.0

    def wrong_error(*_args):
        raise TypeError("bad")

    assert isinstance(check_raises(int, "x", call="int('x')"), ValueError)
    with pytest.raises(NotImplementedError):
        check_raises(stub, call="f(0)")
    with pytest.raises(AssertionError, match=r"Called f\(0\) and got 3.0; expected a ValueError \(why\)"):
        check_raises(returns, call="f(0)", why="why")
    with pytest.raises(AssertionError, match=r"raised TypeError: bad; expected a ValueError"):
        check_raises(wrong_error, call="f(0)")


def test_not_started_recognises_only_a_stubs_exception():
    assert not_started(NotImplementedError("ex4: implement DynamicMasker.__call__"))
    assert not_started_exercise(NotImplementedError("ex3: implement halve_layers")) == "ex3"
    assert not not_started(NotImplementedError())
    assert not not_started(NotImplementedError("not yet"))
    assert not not_started(ValueError("ex1: implement softmax_with_temperature"))


# --------------------------------------------------------------------------------------------------
# Hints and learner-facing text


def test_hints_cover_every_exercise_with_two_to_four_hints(capsys):
    assert set(hints.HINTS) == {exercise.id for exercise in EXERCISES}
    assert all(2 <= len(texts) <= 4 for texts in hints.HINTS.values())
    assert hints.main([]) == 0
    assert "ex4: 4 hints" in capsys.readouterr().out
    assert hints.main(["ex2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ex2 hint 1 of 4:") and "ex2 2)" in out
    assert hints.main(["ex2", "--all"]) == 0
    assert capsys.readouterr().out.count("ex2 hint") == 4
    assert hints.main(["ex9"]) == 2 and hints.main(["ex1", "7"]) == 2


def test_hints_run_as_a_module():
    completed = subprocess.run(
        [sys.executable, "-m", "solutions.hints", "ex3", "2"],
        cwd=REPO_ROOT,
        env=subprocess_env(),
        capture_output=True,
        check=False,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0 and completed.stdout.startswith("ex3 hint 2 of 4:"), completed


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda exercise: exercise.id)
def test_each_solution_module_explains_itself_to_the_learner(exercise):
    source = (SOLUTIONS_DIR / exercise.filename).read_text()
    tree = ast.parse(source)
    assert ast.get_docstring(tree).startswith(f"{exercise.id}:")
    assert "arXiv:" in ast.get_docstring(tree)
    definitions = {node.name: node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    for name in exercise.names:
        docstring = ast.get_docstring(definitions[name])
        assert "Example::" in docstring, f"{name} has no worked example"
        assert "Args:" in docstring, f"{name} does not describe its arguments"
    assert source.count("# BEGIN SOLUTION:") == source.count("# END SOLUTION")
