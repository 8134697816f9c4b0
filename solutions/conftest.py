"""Loads the progress plugin of ``pytest exercises`` (its code: ``support/progress.py``)."""

from __future__ import annotations

from .support.progress import pytest_configure, pytest_sessionstart

__all__ = ["pytest_configure", "pytest_sessionstart"]
