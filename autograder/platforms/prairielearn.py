"""PrairieLearn: an external grader (image and entrypoint) and an example question that uses it.

``python -m autograder prairielearn --out DIR [--image NAME]`` writes::

    DIR/README.md                          what to build, push and copy
    DIR/grader-image/Dockerfile            the grading image: CPU torch, this package, the entrypoint
    DIR/grader-image/entrypoint            /usr/local/bin/distil-roberta-grade in the image
    DIR/grader-image/source/...            the grading code (as in the Gradescope bundle: no solution)
    DIR/questions/distilRobertaExercises/  info.json (gradingMethod External) and question.html

PrairieLearn copies the student's files to ``/grade/student``, runs the entrypoint, and reads
``/grade/results/results.json`` (https://prairielearn.readthedocs.io/en/latest/externalGrading/):
``gradable``, ``score`` in [0, 1], ``message``, ``output`` and ``tests`` (``name``, ``points``,
``max_points``, ``message``, ``output``). ``python -m autograder.platforms.prairielearn`` is the
entrypoint's command; ``PL_GRADE_ROOT`` (default ``/grade``) moves the tree, so it also runs in a temp tree.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any

from autograder.manifest import EXERCISES, MAX_TOTAL

from . import gradescope
from .common import PlatformError, fail, grade_upload, upload_listing, write_results

DEFAULT_ROOT = "/grade"
DEFAULT_IMAGE = "distil-roberta-grader:latest"
ENTRYPOINT_IN_IMAGE = "/usr/local/bin/distil-roberta-grade"
QUESTION_ID = "distilRobertaExercises"
QUESTION_UUID = str(uuid.uuid5(uuid.NAMESPACE_URL, "distil-roberta-exercises/prairielearn/question"))
# PrairieLearn's limit for a grading job is 600 s; one submission takes well under a minute.
GRADING_TIMEOUT_SECONDS = 300

DOCKERFILE = f"""# The PrairieLearn grading image for the DistilBERT and RoBERTa exercises.
# Build: docker build -t IMAGE grader-image/   (then push IMAGE where your PrairieLearn can pull it)
FROM python:3.11-slim
RUN apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libseccomp2 \\
 && rm -rf /var/lib/apt/lists/*
# The CPU build of torch, pinned (the default index would pull a multi-GB CUDA build).
RUN pip install --no-cache-dir --index-url {gradescope.TORCH_CPU_INDEX} {gradescope.TORCH_REQUIREMENT}
COPY source /opt/distil-roberta-grader
RUN pip install --no-cache-dir /opt/distil-roberta-grader
COPY entrypoint {ENTRYPOINT_IN_IMAGE}
RUN chmod 755 {ENTRYPOINT_IN_IMAGE}
"""

ENTRYPOINT = """#!/bin/sh
# PrairieLearn runs this in the grading container: the student's files are in /grade/student, the
# result goes to /grade/results/results.json. PL_GRADE_ROOT moves the tree (for a test run).
exec python3 -m autograder.platforms.prairielearn --root "${PL_GRADE_ROOT:-/grade}"
"""

QUESTION_HTML = """<pl-question-panel>
  <p>
    Upload your five exercise files from <code>exercises/</code>. They are graded with the hidden
    graders ({max_total} points, {points} per exercise); run <code>pytest exercises</code> first for the
    visible checks.
  </p>
</pl-question-panel>

<pl-file-upload file-names="{file_names}"></pl-file-upload>

<pl-submission-panel>
  <pl-external-grader-results></pl-external-grader-results>
  <pl-file-preview></pl-file-preview>
</pl-submission-panel>
"""

README = """# PrairieLearn external grader: DistilBERT and RoBERTa exercises

Written by `python -m autograder prairielearn`.

1. Build and push the grading image (it holds the hidden graders, never the solutions):

       docker build -t {image} grader-image/
       docker push {image}

2. Copy `questions/{question}/` into your course's `questions/` folder. Its `info.json` grades
   externally with the image `{image}` and the entrypoint `{entrypoint}` (timeout {timeout} s).
3. Students upload their five `ex*.py` files; the score is the points out of {max_total}, as a fraction.
"""


# --------------------------------------------------------------------------------------------------
# Writing the grader and the question


def question_info(image: str) -> dict[str, Any]:
    """The example question's ``info.json``."""
    return {
        "uuid": QUESTION_UUID,
        "title": "DistilBERT and RoBERTa: the five exercises",
        "topic": "Knowledge distillation",
        "tags": ["distillation", "pytorch", "autograded"],
        "type": "v3",
        "singleVariant": True,
        "gradingMethod": "External",
        "externalGradingOptions": {
            "enabled": True,
            "image": image,
            "entrypoint": ENTRYPOINT_IN_IMAGE,
            "timeout": GRADING_TIMEOUT_SECONDS,
        },
    }


def grader_files(image: str = DEFAULT_IMAGE) -> dict[str, bytes]:
    """Every file ``prairielearn --out`` writes: path under DIR -> bytes.

    Raises:
        PlatformError: a file of the grading code is missing (not a source checkout).
    """
    source = gradescope.bundle_files()
    files = {
        f"grader-image/source/{name}": data
        for name, data in source.items()
        if name not in ("setup.sh", "run_autograder", "README.md")
    }
    files["grader-image/source/README.md"] = b"# The DistilBERT and RoBERTa exercises' grading code\n"
    files["grader-image/Dockerfile"] = DOCKERFILE.encode()
    files["grader-image/entrypoint"] = ENTRYPOINT.encode()
    question = f"questions/{QUESTION_ID}"
    files[f"{question}/info.json"] = (json.dumps(question_info(image), indent=2) + "\n").encode()
    names = ", ".join(exercise.filename for exercise in EXERCISES)
    html = QUESTION_HTML.format(file_names=names, max_total=MAX_TOTAL, points=MAX_TOTAL // len(EXERCISES))
    files[f"{question}/question.html"] = html.encode()
    files["README.md"] = README.format(
        image=image,
        question=QUESTION_ID,
        entrypoint=ENTRYPOINT_IN_IMAGE,
        timeout=GRADING_TIMEOUT_SECONDS,
        max_total=MAX_TOTAL,
    ).encode()
    return files


def write_grader(out: Path | str, image: str = DEFAULT_IMAGE) -> Path:
    """Write the grader and the example question under ``out``.

    Raises:
        PlatformError: ``out`` holds something other than an earlier grader, or cannot be written.
    """
    out = Path(out)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / "grader-image").is_dir())):
        raise PlatformError(f"{out} exists and is not an earlier PrairieLearn grader; choose another path")
    try:
        for name, data in grader_files(image).items():
            path = out / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        (out / "grader-image" / "entrypoint").chmod(0o755)
    except OSError as exc:
        raise PlatformError(f"{exc.filename or out}: cannot write it ({exc.strerror or exc})") from None
    return out


# --------------------------------------------------------------------------------------------------
# One submission, as the entrypoint grades it


def results_json(root: Path) -> dict[str, Any]:
    """Grade ``root/student`` and return PrairieLearn's ``results.json`` content.

    An upload without any exercise file is not gradable (the student keeps the attempt).

    Raises:
        PlatformError: no student folder, or the graders are broken.
    """
    upload = root / "student"
    result = grade_upload(upload, "student")
    if result.note and not result.checks:
        wanted = ", ".join(exercise.filename for exercise in EXERCISES)
        problem = f"none of {wanted} was found in the upload (found: {upload_listing(upload)})"
        return {
            "gradable": False,
            "score": 0.0,
            "message": f"Nothing was graded: {result.note}.",
            "format_errors": [problem],
            "tests": [],
        }
    from autograder.results import summary_line

    message = summary_line(result)
    return {
        "gradable": True,
        "score": round(result.total / MAX_TOTAL, 6),
        "message": message,
        "output": message + (f"\n\n{result.error}" if result.error else ""),
        "tests": [
            {
                "name": f"{check.exercise} {check.name}",
                "points": check.points,
                "max_points": check.max_points,
                "message": (check.message.splitlines() or ["failed"])[0] if not check.passed else "passed",
                "output": check.message,
            }
            for check in result.checks
        ],
    }


def grade(root: Path | str) -> int:
    """Grade the submission under ``root`` and write ``root/results/results.json``; 0 when graded.

    When grading itself fails (no student folder, broken graders) the result is written as not gradable
    with the reason, so the student loses no attempt, and the exit status is 1.
    """
    root = Path(root)
    status = 0
    try:
        data = results_json(root)
    except PlatformError as exc:
        data = {
            "gradable": False,
            "message": "The grader could not run; your attempt is not counted. Tell your instructor.",
            "format_errors": [str(exc)],
        }
        status = fail(str(exc))
    try:
        write_results(root, data)
    except OSError as exc:
        return fail(f"{exc.filename or root}: {exc.strerror or exc}")
    print(data["message"])
    return status


# --------------------------------------------------------------------------------------------------
# Command lines


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``python -m autograder prairielearn``: write the grader and the example question."""
    parser.add_argument(
        "--out", type=Path, default=Path("prairielearn"), help="folder to write (default prairielearn)"
    )
    parser.add_argument(
        "--image",
        default=DEFAULT_IMAGE,
        help=f"the grading image's name as your PrairieLearn pulls it (default {DEFAULT_IMAGE})",
    )


def run(args: argparse.Namespace) -> int:
    try:
        written = write_grader(args.out, args.image)
    except PlatformError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"PrairieLearn grader: {written}/grader-image (build it as {args.image}) and the question "
        f"{written}/questions/{QUESTION_ID}; see {written}/README.md"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """The entrypoint's command: grade one submission under the PrairieLearn tree."""
    parser = argparse.ArgumentParser(prog="python -m autograder.platforms.prairielearn", description=__doc__)
    parser.add_argument(
        "--root",
        type=Path,
        default=Path(os.environ.get("PL_GRADE_ROOT") or DEFAULT_ROOT),
        help="the grading tree (default $PL_GRADE_ROOT, else /grade)",
    )
    return grade(parser.parse_args(argv).root)


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
