"""The worker's confinement, one mechanism at a time: no network of any kind, its own processes only.

Each check grades a small submission through :class:`autograder.sandbox.SandboxConnection` in a fresh
Python process, as this user and (when the tests run as root, as CI does) again as an unused uid
switched to with ``setpriv``, so that what holds for root and for a normal user is tested alike.
"""

from __future__ import annotations

import errno
import json
import os
import pwd
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Tries every way out to the listeners; returns one code per attempt: 0 reached, else the errno.
REACH_OUT = r"""
import errno
import socket


def reach_out(tcp_port, udp_port, unix_path, abstract_name):
    codes = []

    def attempt(family, kind, address, send=False):
        try:
            sock = socket.socket(family, kind)
        except OSError as exc:
            codes.append(exc.errno or -1)
            return
        try:
            sock.settimeout(2)
            if send:
                sock.sendto(b"leak", address)
            else:
                sock.connect(address)
                sock.sendall(b"leak")
            codes.append(0)
        except OSError as exc:
            codes.append(exc.errno or -1)
        finally:
            sock.close()

    attempt(socket.AF_INET, socket.SOCK_STREAM, ("127.0.0.1", tcp_port))
    attempt(socket.AF_INET, socket.SOCK_DGRAM, ("127.0.0.1", udp_port), send=True)
    attempt(socket.AF_UNIX, socket.SOCK_STREAM, unix_path)
    attempt(socket.AF_UNIX, socket.SOCK_STREAM, "\0" + abstract_name)
    try:
        raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        raw.close()
        codes.append(0)
    except OSError as exc:
        codes.append(exc.errno or -1)
    try:
        left, right = socket.socketpair()
        left.close()
        right.close()
        codes.append(0)
    except OSError as exc:
        codes.append(exc.errno or -1)
    return codes
"""

SUBMISSION = (
    REACH_OUT
    + r"""
import torch


def softmax_with_temperature(logits, temperature=1.0, dim=-1):
    return torch.tensor(reach_out(*[int(x) for x in logits[:2].tolist()], UNIX, ABSTRACT))
"""
)

# Run by a fresh Python (as root, or as an unused uid): grade SUBMISSION's one call, print the reply.
GRADE_ONE_CALL = r"""
import json, shutil, sys, tempfile
from pathlib import Path

import torch

import autograder.sandbox.worker  # noqa: F401
from autograder import grading, sandbox
from autograder.sandbox.limits import Limits
from autograder.grading.staging import stage
from autograder.submission import Submission

source, argument = Path(sys.argv[1]), [float(x) for x in json.loads(sys.argv[2])]
staged = Path(tempfile.mkdtemp(prefix="ag-test-"))
try:
    stage(source, staged)
    grading.make_readable(staged)
    connection = sandbox.SandboxConnection(staged, Limits(call_timeout=20))
    try:
        value = Submission(connection).ex1.softmax_with_temperature(torch.tensor(argument))
    finally:
        connection.close()
finally:
    shutil.rmtree(staged, ignore_errors=True)
print(json.dumps(value.tolist()))
"""


def unused_uid() -> int:
    """A uid with no account and no process (CI runs as root: the normal user is simulated with it)."""
    running = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                running.add(os.stat(f"/proc/{entry}").st_uid)
            except OSError:
                pass
    for uid in range(23_000, 24_000):
        try:
            pwd.getpwuid(uid)
        except KeyError:
            if uid not in running:
                return uid
    raise RuntimeError("no unused uid")


def users() -> list[str]:
    """``root`` and ``user`` when the tests run as root, else only ``user`` (this normal user)."""
    return ["root", "user"] if os.geteuid() == 0 else ["user"]


def as_user(user: str, command: list[str]) -> list[str]:
    if user == "root" or os.geteuid() != 0:
        return command
    uid = unused_uid()
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", *command]


