"""Hidden checks for ex5: ``count_parameters``, ``parameter_breakdown`` and ``bert_parameter_count``.

BERT-sized models are built on the meta device (shapes, no memory); the small models of
:mod:`autograder.graders.zoo` each expose one mistake (a tied weight, a large buffer, frozen parts).
Expected counts come from counting ``model.parameters()`` in this process, and from the facts
109,482,240 (BERT-base), 109,514,298 (BERT-base MLM) and 66,362,880 (DistilBERT's shape).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from torch import nn

from autograder.graders import zoo
from autograder.graders import zoo_answers as answers
from autograder.graders.params_support import (
    BERT_BASE,
    BERT_BASE_MLM,
    BERT_BASE_MLM_DOUBLE,
    BERT_BASE_NO_POOLER,
    DISTILBERT,
    FORMULA,
    bert_base_with_frozen_embeddings,
    breakdown,
    check_breakdown,
    count,
    count_of_config,
    count_slip,
    formula,
    hf_model,
    mismatch,
    outcome,
    random_configs,
    shared_bert_base,
    true_count,
)
from autograder.graders.support import (
    expect_exact_type,
    fail,
    warm_up,
)
from autograder.wire import values as protocol
from solutions.support.diagnosis import (
    explain,
    formula_mistakes,
)


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


@pytest.fixture(scope="module")
def base_count(count_parameters, bert_models):
    """``count_parameters(BERT-base)``, called once for the checks that look at it (or what it raised)."""
    try:
        return count(count_parameters, bert_models["base"])
    except (AssertionError, protocol.SubmissionError) as exc:
        return exc


@pytest.mark.points(3)
def test_count_parameters_counts_shared_parameters_once(count_parameters, bert_models, base_count):
    tied = zoo.TiedLanguageModel(vocab_size=500, hidden_size=24)
    value, call = count(count_parameters, tied)
    mismatch(call, value, answers.expected_count(tied), count_slip(value, tied))

    model = bert_models["base"]
    value, call = outcome(base_count)
    slip = count_slip(value, model, "BERT-base has 109,482,240 parameters.")
    mismatch(call, value, BERT_BASE, slip, buffers_of=model)

    value, call = count(count_parameters, bert_models["mlm"])
    double = (
        "132,985,716 is the classic mistake: the MLM decoder's weight is the word-embedding matrix "
        "(30,522 x 768) and its bias is the head's bias; both were counted twice."
    )
    before = double if value == BERT_BASE_MLM_DOUBLE else ""
    slip = count_slip(value, bert_models["mlm"], before)
    mismatch(call, value, BERT_BASE_MLM, slip, buffers_of=bert_models["mlm"])


@pytest.mark.points(2)
def test_count_parameters_ignores_buffers(count_parameters, bert_models, base_count):
    buffered = zoo.BufferedEncoder(size=16, buffer_size=100_000)
    value, call = count(count_parameters, buffered)
    hint: str | Callable[[], str] = count_slip(value, buffered)
    if value == answers.expected_count(buffered) + 100_000:
        hint = (
            "That includes the model's persistent buffer (a 100,000-entry table that is not learned): "
            "state_dict() holds buffers too. Count model.parameters() only."
        )
    mismatch(call, value, answers.expected_count(buffered), hint)
    model = bert_models["base"]
    value, call = outcome(base_count)
    mismatch(call, value, BERT_BASE, count_slip(value, model))


@pytest.mark.points(3)
def test_count_parameters_trainable_only(count_parameters):
    frozen = zoo.PartlyFrozenClassifier(vocab_size=300, hidden_size=20, num_classes=7)
    everything = answers.expected_trainable(frozen) + answers.expected_frozen(frozen)
    value, call = count(count_parameters, frozen)
    mismatch(call, value, everything, count_slip(value, frozen))

    value, call = count(count_parameters, frozen, trainable_only=True)
    mismatch(call, value, answers.expected_trainable(frozen), count_slip(value, frozen, trainable_only=True))

    tied = zoo.TiedLanguageModel(vocab_size=500, hidden_size=24)
    value, call = count(count_parameters, tied, trainable_only=True)
    mismatch(call, value, answers.expected_count(tied), count_slip(value, tied, trainable_only=True))

    model = bert_base_with_frozen_embeddings()
    value, call = count(count_parameters, model, trainable_only=True)
    slip = count_slip(value, model, trainable_only=True)
    mismatch(call, value, true_count(model, trainable_only=True), slip, buffers_of=model)


@pytest.mark.points(3)
def test_parameter_breakdown_has_a_key_per_top_level_child(parameter_breakdown, bert_models):
    model = bert_models["base for breakdown"]
    value, call = breakdown(parameter_breakdown, model)
    expected = {name: true_count(child) for name, child in model.named_children()}
    check_breakdown(call, value, expected, BERT_BASE, model)

    model = bert_models["mlm for breakdown"]
    value, call = breakdown(parameter_breakdown, model)
    check_breakdown(
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
    expected = answers.expected_breakdown(model)
    if value.get("head") == expected["head"] + expected["embed"]:
        fail(
            f"Called {call} and got 'head': {value['head']:,}; expected {expected['head']:,}. head.weight is "
            "embed.weight (one tensor): count it once, under the first child that holds it (embed)."
        )
    check_breakdown(call, value, expected, true_count(model), model)

    tied = zoo.TiedLanguageModel(vocab_size=500, hidden_size=24)
    value, call = breakdown(parameter_breakdown, tied)
    expected = {name: 0 for name, _ in tied.named_children()}
    seen: set[int] = set()
    for name, child in tied.named_children():
        for parameter in child.parameters():
            if id(parameter) not in seen:
                seen.add(id(parameter))
                expected[name] += parameter.numel()
    check_breakdown(call, value, expected, answers.expected_count(tied), tied)


@pytest.mark.points(1)
def test_parameter_breakdown_puts_direct_parameters_under_empty_key(parameter_breakdown):
    model = zoo.SharedAcrossChildren(vocab_size=50, hidden_size=6)
    value, call = breakdown(parameter_breakdown, model)
    if value.get("") != answers.expected_breakdown(model)[""]:
        fail(
            f'Called {call} and got {value.get("", "no entry")!r} under the key ""; expected '
            f"{answers.expected_breakdown(model)['']:,}, the parameters the model holds itself "
            "(model.parameters(recurse=False)), not in any child."
        )

    model = zoo.HeldByModelAndChild(hidden_size=10)
    value, call = breakdown(parameter_breakdown, model)
    expected, shared = answers.expected_breakdown(model), answers.shared_count(model)
    if value.get("") == expected[""] + shared:
        fail(
            f'Called {call} and got {value[""]:,} under the key ""; expected {expected[""]:,}. The model '
            f"holds scale ({shared:,}) itself, and its child norm holds it too (norm.weight is "
            'scale): a shared parameter goes under the first child that holds it, and "" keeps only the '
            "parameters no child holds (model.parameters(recurse=False) and named_parameters() both list "
            "scale as the model's own: leave out what a child holds)."
        )
    check_breakdown(call, value, expected, true_count(model), model)


@pytest.mark.points(2)
def test_bert_parameter_count_known_models(bert_parameter_count):
    value, call, slip = formula(bert_parameter_count)
    mismatch(call, value, BERT_BASE, slip)
    value, call, slip = formula(bert_parameter_count, use_pooler=False)
    mismatch(call, value, BERT_BASE_NO_POOLER, slip)
    value, call, slip = formula(
        bert_parameter_count, num_hidden_layers=6, type_vocab_size=0, use_pooler=False
    )
    mismatch(call, value, DISTILBERT, f"DistilBERT's shape: 6 layers, no token types, no pooler. {slip}")


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
        mismatch(call, value, expected, slip)


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
        mismatch(call, value, expected, explain(value, formula_mistakes(config), "ex5.formula"))


@pytest.mark.points(1)
@pytest.mark.needs("transformers")
def test_counts_work_on_transformers_models(count_parameters, parameter_breakdown):
    for masked_lm in (False, True):
        model = hf_model(masked_lm)
        value, call = count(count_parameters, model)
        mismatch(call, value, true_count(model), count_slip(value, model), buffers_of=model)
        value, call = breakdown(parameter_breakdown, model)
        seen: set[int] = set()
        expected = {}
        for name, child in model.named_children():
            expected[name] = sum(p.numel() for p in child.parameters() if id(p) not in seen)
            seen.update(id(p) for p in child.parameters())
        check_breakdown(call, value, expected, true_count(model), model)


warm_up(lambda: (hf_model(False), hf_model(True)), needs=("transformers",))
warm_up(lambda: [count_of_config({**f, "use_pooler": True}) for f in random_configs(count=4, seed=1910)])
