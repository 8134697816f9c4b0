"""The worker's hold on the staged submission: importing its exercise modules (a learner's message when
that fails) and finding what a request names (a function of a module, or an object kept by handle).

Runs next to the learner's code, like :mod:`autograder.sandbox.worker`, which builds on it.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

from autograder.manifest import EXERCISE_BY_MODULE
from autograder.wire import values


class SubmissionImports:
    """The exercise modules of one staged submission package (``package`` is importable), and the
    objects kept for the graders by handle."""

    def __init__(self, package: str):
        self.package = package
        self.handles: dict[int, Any] = {}

    # ----------------------------------------------------------------------------------------------
    def _import(self, module: str):
        if module not in EXERCISE_BY_MODULE:
            raise values.ImportFailed(f"{module} is not an exercise module")
        qualified = f"{self.package}.{module}"
        if qualified in sys.modules:
            return sys.modules[qualified]
        try:
            return importlib.import_module(qualified)
        except ModuleNotFoundError as exc:
            if exc.name == qualified:
                raise values.ImportFailed(f"{module}.py is not in the submission") from None
            raise values.ImportFailed(describe_import_error(module, exc)) from None
        except BaseException as exc:  # SyntaxError, SystemExit, KeyboardInterrupt at import time  # noqa: BLE001
            sys.modules.pop(qualified, None)
            raise values.ImportFailed(describe_import_error(module, exc)) from None

    def _resolve(self, target: Any):
        if type(target) is int:
            if target not in self.handles:
                raise values.SubmissionError(f"no object with handle {target}")
            return self.handles[target]
        module_name, _, name = str(target).partition(".")
        module = self._import(module_name)
        try:
            return module.__dict__[name]
        except KeyError:
            raise values.MissingName(
                f"{module_name}.py has no {name}: did you misname or forget to define it?"
            ) from None

    def _keep(self, obj: Any) -> int:
        number = len(self.handles) + 1
        self.handles[number] = obj
        return number

    def _handle_value(self, number: int) -> Any:
        if number not in self.handles:
            raise values.SubmissionError(f"no object with handle {number}")
        return self.handles[number]


def describe_import_error(module: str, exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        return f"{module}.py has a syntax error on line {exc.lineno}: {exc.msg}"
    return f"importing {module}.py raised {type(exc).__name__}: {short(str(exc))}"


def short(text: str, limit: int = 300) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."
