"""The hidden graders judged against known submissions, through the real grading engine.

One batch (``grade_submissions``, two jobs) grades: the solutions (100, every check passed), the
untouched stubs (0, every check "not started"), every known-wrong submission of the catalogue (points
lost on its own exercise only, with the misconception named) and every alternative correct
implementation (100). The tests below read that batch's results.
"""

from __future__ import annotations

import copy
import re
import sys
import types
from pathlib import Path

import pytest
import torch

from autograder.demo.catalogue import ALTERNATIVES, DEMO_MISTAKES, HOLLOW, WRONG, Alternative, Hollow, Mistake
from autograder.demo.classroom import copy_exercise_files
from autograder.graders import zoo
from autograder.graders import zoo_answers as answers
from autograder.grading import grade_submissions
from autograder.manifest import EXERCISES, EXERCISES_DIR, GRADERS_DIR, POINTS_PER_EXERCISE, SOLUTIONS_DIR
from autograder.wire import values as protocol

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SOLUTION = "reference-solution"
STUBS = "untouched-stubs"


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> dict:
    """student id -> SubmissionResult for the whole catalogue, the solutions and the stubs."""
    root = tmp_path_factory.mktemp("submissions")
    paths = [
        copy_exercise_files(SOLUTIONS_DIR, root / SOLUTION),
        copy_exercise_files(EXERCISES_DIR, root / STUBS),
    ]
    paths += [entry.write(root / entry.student) for entry in [*WRONG, *ALTERNATIVES, *HOLLOW]]
    results = grade_submissions(paths, tmp_path_factory.mktemp("grades"), jobs=2, force=True)
    return {result.student: result for result in results}


def _failures(result) -> str:
    return "\n".join(
        f"  {check.exercise} {check.name}: {check.message}" for check in result.checks if not check.passed
    )


def test_catalogue_has_enough_distinct_entries():
    students = [entry.student for entry in [*WRONG, *ALTERNATIVES, *HOLLOW]]
    assert len(WRONG) >= 80
    assert len(ALTERNATIVES) >= 11
    assert len(HOLLOW) >= 5 and {entry.exercise for entry in HOLLOW} == {
        exercise.id for exercise in EXERCISES
    }
    assert all(isinstance(entry, Hollow) and entry.style for entry in HOLLOW)
    assert len(set(students)) == len(students), "student ids must be unique"
    assert {entry.exercise for entry in WRONG} == {exercise.id for exercise in EXERCISES}
    assert 3 <= len(DEMO_MISTAKES) <= 4 and all(entry in WRONG for entry in DEMO_MISTAKES)
    assert all(isinstance(entry, Mistake) and entry.expect for entry in WRONG)
    assert all(isinstance(entry, Alternative) and entry.source for entry in ALTERNATIVES)


@pytest.mark.parametrize("entry", [*WRONG, *ALTERNATIVES, *HOLLOW], ids=lambda entry: entry.student)
def test_catalogue_entry_changes_its_exercise_file(entry):
    solution = (SOLUTIONS_DIR / entry.filename).read_text()
    changed = entry.exercise_source()
    assert changed != solution
    compile(changed, entry.filename, "exec")


def test_solutions_pass_every_check(graded):
    result = graded[SOLUTION]
    assert result.error is None
    assert result.exercise_scores() == {exercise.id: POINTS_PER_EXERCISE for exercise in EXERCISES}, (
        _failures(result)
    )
    assert all(check.passed and check.points == check.max_points for check in result.checks)


def test_points_add_up_to_twenty_per_exercise(graded):
    result = graded[SOLUTION]
    for exercise in EXERCISES:
        checks = [check for check in result.checks if check.exercise == exercise.id]
        assert len(checks) >= 8, f"{exercise.id} has only {len(checks)} checks"
        assert sum(check.max_points for check in checks) == POINTS_PER_EXERCISE


def test_stubs_score_zero_and_say_not_started(graded):
    result = graded[STUBS]
    assert result.total == 0
    for check in result.checks:
        assert not check.passed and check.points == 0
        assert f"{check.exercise} not started" in check.message, check.message


