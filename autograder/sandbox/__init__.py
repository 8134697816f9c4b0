"""Isolation of the learners' code: the graders' connection to a submission's workers
(:mod:`.connection`), the keeper and init that fork them inside the submission's namespaces
(:mod:`.keeper`), a worker's start (:mod:`.worker_start`) and its own side, which runs the submission
(:mod:`.worker`), their limits (:mod:`.limits`), the kernel's confinement of them (:mod:`.confine`:
namespaces, Landlock, seccomp, cgroups), the clean process they are forked from (:mod:`.zygote`) and
the command line they show (:mod:`.process_title`).

``autograder.sandbox`` keeps the names the rest of the project imports from it.
"""

from __future__ import annotations

from autograder.sandbox.connection import NAMESPACES, SandboxConnection, WorkerProcess, use_namespaces
from autograder.sandbox.keeper import fork
from autograder.sandbox.worker_start import WORKER_FAILED_TO_START, WORKER_MODULES

__all__ = [
    "NAMESPACES",
    "WORKER_FAILED_TO_START",
    "WORKER_MODULES",
    "SandboxConnection",
    "WorkerProcess",
    "fork",
    "use_namespaces",
]
