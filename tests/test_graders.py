"""The hidden graders judged against known submissions, through the real grading engine.

One batch (``grade_submissions``, two jobs) grades: the solutions (100, every check passed), the
untouched stubs (0, every check "not started"), every known-wrong submission of the catalogue (points
lost on its own exercise only, with the misconception named) and every alternative correct
implementation (100). The tests below read that batch's results.
"""

from __future__ import annotations

import pytest
import torch

from autograder import protocol
from autograder.demo.catalogue import ALTERNATIVES, DEMO_MISTAKES, WRONG, Alternative, Mistake
from autograder.demo.classroom import copy_exercise_files
from autograder.engine import grade_submissions
from autograder.graders import zoo
from autograder.layout import EXERCISES, EXERCISES_DIR, POINTS_PER_EXERCISE, SOLUTIONS_DIR

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
    paths += [entry.write(root / entry.student) for entry in [*WRONG, *ALTERNATIVES]]
    results = grade_submissions(paths, tmp_path_factory.mktemp("grades"), jobs=2, force=True)
    return {result.student: result for result in results}


def _failures(result) -> str:
    return "\n".join(
        f"  {check.exercise} {check.name}: {check.message}" for check in result.checks if not check.passed
    )


def test_catalogue_has_enough_distinct_entries():
    students = [entry.student for entry in [*WRONG, *ALTERNATIVES]]
    assert len(WRONG) >= 30
    assert len(ALTERNATIVES) >= 5
    assert len(set(students)) == len(students), "student ids must be unique"
    assert {entry.exercise for entry in WRONG} == {exercise.id for exercise in EXERCISES}
    assert 3 <= len(DEMO_MISTAKES) <= 4 and all(entry in WRONG for entry in DEMO_MISTAKES)
    assert all(isinstance(entry, Mistake) and entry.expect for entry in WRONG)
    assert all(isinstance(entry, Alternative) and entry.source for entry in ALTERNATIVES)


@pytest.mark.parametrize("entry", [*WRONG, *ALTERNATIVES], ids=lambda entry: entry.student)
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
        zoo.BertShape(vocab_size=77, num_hidden_layers=3, use_pooler=False),
    ],
    ids=lambda model: type(model).__name__,
)
def test_zoo_models_cross_the_protocol_unchanged(model):
    rebuilt = protocol.decode(protocol.loads(protocol.dumps(protocol.encode(model))))
    assert type(rebuilt) is type(model)
    assert rebuilt.init_kwargs == model.init_kwargs
    assert protocol.tied_groups(rebuilt) == protocol.tied_groups(model)
    for (name, tensor), (other_name, other) in zip(model.state_dict().items(), rebuilt.state_dict().items()):
        assert name == other_name and torch.equal(tensor, other)
    frozen = [name for name, p in model.named_parameters() if not p.requires_grad]
    assert frozen == [name for name, p in rebuilt.named_parameters() if not p.requires_grad]


def test_zoo_models_know_their_counts():
    tied = zoo.TiedLanguageModel(vocab_size=50, hidden_size=6)
    assert tied.expected_count() == sum(p.numel() for p in tied.parameters())
    assert tied.expected_double_count() == sum(t.numel() for t in tied.state_dict().values())
    buffered = zoo.BufferedEncoder(size=4, buffer_size=1000)
    assert buffered.expected_count() == sum(p.numel() for p in buffered.parameters())
    assert buffered.buffer_count() == sum(b.numel() for b in buffered.buffers())
    frozen = zoo.PartlyFrozenClassifier(vocab_size=30, hidden_size=5, num_classes=3)
    assert frozen.expected_trainable() == sum(p.numel() for p in frozen.parameters() if p.requires_grad)
    assert frozen.expected_frozen() == sum(p.numel() for p in frozen.parameters() if not p.requires_grad)
    shared = zoo.SharedAcrossChildren(vocab_size=40, hidden_size=6)
    assert sum(shared.expected_breakdown().values()) == sum(p.numel() for p in shared.parameters())
