"""The nbgrader course around the walk-through notebook: configuration, release and instructor commands."""

from __future__ import annotations

from .release import release_notebook

__all__ = ["release_notebook"]
