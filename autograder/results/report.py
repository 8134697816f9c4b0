"""``report.html``: the class as an instructor acts on it.

- per exercise, how many students are done, failing, not started (only untouched stubs reached) or
  have no submission, and the distribution of its scores;
- the misconceptions found across the class, per exercise: failed checks grouped by the diagnosis the
  graders named (the sentence after the numbers: "That is KL(student || teacher), the reversed
  direction ...", "Did you ..."), with how many students and which; then the contract's sentences and
  the messages that name no mistake;
- one section per student (anchor ``#student-<id>``) with every check, its points and its message.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

from autograder.manifest import EXERCISES, MAX_TOTAL, POINTS_PER_EXERCISE
from autograder.results.model import CheckResult, terminal_safe

from .model import (
    NOT_STARTED_MARK,
    STATUSES,
    SubmissionResult,
    exercise_means,
    number,
)

# Where a failed check's message names the mistake: after the numbers, a sentence the graders'
# diagnosis writes (solutions/support/diagnosis/), a contract clause, or a missing function.
DIAGNOSIS_START = re.compile(r"(?:^|(?<=[.)?] ))(That |Did you |The contract: )")
AFTER_THE_NUMBERS = re.compile(r"[.)]\s+(?=[A-Za-z(])")
NAMED_SLIP, CONTRACT, OTHER = "named mistake", "contract", "no mistake named"
KINDS = (NAMED_SLIP, CONTRACT, OTHER)
NOT_A_MISCONCEPTION = (NOT_STARTED_MARK, "not graded", "not run")
NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")
SCORE_BINS = ("0", "1-5", "6-10", "11-15", "16-19", "20")


def diagnosis_of(check: CheckResult) -> tuple[str, str]:
    """What a failed check names and its kind (:data:`KINDS`); ``("", "")`` when it is no misconception
    (not started, not run).

    The graders' message says what was called, what came back and what was expected, then names the
    mistake: the text from "That ...", "Did you ..." or "The contract: ..." on, else the sentences after
    the expected value. A message with neither is kept whole, as naming no mistake.
    """
    named = getattr(check, "diagnosis", "")
    if named:
        return str(named), NAMED_SLIP
    message = check.message.strip()
    if not message or any(mark in message for mark in NOT_A_MISCONCEPTION):
        return "", ""
    match = DIAGNOSIS_START.search(message)
    if match is None and message.startswith("Called ") and "expected" in message:
        match = AFTER_THE_NUMBERS.search(message, message.index("expected"))
        if match is not None:
            return message[match.end() :], NAMED_SLIP
    if match is None:
        return message, OTHER
    text = message[match.start() :]
    return text, CONTRACT if text.startswith("The contract:") else NAMED_SLIP


@dataclass
class Misconception:
    """One diagnosis seen in an exercise: its words, the students it was told to, the checks that said it."""

    exercise: str
    text: str
    kind: str = OTHER
    students: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)


def misconceptions(results: list[SubmissionResult]) -> dict[str, list[Misconception]]:
    """Per exercise, the diagnoses of failed checks across the class, most students first.

    Diagnoses that differ only in their numbers are one (the first wording is shown).
    """
    found: dict[tuple[str, str], Misconception] = {}
    for result in sorted(results, key=lambda r: r.student):
        for check in result.checks:
            if check.passed:
                continue
            text, kind = diagnosis_of(check)
            if not text:
                continue
            key = (check.exercise, NUMBER.sub("#", text))
            entry = found.setdefault(key, Misconception(check.exercise, text, kind))
            if result.student not in entry.students:
                entry.students.append(result.student)
            if check.name not in entry.checks:
                entry.checks.append(check.name)
    by_exercise: dict[str, list[Misconception]] = {ex.id: [] for ex in EXERCISES}
    for entry in found.values():
        by_exercise.setdefault(entry.exercise, []).append(entry)
    for entries in by_exercise.values():
        entries.sort(key=lambda e: (KINDS.index(e.kind), -len(e.students), e.text))
    return by_exercise


def score_bin(score: float) -> str:
    if score <= 0:
        return SCORE_BINS[0]
    if score >= POINTS_PER_EXERCISE - 1e-9:
        return SCORE_BINS[-1]
    return SCORE_BINS[min(4, 1 + int((score - 1e-9) // 5))]


def score_bins(results: list[SubmissionResult]) -> dict[str, dict[str, int]]:
    """Per exercise, how many submissions scored 0, 1-5, 6-10, 11-15, 16-19 and 20 (no-submission rows
    left out)."""
    table = {ex.id: dict.fromkeys(SCORE_BINS, 0) for ex in EXERCISES}
    for result in results:
        if result.note:
            continue
        for exercise, score in result.exercise_scores().items():
            table[exercise][score_bin(score)] += 1
    return table


def student_anchor(student: str) -> str:
    return "student-" + re.sub(r"[^A-Za-z0-9_.-]", "-", student)


def histogram_svg(totals: list[float], *, bins: int = 10, width: int = 520, height: int = 220) -> str:
    """An inline SVG histogram of total scores over 0..MAX_TOTAL."""
    counts = [0] * bins
    for total in totals:
        index = min(int(total / MAX_TOTAL * bins), bins - 1) if total > 0 else 0
        counts[index] += 1
    left, bottom, top = 40, 30, 10
    plot_width, plot_height = width - left - 10, height - bottom - top
    tallest = max(counts) or 1
    bar_width = plot_width / bins
    parts = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'role="img" aria-label="histogram of total scores">'
        ),
        (
            f'<line x1="{left}" y1="{top + plot_height}" x2="{left + plot_width}" y2="{top + plot_height}" '
            'stroke="#333"/>'
        ),
    ]
    for i, count in enumerate(counts):
        bar_height = plot_height * count / tallest
        x = left + i * bar_width
        y = top + plot_height - bar_height
        low, high = i * MAX_TOTAL // bins, (i + 1) * MAX_TOTAL // bins
        parts.append(
            f'<rect x="{x + 2:.1f}" y="{y:.1f}" width="{bar_width - 4:.1f}" height="{bar_height:.1f}" '
            f'fill="#4a7ab5"><title>{low}-{high}: {count}</title></rect>'
        )
        if count:
            parts.append(
                f'<text x="{x + bar_width / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle" '
                f'font-size="11">{count}</text>'
            )
        parts.append(f'<text x="{x:.1f}" y="{height - 12}" font-size="10">{low}</text>')
    parts.append(f'<text x="{left + plot_width - 12}" y="{height - 12}" font-size="10">{MAX_TOTAL}</text>')
    parts.append(f'<text x="4" y="{top + 10}" font-size="10">{tallest}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 75em; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
td.num { text-align: right; }
.message { font-family: ui-monospace, monospace; font-size: 0.85em; white-space: pre-wrap; }
.error { color: #a00; }
.bar { display: inline-block; height: 0.8em; background: #4a7ab5; vertical-align: middle; }
.passed { color: #185c18; }
.failed { color: #a00; }
section.student { border-top: 1px solid #ccc; margin-top: 1.5em; }
"""