@pytest.mark.parametrize("entry", WRONG, ids=lambda entry: entry.student)
def test_wrong_submission_loses_points_on_its_exercise_only(graded, entry):
    result = graded[entry.student]
    scores = result.exercise_scores()
    assert result.error is None
    assert scores[entry.exercise] < POINTS_PER_EXERCISE, f"{entry.student} kept full points"
    others = {exercise: points for exercise, points in scores.items() if exercise != entry.exercise}
    assert all(points == POINTS_PER_EXERCISE for points in others.values()), _failures(result)
    messages = [
        check.message for check in result.checks if check.exercise == entry.exercise and not check.passed
    ]
    assert any(entry.expect in message for message in messages), (
        f"no failed check of {entry.exercise} says {entry.expect!r}:\n{_failures(result)}"
    )
    assert not any(message.startswith("grader error") for message in messages), _failures(result)


@pytest.mark.parametrize("entry", HOLLOW, ids=lambda entry: entry.student)
def test_hollow_submission_scores_zero_on_its_exercise_and_full_marks_elsewhere(graded, entry):
    result = graded[entry.student]
    scores = result.exercise_scores()
    assert result.error is None
    assert scores[entry.exercise] == 0, _failures(result)
    assert all(
        points == POINTS_PER_EXERCISE for exercise, points in scores.items() if exercise != entry.exercise
    )
    messages = [check.message for check in result.checks if check.exercise == entry.exercise]
    assert not any(message.startswith("grader error") for message in messages), _failures(result)


@pytest.mark.parametrize("entry", ALTERNATIVES, ids=lambda entry: entry.student)
def test_alternative_correct_submission_scores_full_points(graded, entry):
    result = graded[entry.student]
    assert result.total == 100, _failures(result)


def test_every_check_is_failed_by_some_known_mistake(graded):
    failed = {
        (check.exercise, check.name)
        for entry in WRONG
        for check in graded[entry.student].checks
        if not check.passed
    }
    every = {(check.exercise, check.name) for check in graded[SOLUTION].checks}
    assert every - failed == set(), "checks that no known mistake fails"


@pytest.mark.parametrize(
    "model",
    [
        zoo.TiedLanguageModel(vocab_size=50, hidden_size=6),
        zoo.BufferedEncoder(size=4, buffer_size=1000),
        zoo.PartlyFrozenClassifier(vocab_size=30, hidden_size=5, num_classes=3),
        zoo.SharedAcrossChildren(vocab_size=40, hidden_size=6),
        zoo.HeldByModelAndChild(hidden_size=5),
        zoo.BertShape(vocab_size=77, num_hidden_layers=3, use_pooler=False),
    ],
    ids=lambda model: type(model).__name__,
)
def test_zoo_models_cross_the_protocol_unchanged(model):
    rebuilt = protocol.decode(protocol.loads(protocol.dumps(protocol.encode(model))))
    assert type(rebuilt) is type(model)
    assert rebuilt.init_kwargs == model.init_kwargs
    assert protocol.tied_groups(rebuilt) == protocol.tied_groups(model)
    for (name, tensor), (other_name, other) in zip(
        model.state_dict().items(), rebuilt.state_dict().items(), strict=True
    ):
        assert name == other_name and torch.equal(tensor, other)
    frozen = [name for name, p in model.named_parameters() if not p.requires_grad]
    assert frozen == [name for name, p in rebuilt.named_parameters() if not p.requires_grad]


@pytest.mark.parametrize("family", ["given", "hf"])
def test_a_models_inner_config_crosses_with_its_own_layer_count(family):
    if family == "hf":
        import transformers as classes
    else:
        from solutions import model as classes
    config = classes.BertConfig(
        vocab_size=40, hidden_size=8, num_attention_heads=2, intermediate_size=8, num_hidden_layers=2
    )
    model = classes.BertForMaskedLM(config)
    rebuilt = protocol.decode(protocol.loads(protocol.dumps(protocol.encode(model))))
    assert rebuilt.bert.config.num_hidden_layers == rebuilt.config.num_hidden_layers == 2

    model.bert.config = copy.copy(model.bert.config)
    model.bert.config.num_hidden_layers = 5  # only the outer config says 2, as the layers do
    tree = protocol.encode(model)
    assert tree["inner_layers"] == {"bert": 5}
    rebuilt = protocol.decode(protocol.loads(protocol.dumps(tree)))
    assert (rebuilt.config.num_hidden_layers, rebuilt.bert.config.num_hidden_layers) == (2, 5)
    assert len(rebuilt.bert.encoder.layer) == 2

    allow = protocol.ModelAllowance.of_arguments([model])
    with pytest.raises(protocol.ProtocolError, match="num_hidden_layers is 9"):
        protocol.decode({**tree, "inner_layers": {"bert": 9}}, allow=allow)
    for malformed in ({"bert": "5"}, {"bert": -1}, [5], {str(i): 1 for i in range(65)}):
        with pytest.raises(protocol.ProtocolError):
            protocol.decode({**tree, "inner_layers": malformed})


