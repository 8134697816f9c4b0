"""The practice walk-through notebook (``solutions/walkthrough.ipynb``): its nbgrader structure, and what its
autograded cells say when run with a real kernel on the solution, on blank answers, on alternative correct
answers and on known-wrong ones.

Each executed variant starts one kernel and takes a few seconds; they are built once per module.
"""

from __future__ import annotations

import ast
import copy
import re
import textwrap

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat import NotebookNode
from nbgrader.nbgraderformat import MetadataValidator
from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions

from autograder.manifest import SOLUTIONS_DIR

SOURCE_NOTEBOOK = SOLUTIONS_DIR / "walkthrough.ipynb"
AUTOGRADED_POINTS = 30
MANUAL_POINTS = 5
CELL_TIMEOUT_SECONDS = 60
NOT_STARTED = "not answered yet"
OPTIONAL_ANSWER = "distil_answer"

pytestmark = pytest.mark.slow


def nbgrader_meta(cell: NotebookNode) -> dict:
    return cell.metadata.get("nbgrader", {})


def read_source() -> NotebookNode:
    return nbformat.read(SOURCE_NOTEBOOK, as_version=4)


def cell_by_id(notebook: NotebookNode, grade_id: str) -> NotebookNode:
    matches = [cell for cell in notebook.cells if nbgrader_meta(cell).get("grade_id") == grade_id]
    assert len(matches) == 1, f"expected one cell with grade_id {grade_id!r}, found {len(matches)}"
    return matches[0]


def test_cells(notebook: NotebookNode) -> list[NotebookNode]:
    """The autograded test cells (graded code cells), in notebook order."""
    return [cell for cell in notebook.cells if cell.cell_type == "code" and nbgrader_meta(cell).get("grade")]


test_cells.__test__ = False  # a helper, not a pytest test


def execute(notebook: NotebookNode, tmp_dir) -> NotebookNode:
    """Runs every cell with a real python3 kernel, errors kept as outputs, as nbgrader's autograde does."""
    executed = copy.deepcopy(notebook)
    client = NotebookClient(
        executed,
        timeout=CELL_TIMEOUT_SECONDS,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(tmp_dir)}},
    )
    client.execute()
    return executed


def error_of(cell: NotebookNode) -> dict | None:
    """The cell's error output (``ename``, ``evalue``), or None when it ran through."""
    for output in cell.get("outputs", []):
        if output.output_type == "error":
            return {"ename": output.ename, "evalue": output.evalue}
    return None


def stdout_of(cell: NotebookNode) -> str:
    return "".join(output.text for output in cell.get("outputs", []) if output.output_type == "stream")


def with_answers(answers: dict[str, str]) -> NotebookNode:
    """The source notebook with some answer cells replaced (hidden tests kept, as at autograde)."""
    notebook = read_source()
    for grade_id, source in answers.items():
        cell = cell_by_id(notebook, grade_id)
        assert nbgrader_meta(cell)["solution"], f"{grade_id} is not an answer cell"
        cell.source = textwrap.dedent(source).strip("\n")
    return notebook


@pytest.fixture(scope="module")
def solved(tmp_path_factory) -> NotebookNode:
    return execute(read_source(), tmp_path_factory.mktemp("solved"))


@pytest.fixture(scope="module")
def blank(tmp_path_factory) -> NotebookNode:
    """Solutions stripped by nbgrader's ClearSolutions, hidden tests kept: a blank submission at autograde."""
    notebook, _ = ClearSolutions().preprocess(read_source(), {})
    return execute(notebook, tmp_path_factory.mktemp("blank"))


