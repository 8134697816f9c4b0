"""Hidden checks for ex5: ``count_parameters``, ``parameter_breakdown`` and ``bert_parameter_count``.

BERT-sized models are built on the meta device (shapes, no memory); the small models of
:mod:`autograder.graders.zoo` each expose one mistake (a tied weight, a large buffer, frozen parts).
Expected counts come from counting ``model.parameters()`` in this process, and from the facts
109,482,240 (BERT-base), 109,514,298 (BERT-base MLM) and 66,362,880 (DistilBERT's shape).
"""

from __future__ import annotations

import random

import pytest
import torch
from torch import nn

from autograder import protocol
from autograder.graders import zoo
from autograder.graders.support import (
    describe_call,
    expect_exact_type,
    fail,
    given_model_module,
    shared_input,
    warm_up,
)
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


@pytest.fixture(scope="module")
def count_parameters(submission):
    return submission.ex5.count_parameters


@pytest.fixture(scope="module")
def parameter_breakdown(submission):
    return submission.ex5.parameter_breakdown


@pytest.fixture(scope="module")
def bert_parameter_count(submission):
    return submission.ex5.bert_parameter_count


@pytest.fixture(scope="module")
def bert_models() -> dict[str, nn.Module]:
    """BERT-base and BERT-base with the MLM head, on meta, built once: no check may modify them."""
    return {
        "base": shared_bert_base(False, "count"),
        "mlm": shared_bert_base(True, "count"),
        "base for breakdown": shared_bert_base(False, "breakdown"),
        "mlm for breakdown": shared_bert_base(True, "breakdown"),
    }


@shared_input
def shared_bert_base(masked_lm: bool, use: str) -> nn.Module:
    """One copy per ``use``: a worker may take each shared model as its own copy once (see protocol)."""
    return bert_base(masked_lm=masked_lm)


@shared_input
def bert_base_with_frozen_embeddings() -> nn.Module:
    model = bert_base()
    model.embeddings.requires_grad_(False)
    return model


@pytest.fixture(scope="module")
def base_count(count_parameters, bert_models):
    """``count_parameters(BERT-base)``, called once for the checks that look at it (or what it raised)."""
    try:
        return count(count_parameters, bert_models["base"])
    except (AssertionError, protocol.SubmissionError) as exc:
        return exc


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


def _mismatch(call: str, value: int, expected: int, hint: str) -> None:
    if value != expected:
        fail(
            f"Called {call} and got {value:,}; expected {expected:,} "
            f"(off by {value - expected:+,}). {hint}".strip()
        )


@pytest.mark.points(3)
def test_count_parameters_counts_shared_parameters_once(count_parameters, bert_models, base_count):
    tied = zoo.TiedLanguageModel(vocab_size=500, hidden_size=24)
    value, call = count(count_parameters, tied)
    _mismatch(call, value, tied.expected_count(), explain(value, count_mistakes(tied), "ex5.count"))

    model = bert_models["base"]
    value, call = outcome(base_count)
    hint = explain(value, count_mistakes(model), "ex5.count")
    _mismatch(call, value, BERT_BASE, f"BERT-base has 109,482,240 parameters. {hint}")

    value, call = count(count_parameters, bert_models["mlm"])
    hint = explain(value, count_mistakes(bert_models["mlm"]), "ex5.count")
    if value == BERT_BASE_MLM_DOUBLE:
        hint = (
            "132,985,716 is the classic mistake: the MLM decoder's weight is the word-embedding matrix "
            "(30,522 x 768) and its bias is the head's bias; both were counted twice. " + hint
        )
    _mismatch(call, value, BERT_BASE_MLM, hint)


@pytest.mark.points(2)
def test_count_parameters_ignores_buffers(count_parameters, bert_models, base_count):
    buffered = zoo.BufferedEncoder(size=16, buffer_size=100_000)
    value, call = count(count_parameters, buffered)
    hint = explain(value, count_mistakes(buffered), "ex5.count")
    if value == buffered.expected_count() + 100_000:
        hint = (
            "That includes the model's persistent buffer (a 100,000-entry table that is not learned): "
            "state_dict() holds buffers too. Count model.parameters() only."
        )
    _mismatch(call, value, buffered.expected_count(), hint)
    model = bert_models["base"]
    value, call = outcome(base_count)
    _mismatch(call, value, BERT_BASE, explain(value, count_mistakes(model), "ex5.count"))


