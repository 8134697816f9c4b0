"""The former name of :mod:`autograder.sandbox.limits` (the same module object, private names included)."""

from __future__ import annotations

import sys

from autograder.sandbox import limits as _limits

sys.modules[__name__] = _limits
