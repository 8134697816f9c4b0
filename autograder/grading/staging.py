"""Staging: a submission (folder or zip) becomes an importable package of its ``ex*.py`` files only,
with the pristine given files beside them. Nothing else of the submission is copied.

The folders that hold learners' files while they are graded (:func:`scratch_folder`) are named after the
process that made them, so that one left behind by a process that was killed (``SIGKILL``, a power cut)
is removed by the next run.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from autograder.manifest import EXERCISES, GIVEN_FILES, SOLUTIONS_DIR
from autograder.sandbox.kernel import process_exists

PACKAGE = "staged_submission"
MAX_FILE_BYTES = 1_000_000


class BadSubmission(ValueError):
    """A submission path that is neither a folder nor a zip, or a zip that cannot be read."""


def student_id(path: Path) -> str:
    path = Path(path)
    return path.stem if path.suffix.lower() == ".zip" else path.name


@contextlib.contextmanager
def scratch_folder(prefix: str) -> Iterator[str]:
    """A new folder ``<temp>/<prefix><pid>-...`` (0700), removed with everything in it when the block ends
    however it ends. First removes the folders of that prefix that a process of this user, now gone,
    left there."""
    remove_leftovers(prefix)
    folder = tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-")
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def remove_leftovers(prefix: str, temp: Path | str | None = None) -> list[Path]:
    """Remove ``<temp>/<prefix><pid>-*`` folders of this user whose process ``pid`` is gone (a folder of
    a process that is running, of another user, or not named so is left alone); returns those removed."""
    removed = []
    for folder in Path(temp or tempfile.gettempdir()).glob(f"{prefix}*-*"):
        owner = folder.name[len(prefix) :].split("-", 1)[0]
        if not owner.isdigit():
            continue
        try:
            info = folder.lstat()
        except OSError:
            continue
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or process_exists(int(owner)):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def _pick(candidates: list[PurePosixPath]) -> PurePosixPath:
    """The shallowest match; among equals, one inside a folder named ``exercises``, then by name."""
    return min(candidates, key=lambda p: (len(p.parts), "exercises" not in p.parts[:-1], str(p)))


def stage(source: Path, dest: Path) -> Path:
    """Write ``dest/staged_submission/`` and return ``dest`` (the folder to put on ``sys.path``).

    Raises:
        BadSubmission: ``source`` is not a folder or a readable ``.zip``.
    """
    source = Path(source)
    package = Path(dest) / PACKAGE
    if package.exists():
        shutil.rmtree(package)
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    for name in GIVEN_FILES:
        shutil.copyfile(SOLUTIONS_DIR / name, package / name)
    wanted = {ex.filename for ex in EXERCISES}
    if source.is_dir():
        found: dict[str, list[PurePosixPath]] = {}
        for path in source.rglob("*.py"):
            if path.name in wanted and path.is_file() and not path.is_symlink():
                found.setdefault(path.name, []).append(PurePosixPath(path.relative_to(source).as_posix()))
        for name, candidates in found.items():
            chosen = source / _pick(candidates)
            data = chosen.read_bytes()[: MAX_FILE_BYTES + 1]
            _write(package / name, data)
    elif source.is_file() and source.suffix.lower() == ".zip":
        try:
            with zipfile.ZipFile(source) as archive:
                members: dict[str, list[PurePosixPath]] = {}
                for info in archive.infolist():
                    member = PurePosixPath(info.filename)
                    if member.name in wanted and not info.is_dir():
                        members.setdefault(member.name, []).append(member)
                for name, candidates in members.items():
                    with archive.open(str(_pick(candidates))) as fh:
                        _write(package / name, fh.read(MAX_FILE_BYTES + 1))
        except (zipfile.BadZipFile, OSError) as exc:
            raise BadSubmission(f"{source} is not a readable zip file ({exc})") from None
    else:
        raise BadSubmission(f"{source} is neither a folder nor a .zip file")
    return Path(dest)


def _write(path: Path, data: bytes) -> None:
    if len(data) > MAX_FILE_BYTES:
        data = b'raise ImportError("this file is larger than 1 MB and was not graded")\n'
    path.write_bytes(data)
