"""The graders' pytest session, configured and collected once, run in every grading child.

Configuring pytest and collecting the graders costs a grading child more than a tenth of its time if it
does it for itself. So the process that forks the grading children (the engine, and the late pass after
it) holds one session, configured and collected but never run; each child inherits it through ``fork``,
keeps the checks of its part (all, the main ones, or the late ones) and runs them with pytest's own run
loop, reporting through the :class:`~autograder.grading.plugin.ChecksPlugin` that collected them.

Only pytest's documented hooks run the checks; setting the session up uses ``_pytest.config``'s
``_prepareconfig`` and ``Config._do_configure`` (what ``pytest.main`` itself calls). Should a pytest
release change them, :meth:`CollectedChecks.collect` raises and the engine falls back to one
``pytest.main`` per grading child, as before.
"""

from __future__ import annotations

import contextlib
import io
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from autograder.grading.plugin import ChecksPlugin, GraderBug
from autograder.results.model import CheckResult

# pytest's plugins that the graders do not use (per-test log and warning capture, the gc.collect() of
# the unraisable-exception hook, the rest only registered): left out of every run.
UNUSED_PLUGINS = (
    "cacheprovider",
    "faulthandler",
    "logging",
    "warnings",
    "unraisableexception",
    "threadexception",
    "doctest",
    "junitxml",
    "pastebin",
    "stepwise",
    "legacypath",
    "tmpdir",
    "monkeypatch",
    "debugging",
    "setuponly",
    "setupplan",
    "subtests",
    "unittest",
    "recwarn",
)
# --tb=no: the checks' messages come from the results plugin; pytest's own traceback report of a failed
# check (with source excerpts) is never read.
PYTEST_ARGS = (
    "-q",
    "-s",
    "--tb=no",
    *(a for name in UNUSED_PLUGINS for a in ("-p", f"no:{name}")),
    "-o",
    "addopts=",
)
# The held session has no terminal report at all: nothing reads it (the learner's messages come from
# the results plugin), and a forked child must not write to its parent's terminal.
SESSION_ARGS = (
    "-s",
    *(a for name in (*UNUSED_PLUGINS, "terminal") for a in ("-p", f"no:{name}")),
    "-o",
    "addopts=",
)


class CollectedChecks:
    """One pytest session over a graders folder, collected by :meth:`collect`; :meth:`run` (in a forked
    grading child) runs some of its checks against that child's submission."""

    def __init__(self, config: pytest.Config, session: pytest.Session, plugin: ChecksPlugin):
        self.config = config
        self.session = session
        self.plugin = plugin
        self.items: list[pytest.Item] = list(session.items)

    @classmethod
    def collect(cls, graders_dir: Path) -> CollectedChecks:
        """Configure pytest for ``graders_dir`` and collect its checks, without running any.

        Raises:
            GraderBug: a grader file does not collect, or a check's marks are wrong (the plugin says
                which); anything else: this pytest cannot be driven this way (the caller falls back).
        """
        from _pytest.config import _prepareconfig

        plugin = ChecksPlugin()
        output = io.StringIO()
        with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
            config = _prepareconfig([str(graders_dir), *SESSION_ARGS], plugins=[plugin])
            config._do_configure()
            session = pytest.Session.from_config(config)
            config.hook.pytest_sessionstart(session=session)
            with contextlib.suppress(GraderBug):  # the plugin's collection_errors say why
                config.hook.pytest_collection(session=session)
        if plugin.collection_errors or not plugin.plan:
            detail = "\n".join(plugin.collection_errors) or output.getvalue()[-3000:] or "no check found"
            raise GraderBug(f"the graders in {graders_dir} are broken:\n{detail}")
        _drop_import_hooks(config)
        return cls(config, session, plugin)

    def run(
        self,
        connection: Any,
        on_check: Callable[[CheckResult], None],
        keep: Callable[[tuple[str, str]], bool],
    ) -> int:
        """Run the checks ``(exercise, name)`` that ``keep`` accepts, calling into ``connection``'s
        submission; ``on_check`` gets each result. Returns pytest's exit code. Call it once per process,
        in a forked child: the session is not reset after a run."""
        from autograder.grading.plugin import exercise_of

        plugin, session, config = self.plugin, self.session, self.config
        plugin.connection, plugin.on_check = connection, on_check
        config._autograder_connection = connection  # type: ignore[attr-defined]
        session.items = [item for item in self.items if keep((exercise_of(item.path.name) or "", item.name))]
        session.testscollected = len(session.items)
        if not session.items:
            return int(pytest.ExitCode.OK)
        status: int = int(pytest.ExitCode.OK)
        try:
            config.hook.pytest_runtestloop(session=session)
            if session.testsfailed:
                status = int(pytest.ExitCode.TESTS_FAILED)
        finally:
            config.hook.pytest_sessionfinish(session=session, exitstatus=status)
        return status

    @property
    def grader_errors(self) -> list[str]:
        return self.plugin.grader_errors


def _drop_import_hooks(config: pytest.Config) -> None:
    """Take this session's assertion-rewriting import hook out of ``sys.meta_path``: the graders are
    imported (rewritten) by now, and the hook must not rewrite what the process imports later."""
    for finder in list(sys.meta_path):
        if getattr(finder, "config", None) is config:
            sys.meta_path.remove(finder)
