"""The class report (report.html): read as an instructor reads it, in headless Chromium.

A small class is graded for real with the hidden graders: two students with the reversed KL, one with
``reduction="mean"``, two without the T**2 factor (the catalogue's ex2 mistakes), the untouched stubs and
the solution, plus a student who handed in nothing. The page must tell "not started" from "failing",
group the ex2 mistakes by what the graders said (how many students, which), show each exercise's score
distribution, and give every student a section with every check and its message. A screenshot of the
page is kept under the test's tmp_path.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from autograder import grading
from autograder.manifest import SOLUTIONS_DIR
from autograder.results import SubmissionResult, misconceptions, report_html, score_bins, write_result
from autograder.results.model import CheckResult

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--window-size=1400,1000")

REVERSED = "That is KL(student || teacher), the reversed direction."
CALL = "Called distillation_loss(tensor of shape (8, 10), tensor of shape (8, 10), temperature={t})"


def check(exercise: str, name: str, points: float, message: str = "", max_points: float = 2.0) -> CheckResult:
    return CheckResult(exercise, name, points, max_points, points >= max_points, message)


def test_failed_checks_are_grouped_by_the_diagnosis_whatever_the_numbers():
    def wrong(student: str, got: str, t: str) -> SubmissionResult:
        message = (
            f"{CALL.format(t=t)} and got {got}; the expected value is 0.83 (relative error 0.9). {REVERSED}"
        )
        return SubmissionResult(student, [check("ex2", "test_loss", 0, message)])

    stub = SubmissionResult("zoe", [check("ex2", "test_loss", 0, "ex2 not started yet (exercises/... )")])
    results = [wrong("bea", "0.05", "4.0"), wrong("ann", "0.07", "2.0"), stub]
    found = misconceptions(results)["ex2"]
    assert len(found) == 1
    assert found[0].text == REVERSED and found[0].students == ["ann", "bea"]
    assert stub.exercise_status("ex2") == "not started"
    assert results[0].exercise_status("ex2") == "failing"
    assert SubmissionResult("al", [], note="not submitted").exercise_status("ex2") == "no submission"


def test_the_sentence_after_the_expected_value_is_the_diagnosis_and_a_bare_message_names_none():
    counted_twice = "A tied (shared) weight was counted twice: use model.parameters()."
    results = [
        SubmissionResult(
            student,
            [
                check(
                    "ex5",
                    "test_count",
                    0,
                    f"Called count_parameters(m) and got {got}; expected 13,100 "
                    f"(off by +{got - 13100}). {counted_twice}",
                ),
                check(
                    "ex5", "test_shape", 0, f"Called count_parameters(m) and got a tensor of shape ({got},)"
                ),
            ],
        )
        for student, got in (("ann", 25100), ("bob", 26200))
    ]
    found = {entry.text: entry for entry in misconceptions(results)["ex5"]}
    assert found[counted_twice].students == ["ann", "bob"] and found[counted_twice].kind == "named mistake"
    bare = next(entry for text, entry in found.items() if text != counted_twice)
    assert bare.kind == "no mistake named" and bare.students == ["ann", "bob"]
    assert next(iter(found)) == counted_twice, "named mistakes come first"


def test_scores_fall_in_bins_per_exercise():
    results = [
        SubmissionResult("a", [check("ex1", "c", 20, max_points=20)]),
        SubmissionResult("b", [check("ex1", "c", 7.5, max_points=20)]),
        SubmissionResult("c", [check("ex1", "c", 0, max_points=20)]),
        SubmissionResult("d", [], note="not submitted"),
    ]
    assert score_bins(results)["ex1"] == {"0": 1, "1-5": 0, "6-10": 1, "11-15": 0, "16-19": 0, "20": 1}


def test_the_report_escapes_what_learners_wrote():
    result = SubmissionResult("<b>x</b>", [check("ex1", "c", 0, "got <script>alert(1)</script>")])
    page = report_html([result])
    assert "<script>alert" not in page and "&lt;script&gt;" in page


# --------------------------------------------------------------------------------------------------
# The real thing


def graded_class(tmp_path: Path) -> Path:
    """Grade the class (see the module's text) into tmp_path/out; returns out."""
    from autograder.demo.catalogue import by_student
    from autograder.demo.classroom import copy_exercise_files, write_pristine_stubs

    folders = tmp_path / "class"
    paths = [
        by_student("ex2-reversed-kl").write(folders / "ann"),
        by_student("ex2-reversed-kl").write(folders / "bea"),
        by_student("ex2-reduction-mean").write(folders / "cid"),
        by_student("ex2-no-temperature-squared").write(folders / "dan"),
        by_student("ex2-no-temperature-squared").write(folders / "eve"),
        write_pristine_stubs(folders / "fay"),
        copy_exercise_files(SOLUTIONS_DIR, folders / "gus"),
    ]
    out = tmp_path / "out"
    write_result(out, SubmissionResult("hal", [], note="not submitted"))
    grading.grade_submissions(paths, out, jobs=2)
    return out


def open_in_chromium(scratch: Path):
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if missing:
        pytest.fail(
            f"the report test needs Debian's chromium and chromium-driver; missing: {', '.join(missing)}"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={scratch / 'chromium-profile'}")
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


@pytest.mark.slow
def test_an_instructor_reads_the_class_report_in_a_browser(tmp_path):
    from selenium.webdriver.common.by import By

    out = graded_class(tmp_path)
    driver = open_in_chromium(tmp_path)
    try:
        driver.get((out / "report.html").as_uri())
        screenshot = tmp_path / "report.png"
        driver.save_screenshot(str(screenshot))

        def status(exercise: str, which: str) -> int:
            cell = driver.find_element(
                By.CSS_SELECTOR, f'#status tr[data-exercise="{exercise}"] td[data-status="{which}"]'
            )
            return int(cell.text)

        # ex3: the stubs are not started, nobody is failing; ex2: five are failing, one not started.
        assert [status("ex3", s) for s in ("done", "failing", "not started", "no submission")] == [6, 0, 1, 1]
        assert [status("ex2", s) for s in ("done", "failing", "not started", "no submission")] == [1, 5, 1, 1]
        assert "7 graded submissions" in driver.find_element(By.ID, "summary").text

        rows = driver.find_elements(By.CSS_SELECTOR, 'table.misconceptions[data-exercise="ex2"] tr')[1:]
        seen = {}
        for row in rows:
            cells = row.find_elements(By.TAG_NAME, "td")
            seen[cells[0].text] = (int(cells[1].text), cells[2].text)
        assert "reversed direction" in rows[0].text and rows[0].text.endswith("named mistake")
        reversed_kl = next(v for k, v in seen.items() if "reversed direction" in k)
        missing_t2 = next(v for k, v in seen.items() if "T**2" in k and "without" in k)
        mean_reduction = next(v for k, v in seen.items() if "reduction='mean'" in k)
        assert reversed_kl == (2, "ann, bea")
        assert missing_t2 == (2, "dan, eve")
        assert mean_reduction == (1, "cid")
        assert not any("not started" in text for text in seen), "not started is not a misconception"
        assert "No failed check named a mistake here." in driver.find_element(By.ID, "misconceptions").text

        bins = driver.find_element(By.CSS_SELECTOR, '#distribution tr[data-exercise="ex2"]')
        counts = [int(c.text.split()[0]) for c in bins.find_elements(By.TAG_NAME, "td")[1:]]
        assert sum(counts) == 7 and counts[-1] == 1 and counts[0] >= 1  # the solution full, the stubs 0

        driver.find_element(By.LINK_TEXT, "cid").click()
        assert driver.current_url.endswith("#student-cid")
        section = driver.find_element(By.ID, "student-cid")
        assert section.is_displayed()
        text = section.text
        assert "cid:" in text and "ex2 failing" in text and "ex1 done" in text
        checks = section.find_elements(By.CSS_SELECTOR, "tr.passed, tr.failed")
        assert len(checks) >= 20 and any("reduction='mean'" in row.text for row in checks)
        assert "hal: 0 / 100 (not submitted)" in driver.find_element(By.ID, "student-hal").text
    finally:
        driver.quit()
    assert screenshot.stat().st_size > 10_000


def test_the_terminal_gets_what_a_submission_wrote_escaped():
    """A student id or message with an escape sequence, a carriage return or a lone surrogate is
    printed written out, so it can neither rewrite the instructor's terminal nor crash the print."""
    import io

    from autograder.grading.progress import Progress
    from autograder.results.model import terminal_safe

    assert terminal_safe("a\x1b[2K\rb\n\tc\udcff\x7f") == "a\\x1b[2K\\x0db\n\tc\\udcff\\x7f"
    assert terminal_safe("Müller_1234 ✓") == "Müller_1234 ✓"
    stream = io.StringIO()
    Progress(1, stream).advance("graded", SubmissionResult("eve\x1b[2K\rgraded mallory", []))
    assert stream.getvalue() == "graded eve\\x1b[2K\\x0dgraded mallory: 0/100 (1/1)\n"
    stream.getvalue().encode("utf-8")


def test_a_student_id_with_control_characters_stays_one_inert_line_everywhere():
    """A folder named with a newline, a carriage return and an escape sequence forges no second row in
    the summary table, no line in the progress, and leaves no control character in grades.csv or the
    report."""
    import io

    from autograder.grading.progress import Progress
    from autograder.results import grades_csv, summary_table

    evil = SubmissionResult("cr\rhonest1 100\nfake\x1b[2K", [])
    honest = SubmissionResult("honest1", [])
    table = summary_table([evil, honest])
    assert len(table.splitlines()) == 2 + 2 + 2  # header, rule, two rows, rule, mean
    assert not any(line.startswith("fake") for line in table.splitlines())
    stream = io.StringIO()
    Progress(1, stream).advance("graded", evil)
    assert stream.getvalue().count("\n") == 1 and "\r" not in stream.getvalue()
    for text in (grades_csv([evil, honest]), report_html([evil, honest])):
        assert not any(ord(c) < 32 and c not in "\n\t" or c == "\x1b" for c in text), repr(text[:300])
    assert len(grades_csv([evil, honest]).splitlines()) == 3
