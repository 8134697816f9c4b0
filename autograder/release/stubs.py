"""Stubs from solution markers: each ``# BEGIN SOLUTION: <todo>`` ... ``# END SOLUTION`` region of a
solution module becomes ``# TODO(exN): <todo>`` and a ``raise NotImplementedError("exN: implement <name>")``.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from dataclasses import dataclass
from pathlib import Path

from solutions.support.stub_message import stub_message

_EXERCISE_FILE = re.compile(r"^(ex\d+)_\w*\.py$")
_BEGIN = re.compile(r"^#\s*BEGIN SOLUTION\b\s*:?\s*(?P<todo>.*?)\s*$")
_END = re.compile(r"^#\s*END SOLUTION\s*$")
_PLACEHOLDER = "@@solution-region-{}@@"


class StubError(ValueError):
    """Malformed solution markers, or a solution file that does not give a valid stub."""


@dataclass(frozen=True)
class Region:
    """One solution region: the lines of its two markers (1-based), their indentation, the TODO text."""

    begin: int
    end: int
    indent: str
    todo: str


def exercise_id_for(filename: str) -> str | None:
    """``"ex3"`` for ``ex3_layers.py``; None for a file that is not an exercise module."""
    match = _EXERCISE_FILE.match(Path(filename).name)
    return match.group(1) if match else None


def find_regions(source: str, filename: str = "<source>") -> list[Region]:
    """The solution regions of ``source``, in order.

    Markers are recognised in real comments only (a docstring that mentions them is left alone).

    Raises:
        StubError: the source is not valid Python, or a marker is malformed, unclosed, nested, shares a
            line with code, or ``END SOLUTION`` is indented differently from its ``BEGIN SOLUTION``.
    """
    try:
        ast.parse(source, filename=filename)
    except SyntaxError as exc:
        raise StubError(f"{filename}:{exc.lineno}: not valid Python ({exc.msg})") from None
    lines = source.splitlines()
    regions: list[Region] = []
    opened: tuple[int, int, str] | None = None
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type != tokenize.COMMENT:
            continue
        text = token.string
        is_begin = "BEGIN SOLUTION" in text
        is_end = "END SOLUTION" in text
        if not (is_begin or is_end):
            continue
        row, col = token.start
        where = f"{filename}:{row}"
        if lines[row - 1][:col].strip():
            raise StubError(f"{where}: a solution marker must be on a line of its own")
        if is_begin:
            match = _BEGIN.match(text)
            if opened is not None:
                raise StubError(
                    f"{where}: BEGIN SOLUTION inside the region opened at line {opened[0]}; "
                    "regions cannot nest (close it with # END SOLUTION first)"
                )
            if match is None or not match.group("todo"):
                raise StubError(
                    f"{where}: BEGIN SOLUTION needs the learner's TODO text: "
                    "'# BEGIN SOLUTION: <what to implement>'"
                )
            opened = (row, col, match.group("todo"))
        else:
            if not _END.match(text):
                raise StubError(f"{where}: write the end marker exactly as '# END SOLUTION'")
            if opened is None:
                raise StubError(f"{where}: END SOLUTION without a BEGIN SOLUTION before it")
            begin_row, begin_col, todo = opened
            if col != begin_col:
                raise StubError(
                    f"{where}: END SOLUTION is indented differently from its BEGIN SOLUTION "
                    f"(line {begin_row})"
                )
            regions.append(Region(begin_row, row, lines[begin_row - 1][:begin_col], todo))
            opened = None
    if opened is not None:
        raise StubError(f"{filename}:{opened[0]}: BEGIN SOLUTION without its END SOLUTION")
    return regions


def _enclosing_names(tree: ast.AST, raise_lines: set[int]) -> dict[int, tuple[ast.AST, str] | None]:
    """For each line holding a stub's ``raise``: its innermost function and the name the stub reports."""
    found: dict[int, tuple[ast.AST, str] | None] = {}

    def visit(node: ast.AST, scopes: list[ast.AST]) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Raise) and child.lineno in raise_lines:
                found[child.lineno] = _function_and_name(scopes)
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                visit(child, [*scopes, child])
            else:
                visit(child, scopes)

    visit(tree, [])
    return found


def _function_and_name(scopes: list[ast.AST]) -> tuple[ast.AST, str] | None:
    functions = [
        (i, scope)
        for i, scope in enumerate(scopes)
        if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef))
    ]
    if not functions:
        return None
    innermost, function = functions[-1]
    classes: list[str] = []
    for scope in reversed(scopes[:innermost]):
        if not isinstance(scope, ast.ClassDef):
            break
        classes.insert(0, scope.name)
    if classes and function.name == "__init__":
        return function, ".".join(classes)
    return function, ".".join([*classes, function.name])


def make_stub(source: str, exercise_id: str, *, filename: str = "<source>") -> str:
    """The learner's stub of a solution module: each solution region becomes a TODO and a raise.

    Args:
        source: the solution module's text.
        exercise_id: ``"ex1"`` ... ``"ex5"``, used in the TODO and the exception message.
        filename: named in error messages.

    Returns:
        The stub's text (the source unchanged when it has no markers).

    Raises:
        StubError: malformed markers (see :func:`find_regions`), a region outside a function, two regions
            in one function, or a stub that would not be valid Python.
    """
    regions = find_regions(source, filename)
    if not regions:
        return source
    lines = source.splitlines(keepends=True)
    stub_lines: list[str] = []
    raise_line_to_region: dict[int, int] = {}
    position = 0
    for index, region in enumerate(regions):
        stub_lines.extend(lines[position : region.begin - 1])
        stub_lines.append(f"{region.indent}# TODO({exercise_id}): {region.todo}\n")
        message = stub_message(exercise_id, _PLACEHOLDER.format(index))
        stub_lines.append(f'{region.indent}raise NotImplementedError("{message}")\n')
        raise_line_to_region[len(stub_lines)] = index
        position = region.end
    stub_lines.extend(lines[position:])
    stub = "".join(stub_lines)

    try:
        tree = ast.parse(stub, filename=filename)
    except SyntaxError as exc:
        raise StubError(
            f"{filename}: replacing the solution regions gives invalid Python at stub line {exc.lineno} "
            f"({exc.msg}); is each region exactly a function's body, at the body's indentation?"
        ) from None
    enclosing = _enclosing_names(tree, set(raise_line_to_region))
    used: dict[int, int] = {}
    for stub_line, index in raise_line_to_region.items():
        region = regions[index]
        found = enclosing.get(stub_line)
        if found is None:
            raise StubError(
                f"{filename}:{region.begin}: BEGIN SOLUTION outside a function; a solution region must be "
                "(part of) a function's body"
            )
        function, name = found
        if id(function) in used:
            raise StubError(
                f"{filename}:{region.begin}: a second solution region in {name} (the first begins at line "
                f"{used[id(function)]}); use one region per function"
            )
        used[id(function)] = region.begin
        stub = stub.replace(_PLACEHOLDER.format(index), name, 1)
    return stub
