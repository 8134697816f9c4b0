"""The course's manifest, ``exercises.toml`` beside the exercises: each exercise's id, module, topic and
hints, read by the progress plugin and the hints command."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

MANIFEST = Path(__file__).resolve().parent.parent / "exercises.toml"


def read_entries(manifest: Path = MANIFEST) -> tuple[list[dict[str, Any]], str | None]:
    """The manifest's ``[[exercise]]`` tables, in order.

    Returns:
        The tables, and None; or an empty list and one line naming the problem when the manifest is
        missing or unreadable.
    """
    try:
        entries = tomllib.loads(manifest.read_text(encoding="utf-8"))["exercise"]
        if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
            raise TypeError("'exercise' is not a list of tables")
        return entries, None
    except (OSError, ValueError, KeyError, TypeError) as problem:
        return [], f"cannot read the exercises from {manifest} ({problem}): restore it from the course bundle"


def one_line(text: str) -> str:
    """A hint as written in the manifest (wrapped over lines), as one line."""
    return " ".join(text.split())
