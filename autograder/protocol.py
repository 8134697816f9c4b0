"""The older name of :mod:`autograder.wire.values`, kept for the graders and tests that import it.

It is the same module object (``autograder.protocol is autograder.wire.values``), so setting an
attribute through either name sets it for both.
"""

from __future__ import annotations

import sys

from autograder.wire import values

sys.modules[__name__] = values
