"""Mutation testing keeps its list of equivalent mutants honest.

``autograder/graders/equivalent_mutants.toml`` lists the mutants of ``solutions/ex*.py`` that survive the
hidden graders because no input the contract allows tells them from the solution. Each entry must still
be a mutant of the current solution file, still survive the graders, and still give the solution's
replies on every call the graders make (``tools/mutation.py --check-equivalents`` grades only those
mutants, in a process of its own). The tool's own bookkeeping is checked on small made-up cases.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
TOOL = ROOT / "tools" / "mutation.py"


def _load_tool():
    spec = importlib.util.spec_from_file_location("mutation_tool", TOOL)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


mutation = _load_tool()
ENTRIES = mutation.read_equivalents()


@pytest.fixture(scope="module")
def findings(tmp_path_factory) -> dict[str, dict]:
    """Each listed mutant, graded against the solution: entry description -> what the tool found."""
    out = tmp_path_factory.mktemp("mutation") / "equivalents.json"
    completed = subprocess.run(
        [sys.executable, str(TOOL), "--check-equivalents", "--jobs", "2", "--json", str(out)],
        check=False,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=900,
    )
    assert out.exists(), (
        f"the tool wrote no findings:\n{completed.stdout[-2000:]}\n{completed.stderr[-3000:]}"
    )
    return {finding["mutant"]: finding for finding in json.loads(out.read_text())}


def test_the_equivalents_file_lists_mutants_with_their_argument():
    assert ENTRIES, "equivalent_mutants.toml lists no mutant"
    assert len({entry.key for entry in ENTRIES}) == len(ENTRIES), "a mutant is listed twice"
    for entry in ENTRIES:
        assert entry.line.strip() != entry.mutated.strip(), entry.describe()
        assert len(entry.why.split()) >= 12, f"{entry.describe()}: the argument is too short to check"


@pytest.mark.parametrize(
    "entry", ENTRIES, ids=lambda entry: f"{entry.exercise}-{entry.function}-{entry.operator}"
)
def test_listed_mutant_still_applies_survives_and_answers_like_the_solution(findings, entry):
    finding = findings[entry.describe()]
    assert finding["applies"], f"{entry.describe()}: no such mutant of the current solution any more"
    assert not finding["problems"], f"{entry.describe()}: " + "; ".join(finding["problems"])


def test_a_mutant_is_named_by_its_lines_not_by_line_numbers():
    (mutant,) = [
        m
        for m in mutation.make_mutants(["ex1"], Path(mutation.tempfile.mkdtemp()) / "session.sqlite")
        if m.operator == "core/ReplaceComparisonOperator_Gt_GtE"
    ]
    assert mutant.removed != mutant.added
    entry = mutation.Equivalent(
        exercise="ex1",
        operator=mutant.operator,
        function=mutant.function,
        line="\n".join(mutant.removed),
        mutated="\n".join("   " + line + "  " for line in mutant.added),
        why="-",
    )
    assert entry.key == mutant.key
    other = mutation.Equivalent(**{**entry.__dict__, "operator": "core/NumberReplacer"})
    assert other.key != mutant.key


def _mutant(job_id: str, exercise: str = "ex1") -> object:
    return mutation.Mutant(exercise, job_id, "core/NumberReplacer", 0, "f", 1, ("x = 1",), ("x = 2",), "")


def test_a_mutant_is_killed_only_by_losing_points_on_its_exercise():
    entry = mutation.Equivalent("ex1", "core/NumberReplacer", "f", "x = 1", "x = 2", "why")
    outcomes = {
        "fewer": mutation.Outcome(19.0, [], "graded", 1.0),
        "same": mutation.Outcome(20.0, [], "graded", 1.0),
        "hang": mutation.Outcome(0.0, [], "timeout", 300.0),
        "argued": mutation.Outcome(20.0, [], "graded", 1.0),
    }
    mutants = [_mutant("fewer"), _mutant("same", "ex2"), _mutant("hang"), _mutant("argued")]
    report = mutation.Report({"ex1": 20.0, "ex2": 20.0}, mutants, outcomes, [entry], 1.0, 1)
    table = report.classify()
    assert [m.job_id for m in table["ex1"]["killed"]] == ["fewer", "hang"]
    assert [m.job_id for m in table["ex1"]["equivalent"]] == ["argued"]
    assert [m.job_id for m in table["ex2"]["surviving"]] == ["same"]  # the entry names ex1, not ex2
    figures = report.to_json()["exercises"]
    assert figures["ex1"] == {"made": 3, "killed": 2, "equivalent": 1, "surviving": 0}


def test_replies_compare_values_and_exception_types_but_not_messages():
    tensor = torch.tensor([0.25, 0.75])
    raised = {"ok": False, "kind": "raised", "message": "ValueError: T", "type": "ValueError", "mro": []}
    assert (
        mutation.same_replies([{"ok": True, "value": tensor}], [{"ok": True, "value": tensor.clone()}])
        is None
    )
    assert mutation.same_replies({"value": tensor}, {"value": tensor * (1 + 1e-8)}) is None
    assert mutation.same_replies({"value": tensor}, {"value": tensor + 1e-3}) is not None
    assert mutation.same_replies({"value": 3}, {"value": 4}) is not None
    assert mutation.same_replies(raised, {**raised, "message": "ValueError: other words"}) is None
    assert mutation.same_replies(raised, {**raised, "type": "TypeError"}) is not None