@pytest.fixture
def shared_dir():
    """A folder every user may read and write (as /tmp is), removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="ag-sandbox-test-"))
    folder.chmod(0o777)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def grade_one_call(user: str, source: Path, argument: list[float]) -> list:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = as_user(user, [sys.executable, "-c", GRADE_ONE_CALL, str(source), json.dumps(argument)])
    done = subprocess.run(command, check=False, capture_output=True, text=True, env=env, cwd="/", timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


class Listeners:
    """TCP and UDP on 127.0.0.1, a Unix socket file anyone may connect to, an abstract Unix socket."""

    def __init__(self, folder: Path):
        self.tcp = socket.socket()
        self.tcp.bind(("127.0.0.1", 0))
        self.tcp.listen(8)
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.unix_path = str(folder / "listener.sock")
        self.unix = socket.socket(socket.AF_UNIX)
        self.unix.bind(self.unix_path)
        os.chmod(self.unix_path, 0o777)
        self.unix.listen(8)
        self.abstract_name = f"ag-sandbox-test-{os.getpid()}"
        self.abstract = socket.socket(socket.AF_UNIX)
        self.abstract.bind("\0" + self.abstract_name)
        self.abstract.listen(8)
        for sock in (self.tcp, self.udp, self.unix, self.abstract):
            sock.setblocking(False)

    @property
    def ports(self) -> list[float]:
        return [float(self.tcp.getsockname()[1]), float(self.udp.getsockname()[1])]

    def received(self) -> list[str]:
        """What reached each listener (and drains it)."""
        got = []
        for name, sock in (("tcp", self.tcp), ("unix", self.unix), ("abstract", self.abstract)):
            try:
                while True:
                    sock.accept()[0].close()
                    got.append(name)
            except BlockingIOError:
                pass
        try:
            while True:
                self.udp.recv(64)
                got.append("udp")
        except BlockingIOError:
            pass
        return got

    def close(self) -> None:
        for sock in (self.tcp, self.udp, self.unix, self.abstract):
            sock.close()


@pytest.fixture
def listeners(shared_dir):
    found = Listeners(shared_dir)
    yield found
    found.close()


def test_the_listeners_are_reachable_from_an_unconfined_process(listeners):
    """The check below could fail: the same attempts from this process reach every listener."""
    scope: dict = {}
    exec(REACH_OUT, scope)  # noqa: S102  (the submission's own code, run here unconfined)
    tcp, udp = (int(port) for port in listeners.ports)
    codes = scope["reach_out"](tcp, udp, listeners.unix_path, listeners.abstract_name)
    assert codes[:4] == [0, 0, 0, 0]
    assert sorted(listeners.received()) == ["abstract", "tcp", "udp", "unix"]


@pytest.mark.parametrize("user", users())
def test_a_worker_opens_no_socket_of_any_family(user, listeners, shared_dir):
    source = shared_dir / f"net-{user}"
    source.mkdir()
    text = SUBMISSION.replace("UNIX, ABSTRACT", f"{listeners.unix_path!r}, {listeners.abstract_name!r}")
    (source / "ex1_softmax.py").write_text(text)
    for path in (source, source / "ex1_softmax.py"):
        path.chmod(path.stat().st_mode | stat.S_IROTH | stat.S_IXOTH)
    codes = grade_one_call(user, source, listeners.ports)
    # TCP, UDP, Unix path, Unix abstract, raw, socketpair: each refused when the socket is made.
    assert codes == [1, 1, 1, 1, 1, 1], codes
    assert listeners.received() == []


# Memory outside the address-space limit (a memory file), and the graders' shared memory cut short under
# their mapping: one code each, 0 done, else the errno; then how many arena descriptors the worker holds.
HOLDS_MEMORY = r"""
import os

import torch


def softmax_with_temperature(logits, temperature=1.0, dim=-1):
    codes = []
    try:
        os.close(os.memfd_create("hoard"))
        codes.append(0)
    except OSError as exc:
        codes.append(exc.errno or -1)
    arena = []
    for entry in os.listdir("/proc/self/fd"):
        try:
            if "autograder-arguments" in os.readlink(f"/proc/self/fd/{entry}"):
                arena.append(int(entry))
        except OSError:
            pass
    for fd in arena[:1]:
        for size in (0, 1 << 30):
            try:
                os.ftruncate(fd, size)
                codes.append(0)
            except OSError as exc:
                codes.append(exc.errno or -1)
    return torch.tensor([*codes, len(arena)])
"""


@pytest.mark.parametrize("user", users())
def test_a_worker_makes_no_memory_file_and_cannot_resize_the_graders_shared_memory(user, shared_dir):
    os.close(os.memfd_create("possible-here"))  # the refusal below is the sandbox's, not the kernel's
    source = shared_dir / f"memory-{user}"
    source.mkdir()
    (source / "ex1_softmax.py").write_text(HOLDS_MEMORY)
    for path in (source, source / "ex1_softmax.py"):
        path.chmod(path.stat().st_mode | stat.S_IROTH | stat.S_IXOTH)
    made, shrunk, grown, held = grade_one_call(user, source, [0.0])
    assert made == errno.EPERM  # memfd_create refused
    assert held >= 1 and shrunk == errno.EPERM  # the worker holds the arena, and its size is sealed
    assert grown in (errno.EPERM, errno.EFBIG)  # sealed (and beyond the worker's file size limit)


# Two submissions graded at once, with processes allowed (grading forbids them: this tests the layer
# under that one): one holds as many children as it can, with a daemon among them; the other starts
# threads. Then the first one's connection is closed.
HOLDER = """
import ctypes, os, time

