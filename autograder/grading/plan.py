"""The plan of a grading batch: the hidden graders collected once, with what each check needs.

:func:`prepare` imports what every grading child shares (torch, the sandbox, the given model), starts
the sandbox's zygote, collects the graders with pytest once (checking that every exercise's points sum to
20; the collected session is what every grading child runs, :mod:`autograder.grading.session`) and
builds the graders' shared inputs. The :class:`Plan` it returns is cached per graders folder
and its files' times and sizes, so a second batch in the same process collects nothing again.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import importlib
import importlib.util
import io
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from autograder.grading.plugin import ChecksPlugin, GraderBug
from autograder.grading.session import PYTEST_ARGS, CollectedChecks
from autograder.manifest import GRADERS_DIR
from autograder.results.model import CheckResult

WARM_MODULES = (
    "torch",
    "autograder.sandbox",
    "autograder.sandbox.worker",
    "solutions.model",
)

Check = tuple[str, str]
"""A check's ``(exercise, name)``."""


@dataclass(frozen=True)
class Plan:
    """The checks of one graders folder, in the order pytest runs them.

    ``needs``: the checks marked ``@pytest.mark.needs(module, ...)`` (transformers), graded apart by the
    late pass (:mod:`autograder.grading.late`); ``node_ids``: their pytest node ids. ``session``: the
    graders' pytest session, collected once, that every grading child forked from this process runs
    (None where this pytest cannot be driven that way: each child then runs ``pytest.main``).
    """

    graders_dir: Path
    checks: tuple[CheckResult, ...]
    needs: dict[Check, tuple[str, ...]]
    node_ids: tuple[str, ...]
    session: CollectedChecks | None = field(default=None, compare=False, repr=False)

    def fresh(self, late: bool | None = None) -> list[CheckResult]:
        """Copies of the checks (all of them, or only the late ones, or only the others)."""
        return [
            replace(check)
            for check in self.checks
            if late is None or ((check.exercise, check.name) in self.needs) == late
        ]

    @property
    def late_modules(self) -> list[str]:
        """The modules the late checks need, sorted."""
        return sorted({name for names in self.needs.values() for name in names})


def prepare(graders_dir: Path = GRADERS_DIR) -> Plan:
    """Import everything the grading children share and collect the graders: the plan of checks.

    Raises:
        GraderBug: a grader file does not collect, an exercise's points do not sum to 20, a module the
            graders need is not installed, or building their shared inputs failed.
    """
    _warm_imports()
    plan = _collect(_graders_key(Path(graders_dir)))
    # Everything imported so far is shared by the forked children: keep the garbage collector from
    # walking it in every child.
    gc.freeze()
    from autograder.sandbox import huge_pages, zygote
    from autograder.wire.encoding import shared_model_specs

    # Ready before any grading child shares it, with templates of the models its workers rebuild most.
    zygote.current().keep_templates(shared_model_specs())
    huge_pages.collapse_private_memory()  # a grading child per submission is forked from here
    return plan


@contextlib.contextmanager
def pytest_environment() -> Iterator[None]:
    """No pytest plugin is loaded from the installed packages' entry points while the graders run."""
    previous = os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
        else:
            os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = previous


def warm_shared_inputs() -> None:
    """Build the graders' shared inputs (``autograder.graders.support.warm_all``), once per process:
    every grading child forked afterwards inherits them."""
    support = sys.modules.get("autograder.graders.support")
    if support is not None and hasattr(support, "warm_all"):
        support.warm_all()


def _warm_imports() -> None:
    for name in WARM_MODULES:
        importlib.import_module(name)
    import torch

    torch.set_num_threads(1)
    from autograder.sandbox import use_namespaces, zygote

    zygote.start()  # a fresh interpreter: it imports torch while this process collects the graders
    use_namespaces()  # probed once: every worker of the batch is confined alike


def _graders_key(graders_dir: Path) -> tuple:
    files = sorted(p for p in Path(graders_dir).rglob("*.py") if "__pycache__" not in p.parts)
    return (
        str(Path(graders_dir).resolve()),
        *((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files),
    )


@functools.lru_cache(maxsize=8)
def _collect(key: tuple) -> Plan:
    graders_dir = Path(key[0])
    session: CollectedChecks | None = None
    with pytest_environment():
        try:
            session = CollectedChecks.collect(graders_dir)
        except GraderBug:
            raise
        except Exception:  # noqa: BLE001  (this pytest cannot hold a session: one pytest.main per child)
            session = None
    plugin = session.plugin if session is not None else _collect_only(graders_dir)
    missing = sorted({name for names in plugin.needs.values() for name in names if not _importable(name)})
    if missing:
        raise GraderBug(
            f"the graders need {', '.join(missing)}, which is not installed here: install the "
            'project with its dev extras (pip install -e ".[dev]")'
        )
    try:
        warm_shared_inputs()
    except Exception as exc:
        raise GraderBug(f"building the graders' shared inputs failed: {type(exc).__name__}: {exc}") from exc
    return Plan(
        graders_dir=graders_dir,
        checks=tuple(plugin.plan),
        needs=dict(plugin.needs),
        node_ids=tuple(sorted(plugin.node_ids.values())),
        session=session,
    )


def _collect_only(graders_dir: Path) -> ChecksPlugin:
    """The plan from ``pytest --collect-only``, for a pytest that cannot hold a collected session."""
    import pytest

    plugin = ChecksPlugin()
    output = io.StringIO()
    with pytest_environment(), contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
        code = pytest.main([str(graders_dir), "--collect-only", *PYTEST_ARGS], plugins=[plugin])
    if plugin.collection_errors or code != 0 or not plugin.plan:
        detail = "\n".join(plugin.collection_errors) or output.getvalue()[-3000:]
        raise GraderBug(f"the graders in {graders_dir} are broken (pytest exit code {int(code)}):\n{detail}")
    return plugin


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False