def _status_table(results: list[SubmissionResult], e) -> list[str]:
    means = exercise_means([r for r in results if not r.note])
    out = [
        '<table id="status"><tr><th>exercise</th><th>topic</th>'
        + "".join(f"<th>{status}</th>" for status in STATUSES)
        + "<th>mean</th></tr>"
    ]
    for exercise in EXERCISES:
        counts = dict.fromkeys(STATUSES, 0)
        who: dict[str, list[str]] = {status: [] for status in STATUSES}
        for result in results:
            status = result.exercise_status(exercise.id)
            counts[status] += 1
            who[status].append(result.student)
        cells = "".join(
            f'<td class="num" data-status="{status}" title="{e(", ".join(who[status]))}">'
            f"{counts[status]}</td>"
            for status in STATUSES
        )
        out.append(
            f'<tr data-exercise="{exercise.id}"><td>{exercise.id}</td><td>{e(exercise.topic)}</td>{cells}'
            f'<td class="num">{means[exercise.id]:.1f} / {POINTS_PER_EXERCISE}</td></tr>'
        )
    out.append("</table>")
    return out


def _distribution_table(results: list[SubmissionResult]) -> list[str]:
    bins = score_bins(results)
    graded = max(1, sum(1 for r in results if not r.note))
    out = [
        '<table id="distribution"><tr><th>exercise</th>'
        + "".join(f"<th>{label}</th>" for label in SCORE_BINS)
        + "</tr>"
    ]
    for exercise in EXERCISES:
        cells = "".join(
            f'<td class="num" data-bin="{label}">{count} '
            f'<span class="bar" style="width:{4 * count / graded:.2f}em"></span></td>'
            for label, count in bins[exercise.id].items()
        )
        out.append(f'<tr data-exercise="{exercise.id}"><td>{exercise.id}</td>{cells}</tr>')
    out.append("</table>")
    return out