import torch


def softmax_with_temperature(logits, temperature=1.0, dim=-1):
    made = 0
    for _ in range(64):
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:
            os.setsid()
            if made == 0 and os.fork() != 0:
                os._exit(0)  # the first one's child is a daemon: its parent is gone
            ctypes.CDLL(None).prctl(15, MARKER, 0, 0, 0)
            time.sleep(1000)
            os._exit(0)
        made += 1
    return torch.tensor([made])
"""
THREADS = """
import threading, time

import torch


def softmax_with_temperature(logits, temperature=1.0, dim=-1):
    started = 0
    threads = []
    for _ in range(8):
        thread = threading.Thread(target=time.sleep, args=(0.3,))
        try:
            thread.start()
        except RuntimeError:
            break
        threads.append(thread)
        started += 1
    for thread in threads:
        thread.join()
    return torch.tensor([started])
"""
TWO_SUBMISSIONS = r"""
import json, os, shutil, sys, tempfile, time
from pathlib import Path

import torch

import autograder.sandbox.worker  # noqa: F401
from autograder import grading, sandbox
from autograder.sandbox.limits import Limits
from autograder.grading.staging import stage
from autograder.submission import Submission

marker = sys.argv[3]


def alive() -> int:
    count = 0
    for entry in os.listdir("/proc"):
        try:
            named = open(f"/proc/{entry}/comm").read().strip() == marker
            running = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            continue
        count += named and running
    return count


limits = Limits(call_timeout=20, max_processes=16, allow_processes=True)
connections, folders = [], []
for source in sys.argv[1:3]:
    staged = Path(tempfile.mkdtemp(prefix="ag-test-"))
    folders.append(staged)
    stage(Path(source), staged)
    grading.make_readable(staged)
    connections.append(sandbox.SandboxConnection(staged, limits))
holder, threads = connections
report = {"made": int(Submission(holder).ex1.softmax_with_temperature(torch.zeros(1))[0])}
report["threads"] = int(Submission(threads).ex1.softmax_with_temperature(torch.zeros(1))[0])
report["alive_before"] = alive()
holder.close()
# The kernel kills a PID namespace's processes when its init ends, but their exit is asynchronous: wait
# for it (a generous deadline, not a speed check), then count what is left.
deadline = time.monotonic() + 120
while alive() and time.monotonic() < deadline:
    time.sleep(0.05)
report["alive_after"] = alive()
threads.close()
for folder in folders:
    shutil.rmtree(folder, ignore_errors=True)
print(json.dumps(report))
"""


@pytest.mark.parametrize("user", users())
def test_a_submission_counts_its_own_processes_and_none_outlives_it(user, shared_dir):
    marker = f"agholder{os.getpid() % 100000}"
    sources = []
    for name, text in (("holder", HOLDER.replace("MARKER", repr(marker.encode()))), ("threads", THREADS)):
        folder = shared_dir / f"{name}-{user}"
        folder.mkdir()
        (folder / "ex1_softmax.py").write_text(text)
        for path in (folder, folder / "ex1_softmax.py"):
            path.chmod(path.stat().st_mode | stat.S_IROTH | stat.S_IXOTH)
        sources.append(str(folder))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = as_user(user, [sys.executable, "-c", TWO_SUBMISSIONS, *sources, marker])
    done = subprocess.run(command, check=False, capture_output=True, text=True, env=env, cwd="/", timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert 0 < report["made"] < 16, report  # the holder reached its limit of 16 processes and threads
    assert report["threads"] == 8, report  # which is not its neighbour's
    assert report["alive_before"] >= report["made"] - 1, report  # its processes were there, daemon too
    assert report["alive_after"] == 0, report


STDLIB = """
import torch


def softmax_with_temperature(logits, temperature=1.0, dim=-1):
    import tabnanny  # a module of the standard library the graders' process never imported

    import numpy as np  # default_rng imports the standard library's secrets on first use

    return torch.tensor([float(np.random.default_rng(0).integers(1000)), float(len(tabnanny.__name__))])
"""


@pytest.mark.parametrize("user", users())
def test_a_worker_imports_any_module_of_the_standard_library(user, shared_dir):
    """Python may be installed where the worker's user cannot reach (``/root/.pyenv``, ``0700``)."""
    import numpy as np

    source = shared_dir / f"stdlib-{user}"
    source.mkdir()
    (source / "ex1_softmax.py").write_text(STDLIB)
    for path in (source, source / "ex1_softmax.py"):
        path.chmod(path.stat().st_mode | stat.S_IROTH | stat.S_IXOTH)
    assert grade_one_call(user, source, [0.0]) == [float(np.random.default_rng(0).integers(1000)), 8.0]
