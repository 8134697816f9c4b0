"""Helpers of ex5's grader (``test_ex5_params.py``): the models, the calls and the expected counts.

The checks, their fixtures and the inputs built ahead (``warm_up``) stay in the grader.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from autograder.graders import zoo
from autograder.graders.support import (
    describe_call,
    expect_exact_type,
    fail,
    given_model_module,
    shared_input,
)
from autograder.wire import values as protocol
from solutions.support.diagnosis import (
    breakdown_mistakes,
    count_mistakes,
    diagnose,
    explain,
    formula_mistakes,
)

COUNT = "count_parameters"
BREAKDOWN = "parameter_breakdown"
FORMULA = "bert_parameter_count"
BERT_BASE = 109_482_240
BERT_BASE_NO_POOLER = 108_891_648
BERT_BASE_MLM = 109_514_298
BERT_BASE_MLM_DOUBLE = 132_985_716
DISTILBERT = 66_362_880


@shared_input
def shared_bert_base(masked_lm: bool, use: str) -> nn.Module:
    """One copy per ``use``: a worker may take each shared model as its own copy once (see protocol)."""
    return bert_base(masked_lm=masked_lm)


@shared_input
def bert_base_with_frozen_embeddings() -> nn.Module:
    model = bert_base()
    model.embeddings.requires_grad_(False)
    return model


def outcome(result):
    """The value of a shared call, or its failure raised again in this check."""
    if isinstance(result, BaseException):
        raise result
    return result


def on_meta(build):
    with protocol.random_init_skipped(), torch.device("meta"):
        return build()


def bert_base(*, masked_lm: bool = False, **fields) -> nn.Module:
    given = given_model_module()
    config = given.BertConfig(**fields)
    return on_meta(lambda: (given.BertForMaskedLM if masked_lm else given.BertModel)(config))


def true_count(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def count(count_parameters, model: nn.Module, **kwargs) -> tuple[int, str]:
    call = describe_call(COUNT, model, **kwargs)
    value = count_parameters(model, **kwargs)
    expect_exact_type(value, int, call=call)
    return value, call


def buffer_counts(model: nn.Module) -> set[int]:
    """What counting buffers adds to ``model``'s count: every buffer's elements, or the persistent ones
    (``state_dict()``'s), when it has any."""
    parameters = {name for name, _ in model.named_parameters(remove_duplicate=False)}
    every = sum(buffer.numel() for buffer in model.buffers())
    persistent = sum(
        t.numel() for name, t in model.state_dict(keep_vars=True).items() if name not in parameters
    )
    return {count for count in (every, persistent) if count}


def mismatch(
    call: str,
    value: int,
    expected: int,
    hint: str | Callable[[], str],
    *,
    buffers_of: nn.Module | None = None,
) -> None:
    """Fail unless ``value == expected``; ``hint`` (or what it returns, asked only then) ends the message.
    With ``buffers_of``, a count that is right but for ``buffers_of``'s buffers passes too: that slip is
    charged by the check about buffers alone."""
    if buffers_of is not None and value - expected in buffer_counts(buffers_of):
        return
    if value != expected:
        named = hint() if callable(hint) else hint
        fail(
            f"Called {call} and got {value:,}; expected {expected:,} "
            f"(off by {value - expected:+,}). {named}".strip()
        )


def count_slip(
    value: Any, model: nn.Module, before: str = "", *, trainable_only: bool = False
) -> Callable[[], str]:
    """The sentence naming the slip ``value`` matches for ``count_parameters(model, trainable_only)``
    (else the contract's), after ``before``: worked out only when a check fails."""

    def sentence() -> str:
        slip = explain(value, count_mistakes(model, trainable_only), "ex5.count")
        return f"{before} {slip}" if before else slip

    return sentence


def breakdown(parameter_breakdown, model: nn.Module) -> tuple[dict[str, int], str]:
    call = describe_call(BREAKDOWN, model)
    value = parameter_breakdown(model)
    expect_exact_type(value, dict, call=call)
    for key, entry in value.items():
        expect_exact_type(entry, int, call=call, what=f"the entry {key!r}")
    return value, call


def check_breakdown(
    call: str, value: dict[str, int], expected: dict[str, int], total: int, model: nn.Module
) -> None:
    """Keys: every top-level child (one without parameters with 0), in order, and "" only when needed."""
    if value != expected:
        slip = diagnose(value, breakdown_mistakes(model), expected=expected)
        if slip:
            fail(f"Called {call} and got {value}; expected {expected}. {slip}")
    unknown = sorted(set(value) - set(expected))
    if unknown == [""]:
        fail(
            f'Called {call} and got the key "" ({value[""]:,}), but this model holds no parameter of its '
            'own: the key "" is there only when model.parameters(recurse=False) holds some no child holds.'
        )
    if unknown:
        nested = [key for key in unknown if "." in key]
        hint = (
            " Group by top-level child (model.named_children()), not by parameter or nested module name."
            if nested or len(unknown) > 3
            else ""
        )
        fail(f"Called {call} and got keys {unknown[:4]} that are not top-level children of the model.{hint}")
    missing = sorted(set(expected) - set(value))
    if missing:
        hint = (
            ' Parameters the model holds itself (not in a child) go under the key "".'
            if "" in missing
            else ""
        )
        if all(expected[key] == 0 for key in missing):
            hint = " Every top-level child has a key, even one without parameters (with 0)."
        fail(f"Called {call} and the keys {missing} are missing; expected {sorted(expected)}.{hint}")
    for key, number in value.items():
        if number != expected[key]:
            hint = ""
            if number > expected[key]:
                hint = (
                    " A shared parameter counts once, under the first child (in named_children() order) "
                    "that holds it; later children skip it."
                )
            fail(f"Called {call} and got {key!r}: {number:,}; expected {expected[key]:,}.{hint}")
    if [key for key in value if key] != [key for key in expected if key]:
        fail(
            f"Called {call} and got the keys in the order {list(value)}; expected the order of "
            f"model.named_children(): {list(expected)}."
        )
    if sum(value.values()) != total:
        fail(f"Called {call} and the values sum to {sum(value.values()):,}; expected the total {total:,}.")


def config_argument(**fields):
    """A BERT configuration the protocol can send: the given ``BertConfig`` when it may cross, else a
    :class:`zoo.BertShape` with the same fields (read by name, as a configuration's)."""
    given = given_model_module()
    config = given.BertConfig(**fields)
    try:
        protocol.encode(config)
    except protocol.UnsafeResult:
        return zoo.BertShape(**fields)
    return config


def formula(bert_parameter_count, **fields) -> tuple[int, str, str]:
    """``bert_parameter_count`` of a config with these fields: (value, call text, the slip it matches)."""
    shown = ", ".join(f"{name}={value}" for name, value in fields.items())
    call = f"{FORMULA}(BertConfig({shown}))"
    config = config_argument(**fields)
    value = bert_parameter_count(config)
    expect_exact_type(value, int, call=call)
    return value, call, explain(value, formula_mistakes(config), "ex5.formula")


def random_configs(count: int = 25, seed: int = 2019) -> list[dict]:
    rng = random.Random(seed)
    configs = []
    for index in range(count):
        heads = rng.randint(1, 6)
        configs.append(
            {
                "vocab_size": rng.randint(1, 5000),
                "hidden_size": heads * rng.randint(1, 12),
                "num_hidden_layers": rng.randint(0, 3),  # each layer adds the same: three tell L from L^2
                "num_attention_heads": heads,
                "intermediate_size": rng.randint(1, 300),
                "max_position_embeddings": rng.randint(1, 600),
                "type_vocab_size": (0, 1, 2, 3)[index % 4],
                "use_pooler": index % 3 != 0,
            }
        )
    return configs


@shared_input
def count_of_config(fields: dict) -> int:
    """``count_parameters`` of the given ``BertModel`` for ``fields``, counted on a real model."""
    given = given_model_module()
    with protocol.random_init_skipped():  # small: quicker on the CPU than on meta; counted, not run
        return true_count(given.BertModel(given.BertConfig(**fields)))


@shared_input
def hf_model(masked_lm: bool) -> nn.Module:
    """A small ``transformers`` BERT (the MLM one has its decoder tied to the word embeddings)."""
    import transformers

    config = transformers.BertConfig(
        vocab_size=120, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=24
    )
    with protocol.random_init_skipped():
        return (transformers.BertForMaskedLM if masked_lm else transformers.BertModel)(config)
