"""ex5: counting parameters (my submission)."""

from __future__ import annotations

from typing import Any

from torch import nn


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    return 0


def parameter_breakdown(model: nn.Module) -> dict[str, int]:
    return {}


def bert_parameter_count(config: Any) -> int:
    return 0