@pytest.mark.parametrize("family", ["given", "hf"])
@pytest.mark.parametrize("masked_lm", [False, True], ids=["BertModel", "BertForMaskedLM"])
def test_a_model_whose_config_miscounts_its_layers_crosses_as_it_is(family, masked_lm):
    """A student whose config still says the teacher's layer count comes back holding the layers it holds
    and saying what it said (was: refused as a state that does not fit its config, which cost every check
    of halve_layers); a reply with more layers than any model sent is still refused."""
    if family == "hf":
        import transformers as classes
    else:
        from solutions import model as classes
    config = classes.BertConfig(
        vocab_size=40, hidden_size=8, num_attention_heads=2, intermediate_size=8, num_hidden_layers=4
    )
    model = (classes.BertForMaskedLM if masked_lm else classes.BertModel)(config)
    body = model.bert if masked_lm else model
    body.encoder.layer = torch.nn.ModuleList(body.encoder.layer[::2])  # 2 layers, the config says 4
    tree = protocol.encode(model)
    allow = protocol.ModelAllowance.of_arguments([model])
    rebuilt = protocol.decode(protocol.loads(protocol.dumps(tree)), allow=allow)
    rebuilt_body = rebuilt.bert if masked_lm else rebuilt
    assert len(rebuilt_body.encoder.layer) == 2
    assert rebuilt.config.num_hidden_layers == rebuilt_body.config.num_hidden_layers == 4
    for (name, tensor), (other_name, other) in zip(
        model.state_dict().items(), rebuilt.state_dict().items(), strict=True
    ):
        assert name == other_name and torch.equal(tensor, other)

    prefix = "bert.encoder.layer." if masked_lm else "encoder.layer."
    extra = {
        k.replace(f"{prefix}1.", f"{prefix}{i}."): v for i in range(2, 6) for k, v in tree["state"].items()
    }
    bigger = {**tree, "state": {**tree["state"], **{k: v for k, v in extra.items() if k.startswith(prefix)}}}
    with pytest.raises(protocol.ProtocolError, match="num_hidden_layers is 6"):
        protocol.decode(bigger, allow=allow)


def test_a_model_of_a_class_not_sent_is_refused_naming_its_class():
    from solutions import model as classes

    config = classes.BertConfig(
        vocab_size=40, hidden_size=8, num_attention_heads=2, intermediate_size=8, num_hidden_layers=2
    )
    teacher = classes.BertForMaskedLM(config)
    allow = protocol.ModelAllowance.of_arguments([teacher])
    with pytest.raises(protocol.ModelClassRefused) as refused:
        protocol.decode(protocol.encode(teacher.bert), allow=allow)
    assert refused.value.class_name == "BertModel"


def test_zoo_models_know_their_counts():
    tied = zoo.TiedLanguageModel(vocab_size=50, hidden_size=6)
    assert answers.expected_count(tied) == sum(p.numel() for p in tied.parameters())
    assert answers.expected_double_count(tied) == sum(t.numel() for t in tied.state_dict().values())
    buffered = zoo.BufferedEncoder(size=4, buffer_size=1000)
    assert answers.expected_count(buffered) == sum(p.numel() for p in buffered.parameters())
    assert answers.buffer_count(buffered) == sum(b.numel() for b in buffered.buffers())
    frozen = zoo.PartlyFrozenClassifier(vocab_size=30, hidden_size=5, num_classes=3)
    trainable = [p.numel() for p in frozen.parameters() if p.requires_grad]
    assert answers.expected_trainable(frozen) == sum(trainable)
    assert answers.expected_frozen(frozen) == sum(p.numel() for p in frozen.parameters()) - sum(trainable)
    shared = zoo.SharedAcrossChildren(vocab_size=40, hidden_size=6)
    assert sum(answers.expected_breakdown(shared).values()) == sum(p.numel() for p in shared.parameters())
    held = zoo.HeldByModelAndChild(hidden_size=5)
    assert sum(answers.expected_breakdown(held).values()) == sum(p.numel() for p in held.parameters())
    assert held.norm.weight is held.scale and answers.shared_count(held) == held.scale.numel()
    assert list(answers.expected_breakdown(held))[:-1] == [name for name, _ in held.named_children()]


