"""cgroups (v1, as root): one budget of memory, processes and CPU over all of a worker's processes."""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import time
from pathlib import Path

from autograder.sandbox.kernel import process_exists

CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_CONTROLLERS = ("memory", "pids", "cpu")
_CPU_PERIOD_US = 100_000


def _own_cgroup(controller: str) -> Path | None:
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, names, path = line.split(":", 2)
        if controller in names.split(","):
            folder = CGROUP_ROOT / controller / path.lstrip("/")
            return folder if folder.is_dir() else None
    return None


class CgroupBudget:
    """The batch's cgroup folders (one per controller); each worker gets a folder of its own in each,
    limited to the worker's memory, processes and one CPU. Root only, where cgroup v1 is mounted and
    writable; otherwise :attr:`active` is False and nothing is counted this way."""

    def __init__(self) -> None:
        self.folders: dict[str, Path] = {}

    @property
    def active(self) -> bool:
        return bool(self.folders)

    def start(self) -> bool:
        """Make the batch's folders; False (and nothing made) if any controller is missing."""
        if os.geteuid() != 0:
            return False
        made: dict[str, Path] = {}
        for controller in CGROUP_CONTROLLERS:
            own = _own_cgroup(controller)
            if own is None:
                break
            _remove_leftovers(own)
            folder = own / f"autograder-{os.getpid()}"
            try:
                folder.mkdir(exist_ok=True)
            except OSError:
                break
            made[controller] = folder
        else:
            self.folders = made
            return True
        for folder in made.values():
            with contextlib.suppress(OSError):
                folder.rmdir()
        return False

    def worker_folders(self, pid: int) -> list[Path]:
        return [folder / f"w{pid}" for folder in self.folders.values()]

    def join(self, memory_bytes: int, max_processes: int) -> bool:
        """Put the calling process (a worker, still root) in folders of its own with these limits."""
        if not self.active:
            return False
        pid = os.getpid()
        settings = {
            "memory": {"memory.limit_in_bytes": memory_bytes},
            "pids": {"pids.max": max_processes},
            "cpu": {"cpu.cfs_period_us": _CPU_PERIOD_US, "cpu.cfs_quota_us": _CPU_PERIOD_US},
        }
        try:
            for controller, folder in self.folders.items():
                mine = folder / f"w{pid}"
                mine.mkdir(exist_ok=True)
                for name, value in settings[controller].items():
                    (mine / name).write_text(str(value))
                (mine / "cgroup.procs").write_text(str(pid))
        except OSError:
            return False
        return True

    def remove_worker(self, pid: int, *, wait: float = 1.0) -> None:
        """Remove a worker's folders (once the processes in them are gone: tried for ``wait`` s)."""
        deadline = time.monotonic() + wait
        for folder in self.worker_folders(pid):
            _remove_when_free(folder, deadline)

    def finish(self) -> None:
        """Remove every worker folder left and the batch's folders."""
        for folder in self.folders.values():
            for mine in folder.glob("w*"):
                if mine.is_dir():
                    self.remove_worker(int(mine.name[1:]), wait=2.0)
            with contextlib.suppress(OSError):
                folder.rmdir()
            _remove_leftovers(folder.parent)  # a killed batch's process that joined after the start
        self.folders = {}


def _remove_leftovers(parent: Path) -> None:
    """Remove the ``autograder-<pid>`` folders under ``parent`` of a batch whose process ``pid`` is gone
    (killed before it could remove them), with their workers' folders. A process still in one is a
    sandbox process of that batch on its way out (its parent-death signals are not all delivered yet,
    or it joined after the engine died): it is killed, and the folders are tried again for a moment."""
    for folder in parent.glob("autograder-*"):
        owner = folder.name.removeprefix("autograder-")
        if not owner.isdigit() or process_exists(int(owner)):
            continue
        # The kernel refuses while a process is in a folder, and for a moment after the last one left.
        deadline = time.monotonic() + 2.0
        while folder.exists():
            for mine in [*folder.glob("w*"), folder]:
                _kill_processes_in(mine)
                with contextlib.suppress(OSError):
                    mine.rmdir()
            if not folder.exists() or time.monotonic() >= deadline:
                break
            time.sleep(0.01)


def _kill_processes_in(folder: Path) -> None:
    try:
        pids = (folder / "cgroup.procs").read_text().split()
    except OSError:
        return
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError, ValueError):
            os.kill(int(pid), signal.SIGKILL)


def _remove_when_free(folder: Path, deadline: float) -> None:
    """``rmdir`` a cgroup folder, tried again until ``deadline`` while the kernel refuses."""
    while folder.exists():
        try:
            folder.rmdir()
        except FileNotFoundError:
            return
        except OSError:
            if time.monotonic() >= deadline:
                return
            time.sleep(0.01)


BUDGET = CgroupBudget()


@functools.cache
def cgroups_available() -> bool:
    """Whether a batch can have cgroups of its own here (made and removed again to find out)."""
    if BUDGET.active:
        return True
    trial = CgroupBudget()
    made = trial.start()
    trial.finish()
    return made
