"""The message of a stub's ``NotImplementedError``: written by the release into every stub, and recognised
by the progress plugin and the checks ("not started", not failed)."""

from __future__ import annotations

import re

STUB_MESSAGE = "{exercise}: implement {name}"
"""What an untouched stub raises: ``NotImplementedError("ex3: implement halve_layers")``."""

STUB_PATTERN = re.compile(r"^(ex\d+): implement (\S+)")
"""Matches the start of a :data:`STUB_MESSAGE`: group 1 is the exercise id, group 2 the function's name."""


def stub_message(exercise: str, name: str) -> str:
    """The message of exercise ``exercise``'s stub of function ``name``: ``"ex3: implement halve_layers"``."""
    return STUB_MESSAGE.format(exercise=exercise, name=name)