def test_no_model_that_crosses_carries_its_answer():
    """The zoo's models go to the submission's worker, where its code can call anything they offer: their
    answers live in zoo_answers, which the worker never imports (a model with an ``expected_count()``
    method handed a count_parameters that returns it 20/20)."""
    from autograder.sandbox.zygote import ZYGOTE_MODULES

    offered_by_torch = set(dir(torch.nn.Module))
    for name in zoo.__all__:
        own = set(dir(getattr(zoo, name))) - offered_by_torch
        assert own <= {"EXTRA_FIELDS", "to_dict"}, f"zoo.{name} offers {sorted(own)}"
    assert "autograder.graders.zoo_answers" not in ZYGOTE_MODULES
    assert not any(
        line.startswith(("import", "from")) and "zoo_answers" in line
        for line in Path(zoo.__file__).read_text().splitlines()
    )


def _toy(*checks: tuple[str, int, str, str | None]) -> str:
    """A graders file: each check (name, points, body, the check it requires or None)."""
    source = "import pytest\n"
    for name, points, body, requires in checks:
        source += f"\n@pytest.mark.points({points})\n"
        if requires:
            source += f"@pytest.mark.requires({requires!r})\n"
        source += f"def {name}():\n    {body}\n"
    return source


def _toy_folder(tmp_path, source: str):
    """A folder holding one graders file, its name unique to the test (pytest imports each by name)."""
    folder = tmp_path / "toy_graders"
    folder.mkdir()
    (folder / f"test_ex1_{re.sub(r'[^0-9a-zA-Z]', '_', tmp_path.name)}.py").write_text(source)
    return folder


def _run_toy_graders(tmp_path, source: str, *, whole: bool = False):
    from autograder.grading.plugin import ChecksPlugin

    plugin = ChecksPlugin(whole=whole)
    folder = _toy_folder(tmp_path, source)
    pytest.main([str(folder), "-q", "-p", "no:cacheprovider", "--import-mode=importlib"], plugins=[plugin])
    return plugin


def test_a_side_check_earns_nothing_while_the_check_it_requires_fails(tmp_path):
    plugin = _run_toy_graders(
        tmp_path,
        _toy(
            ("test_core", 3, "assert False, 'wrong value'", None),
            ("test_side", 1, "pass", "test_core"),
            ("test_side_failing", 1, "assert False, 'own message'", "test_core"),
        ),
    )
    results = {result.name: result for result in plugin.results}
    assert results["test_core"].points == 0 and not results["test_core"].passed
    assert results["test_side"].points == 0 and not results["test_side"].passed
    assert "test_core must pass first" in results["test_side"].message
    assert results["test_side_failing"].message == "own message"


def test_a_side_check_earns_its_points_once_the_check_it_requires_passes(tmp_path):
    plugin = _run_toy_graders(
        tmp_path,
        _toy(("test_core", 3, "pass", None), ("test_side", 1, "pass", "test_core")),
    )
    assert [(result.name, result.points, result.passed) for result in plugin.results] == [
        ("test_core", 3.0, True),
        ("test_side", 1.0, True),
    ]


def test_a_side_check_that_requires_any_of_two_checks_needs_only_one_to_pass(tmp_path):
    toy = _toy(
        ("test_default", 3, "assert False, 'wrong default'", None),
        ("test_asked", 3, "pass", None),
        ("test_both_failed", 2, "assert False, 'also wrong'", None),
    )
    toy += (
        "\n@pytest.mark.points(1)\n@pytest.mark.requires('test_default', 'test_asked', any_of=True)\n"
        "def test_side_one_passed():\n    pass\n"
        "\n@pytest.mark.points(1)\n@pytest.mark.requires('test_default', 'test_both_failed', any_of=True)\n"
        "def test_side_none_passed():\n    pass\n"
    )
    results = {result.name: result for result in _run_toy_graders(tmp_path, toy).results}
    assert results["test_side_one_passed"].points == 1 and results["test_side_one_passed"].passed
    assert results["test_side_none_passed"].points == 0
    assert "test_default or test_both_failed must pass first" in results["test_side_none_passed"].message
    # the rule is said as the rule: the code it holds back is not called hollow
    assert "a function that checks its arguments" not in results["test_side_none_passed"].message


