"""Confinement of a worker process: what it may open, reach and become, and what this machine offers.

Each layer is a kernel mechanism applied to the calling process (and inherited by its descendants),
irreversibly:

- **namespaces** (:mod:`autograder.sandbox.namespaces`): a user namespace of its own (so the kernel
  counts its processes apart from every other worker's), a network namespace with no interface up, a PID
  namespace (its init is the worker's keeper: when the keeper ends, every process in it ends) and a
  mount namespace with a ``/proc`` of its own (no other process, the engine's included, is visible);
- **Landlock** (:mod:`autograder.sandbox.landlock`): which files it may read (Python's installation, the
  system's libraries, its own staged files), that it writes none, connects to no TCP port and signals no
  process outside its own;
- **seccomp** (:mod:`autograder.sandbox.seccomp`, through libseccomp): no socket of any family is
  created (``socket``, ``socketpair``, ``io_uring``), none inherited is used (``connect``, ``bind``,
  ...), and no process is made (threads are), so the worker's own limits are the limits of all it runs;
- **capabilities** (:func:`autograder.sandbox.namespaces.drop_capabilities`): the ones a new user
  namespace grants are given up;
- **cgroups** (:mod:`autograder.sandbox.cgroups`, as root where the cgroup v1 hierarchy is writable):
  memory, processes and CPU counted over all the worker's processes together.

This module says which of them this machine offers (:func:`features`, one line from
:func:`describe_features`, printed by the engine at start); the batch's cgroup budget is
:data:`BUDGET`, here as in :mod:`autograder.sandbox.cgroups`.
"""

from __future__ import annotations

import os
from typing import Any

from autograder.sandbox.cgroups import BUDGET, CGROUP_CONTROLLERS, cgroups_available
from autograder.sandbox.landlock import landlock_abi
from autograder.sandbox.namespaces import namespaces_available
from autograder.sandbox.seccomp import seccomp_available

__all__ = ["BUDGET", "describe_features", "features"]


def features() -> dict[str, object]:
    """The confinement this machine gives workers, as recorded in each results file."""
    return {
        "landlock_abi": landlock_abi(),
        "seccomp_no_sockets_no_processes": seccomp_available(),
        "namespaces": namespaces_available(),
        "runs_as_nobody": os.geteuid() == 0,
        "cgroups": list(CGROUP_CONTROLLERS) if cgroups_available() else [],
    }


def describe_features(found: dict[str, object]) -> str:
    """One line: ``sandbox: Landlock ABI 7 (files, TCP, signals); seccomp: no sockets, ...``."""
    abi = int(found["landlock_abi"])  # type: ignore[call-overload]
    parts = []
    if abi >= 1:
        reach = [
            "files",
            *(["TCP"] if abi >= 4 else []),
            *(["signals, abstract sockets"] if abi >= 6 else []),
        ]
        parts.append(f"Landlock ABI {abi} ({', '.join(reach)})")
    else:
        parts.append("NO Landlock (workers may read every file this user can)")
    parts.append(
        "seccomp: no sockets, no IPC objects, no memory files, no processes (threads only)"
        if found["seccomp_no_sockets_no_processes"]
        else "NO seccomp (UDP and Unix sockets allowed, processes counted per worker only)"
    )
    if found["namespaces"]:
        parts.append(
            "namespaces per submission: user, pid, net, ipc, mount (own /proc, processes counted apart)"
        )
    else:
        parts.append("NO namespaces (processes counted per user; daemons killed by process group only)")
    parts.append("workers as nobody" if found["runs_as_nobody"] else "workers keep your user id")
    cgroups: Any = found["cgroups"]
    parts.append(
        f"cgroups per submission: {', '.join(cgroups)}"
        if cgroups
        else "no cgroups (memory limited per worker process)"
    )
    return "sandbox: " + "; ".join(parts)
