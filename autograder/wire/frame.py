"""The message format: a JSON head describing a tree, then the raw bytes of its tensors, checked on reading.

A payload is an 8-byte big-endian length of the head, the head (JSON: ``None``, ``bool``, ``int``, ``str``,
finite floats, and lists tagged ``["L", [...]]``, ``["D", {...}]``, ``["F", "nan"]`` and
``["T", dtype, shape, start, size]``), then the body: the tensors' bytes. On the pipe each payload is
preceded by its own 8-byte length.

:func:`loads` trusts nothing it reads. Every limit is checked before anything is allocated for it:

- the payload is at most :data:`MAX_MESSAGE_BYTES`, the head at most :data:`MAX_HEAD_BYTES`, the tree at
  most :data:`MAX_DEPTH` deep;
- tensor entries cover the body exactly once, in order: each starts where the one before ended and the
  last ends where the body ends (no overlap, no gap, no byte left over), so the tensors a message
  decodes to hold no more bytes than the message itself;
- a tensor has one of :data:`DTYPES`, at most :data:`MAX_DIMS` dimensions of at most :data:`MAX_DIM`
  each, and exactly as many bytes as its shape and dtype say.

Anything else is a :class:`~autograder.wire.errors.ProtocolError`, never another exception.

:func:`dumps` is made by :func:`make_writer`, which binds every function it uses (``json``'s C encoder,
``torch``'s C tensor methods, the builtins) when it is called: a worker makes its own before the
submission is imported, so rebinding a module's attribute afterwards does not change what it writes.
"""

from __future__ import annotations

import json
import math
import os
import re
import select
import struct
import time
from collections.abc import Callable
from typing import Any

import torch

from autograder.wire.errors import ProtocolError, UnsafeResult

MAX_MESSAGE_BYTES = 512 * 1024 * 1024
MAX_HEAD_BYTES = 8 * 1024 * 1024
MAX_DEPTH = 100
MAX_DIMS = 16
MAX_DIM = 2**31
DTYPES: dict[str, torch.dtype] = {
    str(dtype): dtype
    for dtype in (
        torch.bool,
        torch.uint8,
        torch.int8,
        torch.int16,
        torch.int32,
        torch.int64,
        torch.float16,
        torch.bfloat16,
        torch.float32,
        torch.float64,
        torch.complex64,
        torch.complex128,
    )
}
ITEM_SIZES: dict[torch.dtype, int] = {
    dtype: torch.empty((), dtype=dtype).element_size() for dtype in DTYPES.values()
}
_HEADER = struct.Struct(">Q")


def dtype_named(name: Any) -> torch.dtype:
    """The dtype called ``name`` (``"torch.float32"`` or ``"float32"``), if it may cross."""
    if type(name) is not str:
        raise ProtocolError("a dtype that is not a name")
    dtype = DTYPES.get(name if name.startswith("torch.") else f"torch.{name}")
    if dtype is None:
        raise ProtocolError(f"a dtype that may not cross: {name[:40]!r}")
    return dtype


def checked_shape(shape: Any) -> list[int]:
    """``shape`` as a list of ints, if it is one within :data:`MAX_DIMS` and :data:`MAX_DIM`."""
    if type(shape) is not list or len(shape) > MAX_DIMS:
        raise ProtocolError(f"a tensor shape that is not a list of at most {MAX_DIMS} sizes")
    for size in shape:
        if type(size) is not int or not 0 <= size <= MAX_DIM:
            raise ProtocolError(f"a tensor shape with a size that is not an int in [0, {MAX_DIM}]")
    return shape


# --------------------------------------------------------------------------------------------------
# Writing.


