"""What a batch is graded with, recorded in each results file so that a regrade can be shown to be the
same."""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
from pathlib import Path
from typing import Any

from autograder.sandbox import confine
from autograder.sandbox.limits import Limits

PACKAGE = "distil-roberta-exercises"


def provenance(graders_dir: Path, limits: Limits) -> dict[str, Any]:
    """The package's version, a hash of the graders (their files, so their fixed seeds too), torch's
    and Python's versions, the hash seed, the limits and the sandbox in force."""
    import torch

    digest = hashlib.sha256()
    folder = Path(graders_dir)
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes() + b"\0")
    try:
        version = importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return {
        "package_version": version,
        "graders_sha256": digest.hexdigest(),
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "seeds": {
            "graders": "fixed in the graders' files (graders_sha256)",
            "PYTHONHASHSEED": os.environ.get("PYTHONHASHSEED", "random"),
        },
        "limits": {
            "call_timeout": limits.call_timeout,
            "memory_mb": limits.memory_mb,
            "submission_timeout": limits.submission_timeout,
            "max_processes": limits.max_processes,
        },
        "sandbox": confine.features(),
    }