WRONG_ANSWERS = {
    "soften": """
        def soften(logits, T):
            scaled = np.asarray(logits, dtype=np.float64) * T
            weights = np.exp(scaled - scaled.max(axis=-1, keepdims=True))
            return weights / weights.sum(axis=-1, keepdims=True)
    """,
    "distillation_kl": """
        def distillation_kl(student_logits, teacher_logits, T):
            log_q_student = F.log_softmax(student_logits / T, dim=-1)
            p_teacher = F.softmax(teacher_logits.detach() / T, dim=-1)
            return F.kl_div(log_q_student, p_teacher, reduction="batchmean")
    """,
    "count_distinct_masks": """
        def count_distinct_masks(num_epochs, duplicates, dynamic, seq_len=128, seed=0):
            rng = np.random.default_rng(seed)
            return len({random_mask(seq_len, rng) for _ in range(num_epochs)})
    """,
    "wrong_class_ranking": """
        def wrong_class_ranking(probabilities, labels, digit):
            average = np.asarray(probabilities)[np.asarray(labels) == digit].mean(axis=0)
            return [int(c) for c in np.argsort(average) if c != digit]
    """,
    "recipes": """
        recipes = {
            "BERT": {"next_sentence_prediction": "yes", "masking": "Static", "data_gb": "16 GB",
                     "batch_size": 256},
            "RoBERTa": {"next_sentence_prediction": "no", "masking": "dynamic", "data_gb": "160GB",
                        "batch_size": "2K"},
        }
        what_it_revealed = {"next_sentence_prediction": "E", "masking": "B", "data_gb": "C",
                            "batch_size": "D"}
    """,
    "model_choice": """
        model_choice = {"overnight_batch": "RoBERTa", "phone_app": "DistilRoBERTa",
                        "cpu_api": "DistilRoBERTa", "next_sentence": "BERT"}
    """,
}

ALTERNATIVE_RIGHT_ANSWERS = {
    "soften": """
        import scipy.special

        def soften(logits, T):
            return scipy.special.softmax(np.array(logits, dtype=np.float32) / T, axis=-1)
    """,
    "soft_targets": """
        import scipy.stats

        soft_targets, mean_entropy = {}, {}
        for T in TEMPERATURES:
            soft_targets[T] = soften(teacher_logits_transfer, T)
            mean_entropy[T] = np.mean(scipy.stats.entropy(soft_targets[T], axis=-1))
        for T in TEMPERATURES:
            print(f"T = {T:>2}: mean entropy {mean_entropy[T]:.3f} nats")
    """,
    "wrong_class_ranking": """
        def wrong_class_ranking(probabilities, labels, digit):
            rows = [p for p, label in zip(probabilities, labels) if label == digit]
            average = sum(rows) / len(rows)
            return sorted((c for c in range(len(average)) if c != digit), key=lambda c: -average[c])
    """,
    "distillation_kl": """
        def distillation_kl(student_logits, teacher_logits, T):
            p_teacher = torch.softmax(teacher_logits / T, dim=-1).detach()
            log_p_teacher = torch.log_softmax(teacher_logits / T, dim=-1).detach()
            log_q_student = torch.log_softmax(student_logits / T, dim=-1)
            return T * T * (p_teacher * (log_p_teacher - log_q_student)).sum(dim=-1).mean()
    """,
    "recipes": """
        recipes = {
            "BERT": {"next_sentence_prediction": "yes", "masking": "Static ", "data_gb": "16 GB",
                     "batch_size": "256"},
            "RoBERTa": {"next_sentence_prediction": False, "masking": "DYNAMIC", "data_gb": "160GB",
                        "batch_size": "8K"},
        }
        what_it_revealed = {"next_sentence_prediction": "a", "masking": "(B)", "data_gb": "C.",
                            "batch_size": " d"}
    """,
    "count_distinct_masks": """
        def count_distinct_masks(num_epochs, duplicates, dynamic, seq_len=128, seed=0):
            rng = np.random.default_rng(seed)
            seen = set()
            if dynamic:
                for _ in range(num_epochs):
                    seen.add(frozenset(random_mask(seq_len, rng)))
                return len(seen)
            copies = [frozenset(random_mask(seq_len, rng)) for _ in range(duplicates)]
            for epoch in range(num_epochs):
                seen.add(copies[epoch % duplicates])
            return len(seen)
    """,
}


@pytest.fixture(scope="module")
def wrong(tmp_path_factory) -> NotebookNode:
    return execute(with_answers(WRONG_ANSWERS), tmp_path_factory.mktemp("wrong"))


@pytest.fixture(scope="module")
def alternative(tmp_path_factory) -> NotebookNode:
    return execute(with_answers(ALTERNATIVE_RIGHT_ANSWERS), tmp_path_factory.mktemp("alternative"))


# ---------------------------------------------------------------------------------------------- structure


def test_notebook_passes_nbgraders_metadata_validation():
    MetadataValidator().validate_nb(read_source())


