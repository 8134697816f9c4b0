"""Models rebuilt from templates (autograder/wire/templates.py) are the models their constructor builds,
and nothing done to one reaches the template or the next."""

from __future__ import annotations

import pytest
import torch
import transformers
from torch import nn

import solutions.model as given
from autograder.graders.layers_support import SMALL
from autograder.wire import values
from autograder.wire.models import _build_model, _init_data
from autograder.wire.templates import TEMPLATES, NotCopyable, Templates, copy_model

CLASSES = {
    "given.BertModel": (given.BertModel, given.BertConfig),
    "given.BertForMaskedLM": (given.BertForMaskedLM, given.BertConfig),
    "hf.BertModel": (transformers.BertModel, transformers.BertConfig),
    "hf.BertForMaskedLM": (transformers.BertForMaskedLM, transformers.BertConfig),
}


def _shape(model: nn.Module) -> list:
    """Everything about a model but its weights' values: modules and their classes, parameters by name
    (tied ones by the first name they were seen under), buffers, training flags and configs."""
    first: dict[int, str] = {}
    parameters = []
    for name, parameter in model.named_parameters(remove_duplicate=False):
        tied_to = first.setdefault(id(parameter), name)
        parameters.append((name, tuple(parameter.shape), parameter.dtype, tied_to))
    configs = [
        (name, module.config.to_dict() if hasattr(module.config, "to_dict") else vars(module.config))
        for name, module in model.named_modules()
        if hasattr(module, "config")
    ]
    return [
        [(name, type(module), module.training) for name, module in model.named_modules()],
        parameters,
        [(name, tuple(buffer.shape), buffer.dtype) for name, buffer in model.named_buffers()],
        configs,
    ]


@pytest.mark.parametrize("key", sorted(CLASSES))
def test_a_copy_is_the_model_its_constructor_builds(key):
    cls, config_class = CLASSES[key]
    init = _init_data(cls(config_class(num_hidden_layers=3, **SMALL)), key)
    TEMPLATES.clear()
    built = _build_model(key, dict(init), "cpu")  # the constructor's (the template is kept aside)
    copied = _build_model(key, dict(init), "cpu")  # a copy of the template
    assert _shape(copied) == _shape(built)
    assert not {id(p) for p in copied.parameters()} & {id(p) for p in built.parameters()}
    assert not {id(m) for m in copied.modules()} & {id(m) for m in built.modules()}
    state = {n: torch.randn(t.shape) if t.is_floating_point() else t for n, t in built.state_dict().items()}
    ids = torch.randint(0, SMALL["vocab_size"], (2, 7), generator=torch.Generator().manual_seed(0))
    outputs = []
    for model in (built, copied):
        model.load_state_dict(state)
        model.eval()
        output = model(ids)
        outputs.append(output[0] if isinstance(output, tuple) else next(iter(output.values())))
    assert torch.equal(outputs[0], outputs[1])


def test_what_is_done_to_a_copy_reaches_neither_the_template_nor_the_next_copy():
    key = "given.BertForMaskedLM"
    init = _init_data(given.BertForMaskedLM(given.BertConfig(num_hidden_layers=4, **SMALL)), key)
    TEMPLATES.clear()
    pristine = _shape(_build_model(key, dict(init), "cpu"))
    spoiled = _build_model(key, dict(init), "cpu")
    spoiled.bert.encoder.layer = spoiled.bert.encoder.layer[:1]  # a halve_layers that works in place
    del spoiled.bert.encoder.layer[0]
    spoiled.config.num_hidden_layers = 1
    spoiled.bert.config.hidden_size = 3
    spoiled.bert.embeddings.register_forward_hook(lambda *args: None)
    spoiled.bert.extra = nn.Linear(2, 2)
    spoiled.bert.embeddings.word_embeddings.weight.data.fill_(7.0)  # tied with the decoder's weight
    spoiled.train(False)
    following = _build_model(key, dict(init), "cpu")
    assert _shape(following) == pristine
    assert not following.bert.embeddings._forward_hooks and not hasattr(following.bert, "extra")
    assert following.cls.predictions.decoder.weight is following.bert.embeddings.word_embeddings.weight


def test_a_template_that_cannot_be_copied_is_built_by_its_constructor_each_time():
    built = []

    def construct():
        model = given.BertModel(given.BertConfig(num_hidden_layers=2, **SMALL))
        model.register_forward_hook(lambda *args: None)  # a hook: not copied
        built.append(model)
        return model

    with pytest.raises(NotCopyable):
        copy_model(construct())
    templates = Templates()
    models = [templates.build(given.BertModel, {"layers": 2}, construct) for _ in range(3)]
    assert models == built[1:] and len({id(m) for m in models}) == 3


def test_a_decoded_model_is_a_new_one_each_time():
    model = given.BertModel(given.BertConfig(num_hidden_layers=2, **SMALL))
    message = values.dumps(values.encode(model))
    first, second = values.decode(values.loads(message)), values.decode(values.loads(message))
    assert first is not second and _shape(first) == _shape(second) == _shape(model)
    for a, b, c in zip(first.parameters(), second.parameters(), model.parameters(), strict=True):
        assert a is not b and torch.equal(a, c) and torch.equal(b, c)
        assert a.untyped_storage().data_ptr() != b.untyped_storage().data_ptr()


def test_a_template_changed_after_it_was_kept_is_not_used_again():
    templates = Templates()
    config = given.BertConfig(num_hidden_layers=2, **SMALL)
    first = templates.build(given.BertModel, {"layers": 2}, lambda: given.BertModel(config))
    template = templates._kept[next(iter(templates._kept))][1]
    assert template is not None and template is not first
    template.register_forward_hook(lambda *args: None)  # as code that found it through gc could
    second = templates.build(given.BertModel, {"layers": 2}, lambda: given.BertModel(config))
    assert not second._forward_hooks and second is not template
    assert templates._kept[next(iter(templates._kept))][1] is None


@pytest.mark.parametrize("key", sorted(CLASSES))
def test_a_copy_on_meta_is_the_model_its_constructor_builds_there(key):
    cls, config_class = CLASSES[key]
    init = _init_data(cls(config_class(num_hidden_layers=3, **SMALL)), key)
    TEMPLATES.clear()
    built = _build_model(key, dict(init), "meta")  # the constructor's, on meta
    copied = _build_model(key, dict(init), "meta")  # a copy of the template
    with torch.device("meta"):
        constructed = cls(config_class(**init))
    assert _shape(copied) == _shape(built) == _shape(constructed)
    assert {t.device.type for t in [*copied.parameters(), *copied.buffers()]} == {"meta"}
    assert not {id(p) for p in copied.parameters()} & {id(p) for p in built.parameters()}
    assert sum(p.numel() for p in copied.parameters()) == sum(p.numel() for p in constructed.parameters())
