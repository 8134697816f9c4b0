"""Ready-made encodings of the graders' shared inputs, kept by one owner per process.

The graders build their large inputs (teachers, batches) once and send them in many messages; each is
encoded once (the tree, and the bytes of its tensors: snapshots that only this cache holds) and reused
while its tensors are unchanged. For the graders' side only: a worker turns the cache off
(:meth:`PreparedEncodings.disable` through ``values.forget_prepared``), because there the submission's
code may have changed an input in ways the fingerprint does not show. The entries stay in memory when
turned off: freeing them would copy the pages a forked worker shares with the graders' process.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn


def fingerprint(obj: nn.Module | torch.Tensor) -> tuple:
    """What an in-place change, ``train()``/``eval()`` or ``requires_grad_()`` would change."""
    tensors = [obj] if isinstance(obj, torch.Tensor) else [*obj.parameters(), *obj.buffers()]
    flags = obj.training if isinstance(obj, nn.Module) else None
    return (flags, *((t, t._version, t.requires_grad) for t in tensors))


class PreparedEncodings:
    """The ready-made encodings of this process, by object; ``enabled`` says whether they are used."""

    def __init__(self) -> None:
        self.entries: dict[int, tuple[Any, tuple, Any]] = {}
        self.raw: dict[int, tuple[torch.Tensor, bytes]] = {}
        self.enabled = True

    def get(self, obj: Any) -> Any:
        """The ready-made encoding of ``obj``, if it has one and is as it was when it was made."""
        entry = self.entries.get(id(obj)) if self.enabled else None
        if entry is None or entry[0] is not obj:
            return None
        made = entry[1]
        training = obj.training if isinstance(obj, nn.Module) else None
        if made[0] != training or any(t._version != v or t.requires_grad != g for t, v, g in made[1:]):
            return None
        return entry[2]

    def put(self, obj: Any, tree: Any, tensor_bytes: Iterable[tuple[torch.Tensor, bytes]]) -> None:
        """Keep ``tree`` as ``obj``'s encoding, with the bytes of the tensors in it."""
        for tensor, data in tensor_bytes:
            self.raw[id(tensor)] = (tensor, data)
        self.entries[id(obj)] = (obj, fingerprint(obj), tree)

    def forget(self, obj: Any) -> None:
        self.entries.pop(id(obj), None)

    def known_bytes(self, tensor: torch.Tensor) -> bytes | None:
        """The bytes kept for ``tensor`` (one of a ready-made tree's), or None."""
        raw = self.raw.get(id(tensor))
        return raw[1] if raw is not None and raw[0] is tensor else None


PREPARED = PreparedEncodings()
"""This process's ready-made encodings."""