def _misconception_section(results: list[SubmissionResult], e) -> list[str]:
    found = misconceptions(results)
    out = ['<section id="misconceptions"><h2>Misconceptions across the class</h2>']
    for exercise in EXERCISES:
        entries = found.get(exercise.id, [])
        out.append(f'<h3 id="misconceptions-{exercise.id}">{exercise.id}: {e(exercise.topic)}</h3>')
        if not entries:
            out.append("<p>No failed check named a mistake here.</p>")
            continue
        out.append(
            f'<table class="misconceptions" data-exercise="{exercise.id}"><tr><th>what the graders said</th>'
            "<th>students</th><th>who</th><th>checks</th><th>kind</th></tr>"
        )
        for entry in entries:
            links = ", ".join(f'<a href="#{student_anchor(s)}">{e(s)}</a>' for s in entry.students)
            out.append(
                f'<tr><td class="message">{e(entry.text)}</td><td class="num">{len(entry.students)}</td>'
                f"<td>{links}</td><td>{e(', '.join(entry.checks))}</td><td>{entry.kind}</td></tr>"
            )
        out.append("</table>")
    out.append("</section>")
    return out


def _student_sections(results: list[SubmissionResult], e) -> list[str]:
    out = ["<h2>Students</h2>"]
    header = "".join(f"<th>{ex.id}</th>" for ex in EXERCISES)
    out.append(f'<table id="students"><tr><th>student</th>{header}<th>total</th><th>note</th></tr>')
    ordered = sorted(results, key=lambda r: r.student)
    for result in ordered:
        scores = result.exercise_scores()
        cells = "".join(
            f'<td class="num" title="{result.exercise_status(ex.id)}">{number(scores[ex.id])}</td>'
            for ex in EXERCISES
        )
        note = e(result.row_note or (result.error or "").split("\n")[0])
        out.append(
            f'<tr><td><a href="#{student_anchor(result.student)}">{e(result.student)}</a></td>{cells}'
            f'<td class="num">{number(result.total)} / {MAX_TOTAL}</td><td class="error">{note}</td></tr>'
        )
    out.append("</table>")
    for result in ordered:
        anchor = student_anchor(result.student)
        title = f"{e(result.student)}: {number(result.total)} / {MAX_TOTAL}"
        if result.row_note:
            title += f" ({e(result.row_note)})"
        out.append(f'<section class="student" id="{anchor}"><h3>{title}</h3>')
        if result.error:
            out.append(f'<p class="error">{e(result.error)}</p>')
        if not result.checks:
            out.append(f"<p>Nothing was graded: {e(result.row_note or 'no checks ran')}.</p></section>")
            continue
        statuses = ", ".join(f"{ex.id} {result.exercise_status(ex.id)}" for ex in EXERCISES)
        out.append(f"<p>{e(statuses)}</p>")
        out.append("<table><tr><th>check</th><th>points</th><th>message</th></tr>")
        for check in result.checks:
            verdict = "passed" if check.passed else "failed"
            out.append(
                f'<tr class="{verdict}"><td>{e(check.exercise)} {e(check.name)}</td>'
                f'<td class="num">{number(check.points)} / {number(check.max_points)}</td>'
                f'<td class="message">{e(check.message) if check.message else verdict}</td></tr>'
            )
        out.append("</table></section>")
    return out


def _escape(text: str) -> str:
    """HTML-escaped, with no control character left (a file ``cat`` shows stays inert)."""
    return html.escape(terminal_safe(str(text)))


def report_html(results: list[SubmissionResult]) -> str:
    e = _escape
    graded = [r for r in results if not r.note]
    totals = [r.total for r in graded]
    mean_total = sum(totals) / len(totals) if totals else 0.0
    missing = len(results) - len(graded)
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>Grading report</title>',
        f"<style>{_STYLE}</style></head><body>",
        "<h1>Grading report</h1>",
        f'<p id="summary">{len(graded)} graded submissions; mean total {mean_total:.1f} / {MAX_TOTAL}'
        + (f"; {missing} without a submission to grade" if missing else "")
        + ".</p>",
        "<h2>Where the class is, per exercise</h2>",
        (
            "<p><b>not started</b>: every check reached an untouched stub; <b>failing</b>: started, points "
            "lost; <b>no submission</b>: not submitted, not a zip, or no exercise files.</p>"
        ),
        *_status_table(results, e),
        *_misconception_section(graded, e),
        "<h2>Score distribution per exercise</h2>",
        *_distribution_table(results),
        "<h3>Totals</h3>",
        histogram_svg(totals),
        *_student_sections(results, e),
        "</body></html>",
    ]
    return "\n".join(out) + "\n"
