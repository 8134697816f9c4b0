"""Isolation of the learners' code: the graders' connection to a submission's workers
(:mod:`.connection`), the keeper and init that fork them inside the submission's namespaces
(:mod:`.keeper`), a worker's start (:mod:`.worker_start`) and its own side, which runs the submission
(:mod:`.worker`), their limits (:mod:`.limits`), the kernel's confinement of them (:mod:`.confine`:
namespaces, Landlock, seccomp, cgroups), the clean process they are forked from (:mod:`.zygote`) and
the command line they show (:mod:`.process_title`).

``autograder.sandbox`` keeps the names the rest of the project imports from it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from autograder.sandbox.connection import NAMESPACES, SandboxConnection, WorkerProcess, use_namespaces
    from autograder.sandbox.keeper import fork
    from autograder.sandbox.worker_start import WORKER_FAILED_TO_START, WORKER_MODULES

# Each name from the module that defines it, on first use: importing this package (and so any of its
# modules, such as the zygote, which the engine starts before anything imports torch) imports no torch.
_HOMES = {
    "NAMESPACES": "connection",
    "SandboxConnection": "connection",
    "WorkerProcess": "connection",
    "use_namespaces": "connection",
    "fork": "keeper",
    "WORKER_FAILED_TO_START": "worker_start",
    "WORKER_MODULES": "worker_start",
}

__all__ = [
    "NAMESPACES",
    "WORKER_FAILED_TO_START",
    "WORKER_MODULES",
    "SandboxConnection",
    "WorkerProcess",
    "fork",
    "use_namespaces",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
