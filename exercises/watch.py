"""Watch mode: ``python -m exercises.watch`` checks your work each time you save a file.

It runs every check once, then stays on the first exercise not yet done: each time a file in
``exercises/`` is saved it runs that exercise's checks again (``pytest exercises -m exN``) and shows your
progress. When the exercise passes it says "ex2 done: on to ex3" and moves on. Keys: ``h`` shows the next
hint for the current exercise, ``q`` quits (Ctrl-C too). When the output is not a terminal (a log, an
editor's panel), it prints plain lines and reads ``h`` or ``q`` followed by Enter.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

EXERCISE_DIR = Path(__file__).resolve().parent
PACKAGE = EXERCISE_DIR.name
SETTLE_SECONDS = 0.3
"""After a save, wait this long for the editor's other writes (temporary file, rename) before checking."""


def _command() -> str:
    return f"python -m {PACKAGE}.watch"


class _OneLineParser(argparse.ArgumentParser):
    """An argument parser whose error is one line naming the problem, no usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    return _OneLineParser(
        prog=_command(),
        description=(
            "Run the checks of the first exercise not yet done, again each time a file in "
            f"{PACKAGE}/ is saved, and move on to the next exercise when it passes."
        ),
        epilog="Keys while it runs: h shows the next hint for the current exercise, q quits.",
    )


def _exercise_ids() -> list[str]:
    from importlib import import_module

    return list(import_module(f"{PACKAGE}.support.progress").EXERCISES)


def _saved_progress() -> dict[str, dict]:
    from importlib import import_module

    return import_module(f"{PACKAGE}.support.progress").read_saved_progress()


def _hints() -> dict[str, tuple[str, ...]]:
    from importlib import import_module

    return import_module(f"{PACKAGE}.hints").HINTS


class Watcher:
    """What watch mode does; ``events`` receives ``("saved", path)`` and ``("key", character)``."""

    def __init__(self, out=None) -> None:
        self.out = out or sys.stdout
        self.terminal = self.out.isatty()
        self.events: queue.Queue[tuple[str, str]] = queue.Queue()
        self.exercises = _exercise_ids()
        self.current: str | None = None
        self.hints_shown: dict[str, int] = {}

    def say(self, line: str = "") -> None:
        self.out.write(line + "\n")
        self.out.flush()

    def run_checks(self, exercise: str | None, banner: str = "") -> None:
        """Run the checks (all of them, or one exercise's), showing pytest's output as it comes."""
        if self.terminal:
            self.out.write("\033[2J\033[H")
        if banner:
            self.say(banner)
        command = [sys.executable, "-m", "pytest", str(EXERCISE_DIR), "-q", "--tb=short"]
        command += ["--color=yes" if self.terminal else "--color=no"]
        if exercise is not None:
            command += ["-m", exercise]
        self.say(f"checking {exercise or 'every exercise'} ...")
        subprocess.run(
            command, cwd=EXERCISE_DIR.parent, check=False, stdout=self.out, stderr=subprocess.STDOUT
        )

    def first_not_done(self) -> str | None:
        saved = _saved_progress()
        for exercise in self.exercises:
            if saved.get(exercise, {}).get("status") != "done":
                return exercise
        return None

    def check_and_move_on(self) -> None:
        self.run_checks(self.current)
        while self.current is not None and self.first_not_done() != self.current:
            finished, self.current = self.current, self.first_not_done()
            if self.current is None:
                self.say(f"{finished} done. All {len(self.exercises)} done!")
                self.say(f"To hand in: python -m {PACKAGE}.handin STUDENT_ID")
                break
            self.run_checks(self.current, banner=f"{finished} done: on to {self.current}")
        self.prompt()

    def prompt(self) -> None:
        where = f"on {self.current}" if self.current else "all done"
        enter = "" if self.terminal else " (then Enter)"
        self.say(f"[watching {PACKAGE}/, {where}] save a file to check again; h: a hint, q: quit{enter}")

    def show_hint(self) -> None:
        exercise = self.current or self.exercises[-1]
        hints = _hints().get(exercise, ())
        if not hints:
            self.say(f"no hints for {exercise}")
            return
        number = min(self.hints_shown.get(exercise, 0) + 1, len(hints))
        self.hints_shown[exercise] = number
        self.say(f"{exercise} hint {number} of {len(hints)}: {hints[number - 1]}")

    def settle(self) -> bool:
        """Wait until the saves stop; True unless a ``q`` came meanwhile."""
        while True:
            try:
                kind, value = self.events.get(timeout=SETTLE_SECONDS)
            except queue.Empty:
                return True
            if kind == "key" and value == "q":
                return False

    def loop(self) -> int:
        self.run_checks(None)
        self.current = self.first_not_done()
        if self.current is None:
            self.say(f"All {len(self.exercises)} done. To hand in: python -m {PACKAGE}.handin STUDENT_ID")
        else:
            self.say(f"Next: {self.current}")
        self.prompt()
        while True:
            kind, value = self.events.get()
            if kind == "key" and value == "q":
                return 0
            if kind == "key" and value == "h":
                self.show_hint()
            elif kind == "saved":
                if not self.settle():
                    return 0
                self.check_and_move_on()


def _is_exercise_source(path: str) -> bool:
    candidate = Path(path)
    return candidate.suffix == ".py" and candidate.parent.resolve() == EXERCISE_DIR


def _watch_files(events: queue.Queue) -> object:
    """Start watchdog's observer on the exercise folder; saved ``*.py`` files go to ``events``."""
    from watchdog.events import FileSystemEventHandler
    from watchdog.observers import Observer

    class Saved(FileSystemEventHandler):
        def on_any_event(self, event) -> None:
            if event.is_directory or event.event_type not in ("modified", "created", "moved", "closed"):
                return
            path = getattr(event, "dest_path", "") or event.src_path
            if _is_exercise_source(os.fsdecode(path)):
                events.put(("saved", os.fsdecode(path)))

    observer = Observer()
    observer.schedule(Saved(), str(EXERCISE_DIR), recursive=False)
    observer.daemon = True
    observer.start()
    return observer


@contextlib.contextmanager
def _single_keys(stream) -> Iterator[bool]:
    """Read single key presses from a terminal (no Enter needed); yields whether that is in effect."""
    try:
        import termios
        import tty
    except ImportError:
        yield False
        return
    if not stream.isatty():
        yield False
        return
    descriptor = stream.fileno()
    saved = termios.tcgetattr(descriptor)
    tty.setcbreak(descriptor)
    try:
        yield True
    finally:
        termios.tcsetattr(descriptor, termios.TCSADRAIN, saved)


def _read_keys(stream, events: queue.Queue, single_keys: bool) -> None:
    while True:
        text = stream.read(1) if single_keys else stream.readline()
        if not text:
            return
        key = text.strip().lower()[:1]
        if key:
            events.put(("key", key))


def main(argv: list[str] | None = None) -> int:
    """Watch the exercises until ``q``; return the exit status.

    Args:
        argv: the arguments after the program name; None reads ``sys.argv``.

    Returns:
        0 when the learner quits, 2 for a mistyped argument, 1 when the file watcher is missing.
    """
    try:
        _parser().parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as stop:
        return int(stop.code or 0)
    try:
        import watchdog  # noqa: F401
    except ImportError:
        print(f"{_command()}: needs the watchdog package: pip install watchdog", file=sys.stderr)
        return 1
    watcher = Watcher()
    observer = _watch_files(watcher.events)
    try:
        with _single_keys(sys.stdin) as single_keys:
            threading.Thread(
                target=_read_keys, args=(sys.stdin, watcher.events, single_keys), daemon=True
            ).start()
            return watcher.loop()
    except KeyboardInterrupt:
        return 0
    finally:
        observer.stop()


if __name__ == "__main__":
    sys.exit(main())