def make_writer() -> Callable[..., bytes]:
    """A :func:`dumps` whose every helper is bound now (see the module's docstring)."""
    make_encoder = getattr(json.encoder, "c_make_encoder", None)
    encode_string = getattr(json.encoder, "c_encode_basestring_ascii", None)
    if make_encoder is None or encode_string is None:  # pure-Python json: bind its encoder object instead
        encode_json = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode

        def write_json(tree: Any) -> str:
            return encode_json(tree)

    else:

        def refuse(value: Any) -> Any:
            raise TypeError(f"{type(value).__name__} in a message head")

        encoder = make_encoder({}, refuse, encode_string, None, ":", ",", False, False, False)
        join = "".join

        def write_json(tree: Any) -> str:
            return join(encoder(tree, 0))

    tensor_type, size_type, float_type, list_type, dict_type = torch.Tensor, torch.Size, float, list, dict
    plain = (bool, int, str)
    strided = torch.strided
    base = torch._C.TensorBase
    layout_of = base.__dict__["layout"].__get__
    device_of = base.__dict__["device"].__get__
    dtype_of = base.__dict__["dtype"].__get__
    shape_of = base.__dict__["shape"].__get__
    detach, contiguous, reshape, view, to_numpy, numel = (
        base.detach,
        base.contiguous,
        base.reshape,
        base.view,
        base.numpy,
        base.numel,
    )
    uint8 = torch.uint8
    isfinite, kind, length, to_str, to_list, pack = math.isfinite, type, len, str, list, _HEADER.pack
    join_bytes = b"".join
    every, to_int, show = all, int, repr

    def tensor_bytes(tensor: torch.Tensor) -> bytes:
        flat = reshape(contiguous(detach(tensor)), (-1,))
        return to_numpy(view(flat, uint8)).tobytes() if numel(flat) else b""

    def dumps(tree: Any, *, known: Callable[[torch.Tensor], bytes | None] | None = None) -> bytes:
        """Write a tree of None, bool, int, float, str, lists, str-keyed dicts and strided CPU tensors.

        ``known(tensor)`` may give a tensor's bytes made earlier (the graders' ready-made encodings).

        Raises:
            UnsafeResult: for anything else in the tree (a tensor subclass, a sparse or meta tensor, a
                dict key that is not a str, an object).
        """
        blobs: list[bytes] = []
        offset = [0]

        def walk(node: Any, depth: int) -> Any:
            if depth > MAX_DEPTH:
                raise UnsafeResult(f"a value nested more than {MAX_DEPTH} deep", type_name="list")
            t = kind(node)
            if node is None or t in plain:
                return node
            if t is float_type:
                return node if isfinite(node) else ["F", show(node)]
            if t is list_type:
                return ["L", [walk(x, depth + 1) for x in node]]
            if t is dict_type:
                if not every(kind(k) is str for k in node):
                    raise UnsafeResult("a dict whose keys are not all str", type_name="dict")
                return ["D", {k: walk(v, depth + 1) for k, v in node.items()}]
            if t is tensor_type:
                device = device_of(node)
                if layout_of(node) is not strided or device.type != "cpu":
                    raise UnsafeResult(f"a {layout_of(node)} tensor on {device}", type_name="torch.Tensor")
                ready = known(node) if known is not None else None
                data = ready if ready is not None else tensor_bytes(node)
                entry = ["T", to_str(dtype_of(node)), to_list(shape_of(node)), offset[0], length(data)]
                blobs.append(data)
                offset[0] += length(data)
                return entry
            if t is size_type:
                return ["L", [to_int(x) for x in node]]
            name = t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"
            raise UnsafeResult(f"a value of type {name}", type_name=name)

        try:
            head = write_json(walk(tree, 0)).encode()
        except (TypeError, ValueError) as exc:
            raise UnsafeResult(f"a value that cannot be written ({exc})") from None
        return join_bytes([pack(length(head)), head, *blobs])

    dumps.tensor_bytes = tensor_bytes  # type: ignore[attr-defined]
    return dumps


dumps = make_writer()
tensor_bytes: Callable[[torch.Tensor], bytes] = dumps.tensor_bytes  # type: ignore[attr-defined]


# --------------------------------------------------------------------------------------------------
# Reading.


def loads(payload: bytes | bytearray | memoryview) -> Any:
    """Read what :func:`dumps` wrote; anything else is a :class:`ProtocolError` (see the module's docs)."""
    if type(payload) not in (bytes, bytearray, memoryview):
        raise ProtocolError("a message that is not bytes")
    total = len(payload)
    if total > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"a message of {total} bytes, more than the limit of {MAX_MESSAGE_BYTES}")
    if total < _HEADER.size:
        raise ProtocolError("a message shorter than its header")
    (head_length,) = _HEADER.unpack_from(payload)
    if head_length > total - _HEADER.size:
        raise ProtocolError("a message whose head is longer than the message")
    if head_length > MAX_HEAD_BYTES:
        raise ProtocolError(f"a message head of {head_length} bytes, more than the limit of {MAX_HEAD_BYTES}")
    raw = bytes(payload[_HEADER.size : _HEADER.size + head_length])
    try:
        head = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise ProtocolError(f"a message head that is not JSON ({type(exc).__name__})") from None
    if _SURROGATE_ESCAPE.search(raw):
        head = _without_lone_surrogates(head, 0)
    reader = _Reader(memoryview(payload)[_HEADER.size + head_length :])
    tree = reader.rebuild(head, 0)
    if reader.cursor != len(reader.body):
        raise ProtocolError(f"{len(reader.body) - reader.cursor} bytes after the message's last tensor")
    return tree


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89abcdefABCDEF]")