def test_a_side_check_that_requires_two_checks_waits_for_both(tmp_path):
    toy = _toy(
        ("test_rate", 3, "pass", None),
        ("test_fresh", 1, "assert False, 'same mask twice'", None),
        ("test_also", 1, "assert False, 'also wrong'", None),
    )
    toy += (
        "\n@pytest.mark.points(1)\n@pytest.mark.requires('test_rate', 'test_fresh')\n"
        "def test_side_one_failed():\n    pass\n"
        "\n@pytest.mark.points(1)\n@pytest.mark.requires('test_fresh', 'test_also')\n"
        "def test_side_both_failed():\n    pass\n"
        "\n@pytest.mark.points(1)\n@pytest.mark.requires('test_rate')\n"
        "def test_side_passed():\n    pass\n"
    )
    results = {result.name: result for result in _run_toy_graders(tmp_path, toy).results}
    assert results["test_side_one_failed"].points == 0 and not results["test_side_one_failed"].passed
    assert (
        "only once the function does its job: test_fresh must pass first"
        in results["test_side_one_failed"].message
    )
    assert "test_fresh and test_also must pass first" in results["test_side_both_failed"].message
    assert results["test_side_passed"].points == 1


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        (
            _toy(("test_side", 1, "pass", "test_core"), ("test_core", 1, "pass", None)),
            "runs after it",
        ),
        (_toy(("test_side", 1, "pass", "test_nothing")), "not a check of ex1"),
        (
            _toy(("test_core", 1, "pass", None))
            + "\n@pytest.mark.points(1)\n@pytest.mark.needs('transformers')\n"
            "@pytest.mark.requires('test_core')\ndef test_late():\n    pass\n",
            "late pass",
        ),
    ],
    ids=["required-later", "required-unknown", "required-by-a-late-check"],
)
def test_a_misplaced_requirement_is_a_grader_bug(tmp_path, source, problem):
    from autograder.grading.plugin import ChecksPlugin

    plugin = ChecksPlugin(whole=True)
    folder = _toy_folder(tmp_path, source)
    pytest.main([str(folder), "-q", "-p", "no:cacheprovider", "--import-mode=importlib"], plugins=[plugin])
    assert any(problem in error for error in plugin.collection_errors), plugin.collection_errors


# --------------------------------------------------------------------------------------------------
# The coverage table: every sentence of the contract, the checks that cover it, the inputs they use.

CONTRACT = GRADERS_DIR.parents[1] / "docs" / "CONTRACT.md"
PATHS = {
    "default-args", "explicit-args", "positional-args", "T=1", "T<1", "T>1", "mask", "no-mask",
    "via-student_loss", "1-D", "2-D", "3-D", "4-D", "float32", "float64", "layers-default",
    "layers-unordered", "layers-duplicate", "layers-negative", "layers-out-of-range", "layers-empty",
    "BertModel", "BertForMaskedLM", "transformers-classes", "package-classes", "package-config",
    "transformers-config", "tiny-vocabulary", "short-rows", "per-row-spread", "generator", "no-generator",
}  # fmt: skip
# What earns points: "default arguments, T = 1 as well as T != 1, with and without a mask, 2-D and 3-D
# inputs, both model classes and transformers' classes and configs", and the issue's list of inputs.
REQUIRED_PATHS = {
    "ex1": {"default-args", "explicit-args", "T=1", "T<1", "T>1", "2-D", "3-D", "float32", "float64"},
    "ex2": {"default-args", "explicit-args", "T=1", "T<1", "T>1", "mask", "no-mask", "via-student_loss",
            "2-D", "3-D", "float32", "float64"},
    "ex3": {"layers-default", "layers-unordered", "layers-duplicate", "layers-negative",
            "layers-out-of-range", "BertModel", "BertForMaskedLM", "transformers-classes"},
    "ex4": {"default-args", "explicit-args", "1-D", "2-D", "3-D", "tiny-vocabulary", "short-rows",
            "per-row-spread", "generator", "no-generator"},
    "ex5": {"default-args", "explicit-args", "package-classes", "transformers-classes", "package-config",
            "transformers-config"},
}  # fmt: skip