def test_every_nbgrader_cell_has_a_unique_grade_id():
    notebook = read_source()
    ids = [nbgrader_meta(cell).get("grade_id") for cell in notebook.cells]
    assert None not in ids, "every cell should carry nbgrader metadata with a grade_id"
    duplicates = sorted({grade_id for grade_id in ids if ids.count(grade_id) > 1})
    assert not duplicates, f"duplicate grade_ids: {duplicates}"


def test_points_add_up_to_30_autograded_and_5_manual():
    notebook = read_source()
    graded = [cell for cell in notebook.cells if nbgrader_meta(cell).get("grade")]
    autograded = sum(nbgrader_meta(cell)["points"] for cell in graded if cell.cell_type == "code")
    manual = sum(nbgrader_meta(cell)["points"] for cell in graded if cell.cell_type == "markdown")
    assert (autograded, manual) == (AUTOGRADED_POINTS, MANUAL_POINTS)
    assert all(
        nbgrader_meta(cell)["points"] > 0
        for cell in graded
        if nbgrader_meta(cell)["grade_id"] != OPTIONAL_ANSWER
    )


def test_optional_distil_question_is_graded_by_hand_for_extra_credit_only():
    """Part 5 is optional: its answer is a manually graded cell worth 0 points (the grader may give extra
    credit in formgrader), after the table of a default ``python -m exercises.distil`` run."""
    notebook = read_source()
    cell = cell_by_id(notebook, OPTIONAL_ANSWER)
    meta = nbgrader_meta(cell)
    assert cell.cell_type == "markdown" and meta["grade"] and meta["solution"] and not meta["locked"]
    assert meta["points"] == 0 and "Marking" in cell.source
    intro = cell_by_id(notebook, "part5_intro").source
    assert "| distilled student / teacher (this run) |" in intro and "DistilBERT / BERT-base (paper)" in intro
    grade_ids = [nbgrader_meta(c)["grade_id"] for c in notebook.cells]
    assert grade_ids.index(OPTIONAL_ANSWER) > grade_ids.index("written_answer")


def test_every_code_answer_cell_has_solution_markers():
    notebook = read_source()
    answers = [
        cell for cell in notebook.cells if cell.cell_type == "code" and nbgrader_meta(cell)["solution"]
    ]
    assert len(answers) >= 8
    for cell in answers:
        grade_id = nbgrader_meta(cell)["grade_id"]
        assert "### BEGIN SOLUTION" in cell.source and "### END SOLUTION" in cell.source, grade_id
        assert not nbgrader_meta(cell)["grade"], (
            f"{grade_id}: answer cells are graded through their test cells"
        )


def test_every_cell_that_is_not_an_answer_is_locked():
    notebook = read_source()
    for cell in notebook.cells:
        meta = nbgrader_meta(cell)
        if not meta["solution"]:
            assert meta["locked"], f"{meta['grade_id']} should be read-only"


def test_written_answer_is_a_manually_graded_markdown_cell():
    cell = cell_by_id(read_source(), "written_answer")
    meta = nbgrader_meta(cell)
    assert cell.cell_type == "markdown" and meta["grade"] and meta["solution"] and not meta["locked"]
    assert meta["points"] == MANUAL_POINTS
    assert "Marking" in cell.source


def test_test_cells_hold_hidden_regions_that_strip_to_valid_python():
    notebook = read_source()
    cells = test_cells(notebook)
    hidden = [cell for cell in cells if "### BEGIN HIDDEN TESTS" in cell.source]
    assert len(hidden) >= 7, f"only {len(hidden)} of {len(cells)} test cells have hidden checks"
    released, _ = ClearHiddenTests().preprocess(copy.deepcopy(notebook), {})
    released, _ = ClearSolutions().preprocess(released, {})
    for cell in released.cells:
        if cell.cell_type == "code":
            ast.parse(cell.source, filename=nbgrader_meta(cell)["grade_id"])
            assert "HIDDEN TESTS" not in cell.source and "_reference" not in cell.source
    for cell in test_cells(released):
        assert "assert" in cell.source, f"{nbgrader_meta(cell)['grade_id']} shows learners no check at all"


def test_instructions_never_contain_nbgrader_delimiters():
    delimiter = re.compile(r"(BEGIN|END) (SOLUTION|HIDDEN TESTS)")
    for cell in read_source().cells:
        meta = nbgrader_meta(cell)
        if not meta["solution"] and not meta["grade"]:
            assert not delimiter.search(cell.source), meta["grade_id"]