def _without_lone_surrogates(node: Any, depth: int) -> Any:
    """``node`` with each lone surrogate in its strings (JSON can write ``"\\udcff"``, which no file,
    terminal or UTF-8 encoder takes) replaced by U+FFFD; pairs were joined by the JSON reader."""
    if depth > MAX_DEPTH:
        raise ProtocolError(f"a message nested more than {MAX_DEPTH} deep")
    if type(node) is str:
        return node.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    if type(node) is list:
        return [_without_lone_surrogates(item, depth + 1) for item in node]
    if type(node) is dict:
        return {
            _without_lone_surrogates(k, depth + 1): _without_lone_surrogates(v, depth + 1)
            for k, v in node.items()
        }
    return node


class _Reader:
    """Rebuilds a head's tree, handing out the body's bytes in order."""

    def __init__(self, body: memoryview):
        self.body = body
        self.cursor = 0

    def rebuild(self, node: Any, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise ProtocolError(f"a message nested more than {MAX_DEPTH} deep")
        t = type(node)
        if node is None or t in (bool, int, str):
            return node
        if t is float:
            if not math.isfinite(node):
                raise ProtocolError("a non-finite float written as a plain number")
            return node
        if t is not list or len(node) < 2 or type(node[0]) is not str:
            raise ProtocolError(f"unexpected {t.__name__} in a message")
        tag = node[0]
        if tag == "L" and len(node) == 2 and type(node[1]) is list:
            return [self.rebuild(x, depth + 1) for x in node[1]]
        if tag == "D" and len(node) == 2 and type(node[1]) is dict:
            return {k: self.rebuild(v, depth + 1) for k, v in node[1].items()}
        if tag == "F" and len(node) == 2 and node[1] in ("nan", "inf", "-inf"):
            return float(node[1])
        if tag == "T" and len(node) == 5:
            return self._tensor(*node[1:])
        raise ProtocolError(f"unknown entry {str(tag)[:20]!r} in a message")

    def _tensor(self, dtype_name: Any, shape: Any, start: Any, size: Any) -> torch.Tensor:
        dtype = dtype_named(dtype_name)
        shape = checked_shape(shape)
        if type(start) is not int or type(size) is not int:
            raise ProtocolError("a tensor whose byte range is not two ints")
        if start != self.cursor:
            raise ProtocolError(
                "a tensor whose bytes do not start where the previous tensor's ended "
                f"(at {start}, expected {self.cursor}): entries must cover the body once, in order"
            )
        if size < 0 or size > len(self.body) - start:
            raise ProtocolError("a tensor whose bytes lie outside the message")
        if math.prod(shape) * ITEM_SIZES[dtype] != size:
            raise ProtocolError("a tensor whose shape and dtype do not match its bytes")
        self.cursor = start + size
        if size == 0:
            return torch.empty(shape, dtype=dtype)
        raw = torch.frombuffer(bytearray(self.body[start : start + size]), dtype=torch.uint8)
        return raw.view(dtype).reshape(shape)


# --------------------------------------------------------------------------------------------------
# Framing over file descriptors.


def send_message(fd: int, payload: bytes) -> None:
    data = _HEADER.pack(len(payload)) + payload
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


_LAST_DEADLINE: list[float | None] = [None]


def last_deadline() -> float | None:
    """The deadline of the last :func:`recv_message` in this process since :func:`forget_deadline`:
    the call's, for whoever decodes the reply after it (decoding counts within the same deadline)."""
    return _LAST_DEADLINE[0]


def forget_deadline() -> None:
    _LAST_DEADLINE[0] = None


def recv_message(fd: int, deadline: float | None = None) -> bytes:
    """Read one message. Raises ``TimeoutError`` past ``deadline``, ``EOFError`` on a closed pipe and
    :class:`ProtocolError` for a length over :data:`MAX_MESSAGE_BYTES` (before reading any of it)."""
    _LAST_DEADLINE[0] = deadline
    header = _read_exact(fd, _HEADER.size, deadline)
    (length,) = _HEADER.unpack(header)
    if length > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"a message of {length} bytes, more than the limit of {MAX_MESSAGE_BYTES}")
    return _read_exact(fd, length, deadline)


def _read_exact(fd: int, n: int, deadline: float | None) -> bytes:
    chunks: list[bytes] = []
    remaining = n
    while remaining:
        if deadline is not None:
            wait = deadline - time.monotonic()
            if wait <= 0:
                raise TimeoutError
            ready, _, _ = select.select([fd], [], [], wait)
            if not ready:
                raise TimeoutError
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def grading_memory_limit_bytes(vm_size: int) -> int:
    """The address space a grading process may reach: what it has (``vm_size``) plus room for two of the
    largest messages (one being read, one decoded) and a gigabyte for the graders' own work."""
    return vm_size + 2 * MAX_MESSAGE_BYTES + 1024 * 1024 * 1024
