"""The learner bundle: what learners download (``exercises/`` as released, the learner README and
pyproject.toml), as a folder or a reproducible zip.
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

from autograder.manifest import EXERCISES_DIR, SOLUTIONS_DIR

from .tree import NOTEBOOK, render_exercises

BUNDLE_TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "learner_bundle"
BUNDLE_TEMPLATES = ("README.md", "pyproject.toml")
ZIP_TIMESTAMP = (2020, 1, 1, 0, 0, 0)


def bundle_files(
    *, exercises_dir: Path = EXERCISES_DIR, solutions_dir: Path = SOLUTIONS_DIR
) -> dict[str, bytes]:
    """What the learner bundle holds: relative POSIX path -> bytes.

    ``exercises/`` as rendered from ``solutions_dir`` (plus the released notebook from ``exercises_dir``
    when there is one), the learner README and pyproject.toml. Nothing of solutions/, autograder/, tests/.
    """
    files: dict[str, bytes] = {}
    for name in BUNDLE_TEMPLATES:
        files[name] = (BUNDLE_TEMPLATES_DIR / name).read_bytes()
    for relative, content in render_exercises(solutions_dir).items():
        files[f"exercises/{relative}"] = content.encode("utf-8", errors="surrogateescape")
    notebook = Path(exercises_dir) / NOTEBOOK
    if notebook.is_file():
        files[f"exercises/{NOTEBOOK}"] = notebook.read_bytes()
    return dict(sorted(files.items()))


def build_bundle(
    dest: Path, *, exercises_dir: Path = EXERCISES_DIR, solutions_dir: Path = SOLUTIONS_DIR
) -> Path:
    """Write the learner bundle to ``dest``: a folder, or a zip when ``dest`` ends in ``.zip``.

    A zip holds one top-level folder named after it (``course.zip`` -> ``course/README.md`` ...), its
    entries sorted and dated alike so the same sources give the same bytes. An existing folder is
    replaced only when it is empty or an earlier bundle (README.md, pyproject.toml and exercises/).

    Returns:
        ``dest``.

    Raises:
        FileExistsError: ``dest`` is a folder holding something other than an earlier bundle.
    """
    dest = Path(dest)
    files = bundle_files(exercises_dir=exercises_dir, solutions_dir=solutions_dir)
    if dest.suffix.lower() == ".zip":
        dest.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for relative, data in files.items():
                info = zipfile.ZipInfo(f"{dest.stem}/{relative}", date_time=ZIP_TIMESTAMP)
                info.external_attr = 0o644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, data)
        return dest
    if dest.exists():
        contents = {child.name for child in dest.iterdir()}
        earlier_bundle = {"README.md", "pyproject.toml", "exercises"} <= contents
        if contents and not earlier_bundle:
            raise FileExistsError(f"{dest} exists and is not an earlier learner bundle; choose another path")
        shutil.rmtree(dest)
    for relative, data in files.items():
        path = dest / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return dest
