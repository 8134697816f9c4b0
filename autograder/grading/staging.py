"""Staging: a submission (folder or zip) becomes an importable package of its ``ex*.py`` files only,
with the pristine given files beside them. Nothing else of the submission is copied."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path, PurePosixPath

from autograder.manifest import EXERCISES, GIVEN_FILES, SOLUTIONS_DIR

PACKAGE = "staged_submission"
MAX_FILE_BYTES = 1_000_000


class BadSubmission(ValueError):
    """A submission path that is neither a folder nor a zip, or a zip that cannot be read."""


def student_id(path: Path) -> str:
    path = Path(path)
    return path.stem if path.suffix.lower() == ".zip" else path.name


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