def _normalised(text: str) -> str:
    return " ".join(text.split())


def contract_sentences(text: str) -> list[str]:
    """The sentences of the contract's sections "The five exercises" and "What earns points"."""
    start = text.index("## The five exercises")
    end = text.index("## Grading interface")
    sentences = []
    for block in re.split(r"\n(?=- |#|`)|\n\s*\n", text[start:end]):
        block = _normalised(block).removeprefix("- ")
        if not block or block.startswith("#"):
            continue
        sentences += re.split(r"(?<=[.;])\s+(?=[A-Z`(])", block)
    return sentences


def coverage_table() -> list[dict]:
    return tomllib.loads((GRADERS_DIR / "coverage.toml").read_text())["clause"]


def collected_checks() -> set[str]:
    from autograder.grading.plugin import ChecksPlugin

    plugin = ChecksPlugin(whole=True)
    code = pytest.main([str(GRADERS_DIR), "--collect-only", "-q", "-p", "no:cacheprovider"], plugins=[plugin])
    assert code == 0 and not plugin.collection_errors
    return {f"{check.exercise}::{check.name}" for check in plugin.plan}


def test_the_contract_is_in_the_repository_with_its_points_section():
    assert "## What earns points" in CONTRACT.read_text(encoding="utf-8")


def test_coverage_table_has_every_contract_sentence_and_nothing_else():
    sentences = [
        _normalised(sentence) for sentence in contract_sentences(CONTRACT.read_text(encoding="utf-8"))
    ]
    texts = [_normalised(clause["text"]) for clause in coverage_table()]
    assert len(sentences) >= 40
    assert [sentence for sentence in sentences if sentence not in texts] == []
    assert [text for text in texts if text not in sentences] == []
    assert len(set(texts)) == len(texts)


def contract_exercises(text: str) -> set[str]:
    """The exercises the contract specifies (its ``### exN`` headings)."""
    return set(re.findall(r"^### (ex\d+)\b", text, flags=re.MULTILINE))


def test_coverage_table_names_real_checks_and_every_check():
    checks = collected_checks()
    table = coverage_table()
    named = {check for clause in table for check in clause["checks"]}
    specified = contract_exercises(CONTRACT.read_text(encoding="utf-8"))
    assert specified == {"ex1", "ex2", "ex3", "ex4", "ex5"}
    assert named - checks == set(), "checks in coverage.toml that the graders do not have"
    # An exercise added beyond the contract has no sentence to cover; every check of the contract's does.
    unaudited = {check for check in checks - named if check.partition("::")[0] in specified}
    assert unaudited == set(), "checks that cover no sentence of the contract in coverage.toml"
    for clause in table:
        assert clause["checks"], clause["text"]
        assert all(inputs.strip() for inputs in clause["checks"].values()), clause["text"]
        assert set(clause["paths"]) <= PATHS, set(clause["paths"]) - PATHS


def test_every_exercise_is_checked_on_every_path_the_contract_lists():
    reached: dict[str, set[str]] = {exercise: set() for exercise in REQUIRED_PATHS}
    for clause in coverage_table():
        for exercise in {check.partition("::")[0] for check in clause["checks"]}:
            reached[exercise] |= set(clause["paths"])
    assert {
        exercise: sorted(REQUIRED_PATHS[exercise] - reached[exercise]) for exercise in REQUIRED_PATHS
    } == {exercise: [] for exercise in REQUIRED_PATHS}


def test_transformers_config_stand_in_has_the_fields_of_transformers_config():
    transformers = pytest.importorskip("transformers")
    real = transformers.BertConfig()
    stand_in = zoo.TransformersConfigShape()
    assert not hasattr(real, "use_pooler") and not hasattr(stand_in, "use_pooler")
    real_fields = real.to_dict()
    for name, value in stand_in.to_dict().items():
        assert name in real_fields and real_fields[name] == value, name