@pytest.mark.points(3)
def test_count_parameters_trainable_only(count_parameters):
    frozen = zoo.PartlyFrozenClassifier(vocab_size=300, hidden_size=20, num_classes=7)
    everything = frozen.expected_trainable() + frozen.expected_frozen()
    value, call = count(count_parameters, frozen)
    _mismatch(call, value, everything, explain(value, count_mistakes(frozen), "ex5.count"))

    value, call = count(count_parameters, frozen, trainable_only=True)
    hint = explain(value, count_mistakes(frozen, trainable_only=True), "ex5.count")
    _mismatch(call, value, frozen.expected_trainable(), hint)

    tied = zoo.TiedLanguageModel(vocab_size=500, hidden_size=24)
    value, call = count(count_parameters, tied, trainable_only=True)
    hint = explain(value, count_mistakes(tied, trainable_only=True), "ex5.count")
    _mismatch(call, value, tied.expected_count(), hint)

    model = bert_base_with_frozen_embeddings()
    value, call = count(count_parameters, model, trainable_only=True)
    hint = explain(value, count_mistakes(model, trainable_only=True), "ex5.count")
    _mismatch(call, value, true_count(model, trainable_only=True), hint)


def breakdown(parameter_breakdown, model: nn.Module) -> tuple[dict[str, int], str]:
    call = describe_call(BREAKDOWN, model)
    value = parameter_breakdown(model)
    expect_exact_type(value, dict, call=call)
    for key, entry in value.items():
        expect_exact_type(entry, int, call=call, what=f"the entry {key!r}")
    return value, call


def _check_breakdown(
    call: str, value: dict[str, int], expected: dict[str, int], total: int, model: nn.Module
) -> None:
    """Keys: every top-level child (one without parameters with 0), in order, and "" only when needed."""
    if value != expected:
        slip = diagnose(value, breakdown_mistakes(model), expected=expected)
        if slip:
            shown = {key: f"{number:,}" for key, number in value.items()}
            fail(f"Called {call} and got {shown}; expected {expected}. {slip}")
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


@pytest.mark.points(3)
def test_parameter_breakdown_has_a_key_per_top_level_child(parameter_breakdown, bert_models):
    model = bert_models["base for breakdown"]
    value, call = breakdown(parameter_breakdown, model)
    expected = {name: true_count(child) for name, child in model.named_children()}
    _check_breakdown(call, value, expected, BERT_BASE, model)

    model = bert_models["mlm for breakdown"]
    value, call = breakdown(parameter_breakdown, model)
    _check_breakdown(
        call,
        value,
        {"bert": BERT_BASE_NO_POOLER, "cls": BERT_BASE_MLM - BERT_BASE_NO_POOLER},
        BERT_BASE_MLM,
        model,
    )


@pytest.mark.points(2)
def test_parameter_breakdown_counts_a_shared_parameter_once_under_its_first_holder(parameter_breakdown):
    model = zoo.SharedAcrossChildren(vocab_size=200, hidden_size=12)
    value, call = breakdown(parameter_breakdown, model)
    expected = model.expected_breakdown()
    if value.get("head") == expected["head"] + expected["embed"]:
        fail(
            f"Called {call} and got 'head': {value['head']:,}; expected {expected['head']:,}. head.weight is "
            "embed.weight (one tensor): count it once, under the first child that holds it (embed)."
        )
    _check_breakdown(call, value, expected, true_count(model), model)

    tied = zoo.TiedLanguageModel(vocab_size=500, hidden_size=24)
    value, call = breakdown(parameter_breakdown, tied)
    expected = {name: 0 for name, _ in tied.named_children()}
    seen: set[int] = set()
    for name, child in tied.named_children():
        for parameter in child.parameters():
            if id(parameter) not in seen:
                seen.add(id(parameter))
                expected[name] += parameter.numel()
    _check_breakdown(call, value, expected, tied.expected_count(), tied)


