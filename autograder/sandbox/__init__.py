"""Isolation of the learners' code: worker processes (:mod:`.process`), their limits (:mod:`.limits`),
the kernel's confinement of them (:mod:`.confine`: namespaces, Landlock, seccomp, cgroups) and the clean
process they are forked from (:mod:`.zygote`) and the worker's own side, which runs the submission
(:mod:`.worker`).

``autograder.sandbox`` keeps the names the rest of the project imported from the single module it was.
"""

from __future__ import annotations

from autograder.sandbox.process import (
    WORKER_FAILED_TO_START,
    WORKER_MODULES,
    SandboxConnection,
    WorkerProcess,
    _forget_the_project,
    fork,
    use_namespaces,
)

__all__ = [
    "WORKER_FAILED_TO_START",
    "WORKER_MODULES",
    "SandboxConnection",
    "WorkerProcess",
    "_forget_the_project",
    "fork",
    "use_namespaces",
]