def test_a_bert_count_short_by_the_token_types_or_the_layer_norm_biases_is_named_as_such():
    """An outsider's two slips: with type_vocab_size=2 the missing token-type rows (2H) cannot be told from
    the embeddings' LayerNorm (2H), so both are named; elsewhere each has a sentence of its own."""
    from solutions.ex5_params import bert_parameter_count
    from solutions.support.diagnosis.core import diagnose
    from solutions.support.diagnosis.params import formula_mistakes

    def sentence(fields: dict, short_by: int) -> str:
        config = types.SimpleNamespace(**fields, use_pooler=True)
        right = bert_parameter_count(config)
        return diagnose(right - short_by, formula_mistakes(config), expected=right)

    base = {"vocab_size": 30522, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
            "intermediate_size": 3072, "max_position_embeddings": 512, "type_vocab_size": 2}  # fmt: skip
    both = sentence(base, 2 * 768)
    assert "LayerNorm adds 2H" in both and "token-type embeddings" in both
    three_types = {**base, "type_vocab_size": 3, "num_hidden_layers": 2}
    assert sentence(three_types, 3 * 768).startswith("The token-type embeddings add")
    assert sentence(base, 25 * 768).startswith("The LayerNorms' biases were left out")


@pytest.mark.parametrize("student", ["ex4-selects-special-tokens", "ex4-mask-id-toggled-out-of-specials"])
def test_a_masker_that_selects_special_tokens_loses_only_that_checks_points(graded, student):
    """Special tokens never selected is a side property (CONTRACT.md, What earns points): its check fails,
    and the 80/10/10 split, the labels, the probabilities and the shapes, which are right, keep theirs."""
    failed = [c.name for c in graded[student].checks if c.exercise == "ex4" and not c.passed]
    assert failed == ["test_masker_never_selects_special_tokens"], _failures(graded[student])


def test_labels_never_minus_100_are_named_as_such_not_as_a_selection_gone_wrong(graded):
    """The checks read the selection from the labels: with none left out, each says so instead of
    reporting a fixed count per row, a mask that never changes or nothing drawn."""
    result = graded["ex4-labels-everywhere"]
    failed = [c for c in result.checks if c.exercise == "ex4" and not c.passed]
    assert failed, "the masker kept its points"
    for check in failed:
        assert "no label is -100" in check.message or check.message.startswith("This property holds"), (
            f"{check.name}: {check.message}"
        )


def test_a_wrong_default_choice_of_layers_costs_only_the_checks_of_that_choice(graded):
    """halve_layers that keeps the layers asked for does its job: a student_layer_indices that keeps
    floor(n / 2) layers costs its own checks and the default-layers check (7 points), not every check that
    leaves the layers out (was 18: the side checks waited for the default-layers check)."""
    failed = {
        c.name for c in graded["ex3-floor-half-for-odd-counts"].checks if c.exercise == "ex3" and not c.passed
    }
    assert failed == {
        "test_student_layer_indices_keep_every_other_layer_from_zero",
        "test_student_layer_indices_rejects_fewer_than_one_layer",
        "test_halve_layers_keeps_every_other_teacher_layer",
    }, _failures(graded["ex3-floor-half-for-odd-counts"])


def test_a_config_left_at_the_teachers_count_costs_only_the_config_checks(graded):
    """The student comes back as it is (its layers, its config's count): the layers, the weights, the
    head and the teacher are all right and keep their points (was 4/20: every call was refused)."""
    result = graded["ex3-config-not-updated"]
    failed = {c.name for c in result.checks if c.exercise == "ex3" and not c.passed}
    assert (
        failed
        <= {
            "test_halve_layers_updates_num_hidden_layers",
            "test_halve_layers_works_on_transformers_models",
        }
        and "test_halve_layers_updates_num_hidden_layers" in failed
    ), _failures(result)


@pytest.mark.parametrize("student", ["ex4-hollow-masks-everything", "ex4-hollow-masks-nothing"])
def test_a_hollow_maskers_messages_name_no_slip_its_outputs_do_not_show(graded, student):
    """Selecting everything or nothing is not 15% of all positions, an excluded largest id, 'random'
    drawn among the rest, or reseeding: none of those hints may appear; what was seen is said instead."""
    messages = " ".join(c.message for c in graded[student].checks if c.exercise == "ex4" and not c.passed)
    for hint in (
        "15% of all positions including",
        "vocab_size - 1 would never be drawn",
        "Drawing 'random'",
        "do not reseed",
        "does not depend on the generator",
    ):
        assert hint not in messages, f"{student}: {hint!r} in {messages}"
    seen = (
        "Every non-special token was selected"
        if "everything" in student
        else "no non-special position was selected"
    )
    assert seen in messages, messages
    assert "nothing was drawn at all" in messages, messages
    if "nothing" in student:
        assert "a fixed number per row" not in messages and "No position was selected in any row" in messages
        assert "mlm_probability=0.5) and nothing was selected" in messages, messages  # the masker as made