@pytest.mark.points(1)
def test_parameter_breakdown_puts_direct_parameters_under_empty_key(parameter_breakdown):
    model = zoo.SharedAcrossChildren(vocab_size=50, hidden_size=6)
    value, call = breakdown(parameter_breakdown, model)
    if value.get("") != model.expected_breakdown()[""]:
        fail(
            f'Called {call} and got {value.get("", "no entry")!r} under the key ""; expected '
            f"{model.expected_breakdown()['']:,}, the parameters the model holds itself "
            "(model.parameters(recurse=False)), not in any child."
        )

    model = zoo.HeldByModelAndChild(hidden_size=10)
    value, call = breakdown(parameter_breakdown, model)
    expected = model.expected_breakdown()
    if value.get("") == expected[""] + model.shared_count():
        fail(
            f'Called {call} and got {value[""]:,} under the key ""; expected {expected[""]:,}. The model '
            f"holds scale ({model.shared_count():,}) itself, and its child norm holds it too (norm.weight is "
            'scale): a shared parameter goes under the first child that holds it, and "" keeps only the '
            "parameters no child holds. named_parameters() lists the model's own first, so splitting its "
            'names by prefix puts scale under "".'
        )
    _check_breakdown(call, value, expected, true_count(model), model)


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


@pytest.mark.points(2)
def test_bert_parameter_count_known_models(bert_parameter_count):
    value, call, slip = formula(bert_parameter_count)
    _mismatch(call, value, BERT_BASE, slip)
    value, call, slip = formula(bert_parameter_count, use_pooler=False)
    _mismatch(call, value, BERT_BASE_NO_POOLER, slip)
    value, call, slip = formula(
        bert_parameter_count, num_hidden_layers=6, type_vocab_size=0, use_pooler=False
    )
    _mismatch(call, value, DISTILBERT, f"DistilBERT's shape: 6 layers, no token types, no pooler. {slip}")


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


warm_up(
    lambda: (
        [shared_bert_base(m, use) for m in (False, True) for use in ("count", "breakdown")],
        bert_base_with_frozen_embeddings(),
        [count_of_config(f) for f in random_configs()],
    )
)


@pytest.mark.points(2)
def test_bert_parameter_count_exact_on_random_configs(bert_parameter_count):
    for fields in random_configs():
        expected = count_of_config(fields)
        value, call, slip = formula(bert_parameter_count, **fields)
        _mismatch(call, value, expected, slip)


@pytest.mark.points(1)
def test_bert_parameter_count_reads_a_transformers_config(bert_parameter_count):
    for index, fields in enumerate([{}, *random_configs(count=4, seed=1910)]):
        fields = {name: value for name, value in fields.items() if name != "use_pooler"}
        config = zoo.TransformersConfigShape(**fields)
        shown = ", ".join(f"{name}={value}" for name, value in fields.items())
        call = f"{FORMULA}(transformers.BertConfig({shown}))"
        try:
            value = bert_parameter_count(config)
        except protocol.SubmissionRaised as raised:
            if "use_pooler" not in raised.message:
                raise
            fail(
                f"Called {call} and it raised {raised.type_name}: a transformers BertConfig has no "
                "use_pooler field, and transformers.BertModel builds a pooler: count it when the field is "
                "missing (getattr(config, 'use_pooler', True))."
            )
        expect_exact_type(value, int, call=call)
        expected = BERT_BASE if index == 0 else count_of_config({**fields, "use_pooler": True})
        _mismatch(call, value, expected, explain(value, formula_mistakes(config), "ex5.formula"))


@pytest.mark.points(1)
@pytest.mark.needs("transformers")
def test_counts_work_on_transformers_models(count_parameters, parameter_breakdown):
    for masked_lm in (False, True):
        model = hf_model(masked_lm)
        value, call = count(count_parameters, model)
        _mismatch(call, value, true_count(model), explain(value, count_mistakes(model), "ex5.count"))
        value, call = breakdown(parameter_breakdown, model)
        seen: set[int] = set()
        expected = {}
        for name, child in model.named_children():
            expected[name] = sum(p.numel() for p in child.parameters() if id(p) not in seen)
            seen.update(id(p) for p in child.parameters())
        _check_breakdown(call, value, expected, true_count(model), model)


@shared_input
def hf_model(masked_lm: bool) -> nn.Module:
    """A small ``transformers`` BERT (the MLM one has its decoder tied to the word embeddings)."""
    import transformers

    config = transformers.BertConfig(
        vocab_size=120, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=24
    )
    with protocol.random_init_skipped():
        return (transformers.BertForMaskedLM if masked_lm else transformers.BertModel)(config)


warm_up(lambda: (hf_model(False), hf_model(True)), needs=("transformers",))
warm_up(lambda: [count_of_config({**f, "use_pooler": True}) for f in random_configs(count=4, seed=1910)])