def test_notebook_is_self_contained_with_cleared_outputs_and_the_python3_kernel():
    notebook = read_source()
    assert notebook.metadata.kernelspec.name == "python3"
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, nbgrader_meta(cell)["grade_id"]
            assert not re.search(
                r"^\s*(from|import)\s+(exercises|solutions|autograder)\b", cell.source, re.MULTILINE
            )


# ---------------------------------------------------------------------------------------------- executed


def test_solution_runs_top_to_bottom_and_every_check_passes(solved):
    errors = {
        nbgrader_meta(cell)["grade_id"]: error_of(cell) for cell in solved.cells if cell.cell_type == "code"
    }
    assert {grade_id: error for grade_id, error in errors.items() if error} == {}
    for cell in test_cells(solved):
        assert "checks passed" in stdout_of(cell), nbgrader_meta(cell)["grade_id"]


def test_solution_shows_the_lessons_results(solved):
    def printed(grade_id: str, pattern: str) -> list[float]:
        return [float(value) for value in re.findall(pattern, stdout_of(cell_by_id(solved, grade_id)))]

    [hard] = printed("train_student", r"hard-label student's test accuracy: ([\d.]+)%")
    [soft] = printed("soft_student", r"soft-target student's test accuracy: ([\d.]+)%")
    assert soft >= hard + 3, f"soft targets {soft}% against hard labels {hard}%: the lesson's gap has shrunk"
    assert "static 10 | dynamic 40" in stdout_of(cell_by_id(solved, "masks_plot"))
    entropies = printed("soft_targets", r"mean entropy ([\d.]+) nats")
    assert len(entropies) == 4 and entropies == sorted(entropies) and entropies[-1] < 2.303
    outputs = [output for cell in solved.cells for output in cell.get("outputs", [])]
    images = sum("image/png" in output.get("data", {}) for output in outputs)
    assert images >= 5


def test_blank_answers_fail_every_autograded_cell_saying_not_answered(blank):
    for cell in test_cells(blank):
        grade_id = nbgrader_meta(cell)["grade_id"]
        error = error_of(cell)
        assert error is not None, f"{grade_id} passed with no answer"
        assert error["ename"] == "AssertionError" and NOT_STARTED in error["evalue"], (grade_id, error)


def test_blank_written_answer_is_nbgraders_stub():
    notebook, _ = ClearSolutions().preprocess(read_source(), {})
    assert cell_by_id(notebook, "written_answer").source == "YOUR ANSWER HERE"


@pytest.mark.parametrize(
    ("grade_id", "message"),
    [
        ("test_soften_hidden", "Did you multiply the logits by T instead of dividing?"),
        ("test_entropy", "did you multiply the logits by T instead of dividing?"),
        ("test_distillation_kl_hidden", "without the factor T**2"),
        ("test_count_distinct_masks", "which is dynamic masking"),
        ("test_wrong_class_ranking", "the lowest probability first"),
        ("test_recipes", "RoBERTa's batch_size is '2K'"),
        ("test_what_it_revealed", "the BERT paper's own conclusion"),
        ("test_model_choice", "only DistilBERT fits in 300 MB"),
    ],
)
def test_wrong_answer_fails_its_hidden_check_with_the_misconception(wrong, grade_id, message):
    error = error_of(cell_by_id(wrong, grade_id))
    assert error is not None, f"{grade_id} passed a wrong answer"
    assert error["ename"] == "AssertionError" and message in error["evalue"], error


@pytest.mark.parametrize("grade_id", ["test_soften_basics", "test_distillation_kl_basics"])
def test_visible_checks_leave_those_mistakes_to_the_hidden_ones(wrong, grade_id):
    assert error_of(cell_by_id(wrong, grade_id)) is None


def test_wrong_entropy_message_quotes_the_observed_values(wrong):
    evalue = error_of(cell_by_id(wrong, "test_entropy"))["evalue"]
    assert re.search(r"mean entropy at T=2 \([\d.e-]+\) is not larger than at T=1 \([\d.e-]+\)", evalue), (
        evalue
    )


def test_alternative_correct_answers_get_full_marks(alternative):
    failing = {
        nbgrader_meta(cell)["grade_id"]: error_of(cell) for cell in test_cells(alternative) if error_of(cell)
    }
    assert failing == {}