@pytest.mark.parametrize(
    ("student", "says", "never"),
    [
        (
            "ex4-no-unchanged-case",
            "selected tokens were replaced (",  # with mask and random at 0, what the masker did instead
            "but every one left unchanged",  # read as what was seen, it was the opposite
        ),
        (
            "ex4-random-excludes-largest",
            "never drawn: [7]",
            "although mask_replace_prob=0.0",  # random ids that land on the mask id are not [MASK]
        ),
        (
            "ex3-teacher-cut-in-place",
            "afterwards the teacher had changed: it holds",
            "the student needs its own copy of the config",  # the student had one: the teacher was cut
        ),
        (
            "ex2-no-temperature-squared",  # distillation_loss lacks T**2; student_loss uses it as it is
            "The soft term lacks its T**2",
            "distillation_loss already includes T**2: use it as it is",
        ),
        (
            "ex5-breakdown-forgets-own-parameters",
            'go under the key ""',
            "': '",  # the learner's ints shown as quoted strings ('2,400') beside the expected ints
        ),
        (
            "ex2-alpha-swapped",  # an int temperature gives what 3.0 gives: ints are not what went wrong
            "the weights are swapped",
            "not the answer it gives with a float",
        ),
        (
            "ex2-3d-divides-by-batch",  # the hard-term check at T = 1 blamed the contract's hard term
            "The soft term is 6 times too big: its KL is divided by the batch size (2) only",
            "The contract: student_loss",
        ),
        (
            "ex4-labels-only-where-changed",
            "every label is -100: about 15% should be selected, then all left unchanged",
            "but every one left unchanged",
        ),
        (
            "ex4-zero-division",
            "Called DynamicMasker(vocab_size=1000, mask_token_id=103",  # the masker that raised, as made
            "DynamicMasker(...)(",
        ),
    ],
)
def test_a_wrong_submissions_message_says_what_its_code_did(graded, student, says, never):
    """Found by an outsider's submissions: each message below blamed something the code did not do, or
    hid the arguments that made it fail."""
    messages = " ".join(c.message for c in graded[student].checks if not c.passed)
    assert says in messages, messages
    assert never not in messages, messages


def test_a_config_stand_in_is_named_as_the_config_it_stands_for_in_a_call_that_raised():
    """The graders send configs as small modules (zoo.BertShape); a learner has never seen that name."""
    from autograder.submission import describe

    assert describe(zoo.BertShape()) == "BertConfig(hidden_size=768, ...)"
    assert (
        describe(zoo.TransformersConfigShape(hidden_size=64))
        == "transformers.BertConfig(hidden_size=64, ...)"
    )
    assert describe(zoo.HeldByModelAndChild(hidden_size=5)) == "HeldByModelAndChild()"


@pytest.mark.parametrize("student", ["ex1-returns-float64", "ex1-float32-inside"])
def test_a_softmax_in_another_dtype_loses_only_the_dtype_check(graded, student):
    """The dtype is a side property with a check of its own (CONTRACT.md, What earns points): right values
    in float64 kept every value check (was 0/20: each value check failed on the dtype, then the gate)."""
    failed = [c.name for c in graded[student].checks if c.exercise == "ex1" and not c.passed]
    assert failed == ["test_softmax_keeps_dtype_and_shape"], _failures(graded[student])


def test_counting_buffers_costs_only_the_check_about_buffers(graded):
    """BERT has buffers: a count that is right but for them kept failing the shared-parameter, trainable
    and transformers checks (was 11/20, the one slip charged four times)."""
    result = graded["ex5-buffers-counted"]
    failed = [c.name for c in result.checks if c.exercise == "ex5" and not c.passed]
    assert failed == ["test_count_parameters_ignores_buffers"], _failures(result)
