"""The wire's fast paths keep its guarantees: arguments come back only when asked, and a model argument
comes back as plain data; a shared input's ready-made encoding is used only while the input is
unchanged, and never for what a worker sends back."""

from __future__ import annotations

import pytest
import torch

from autograder.sandbox.worker import Worker
from autograder.wire import values as protocol
from solutions.model import BertConfig, BertModel

SMALL = {"vocab_size": 30, "hidden_size": 8, "num_attention_heads": 2, "intermediate_size": 12}


@pytest.fixture
def shared_model():
    with protocol.random_init_skipped():
        model = BertModel(BertConfig(num_hidden_layers=2, max_position_embeddings=8, **SMALL))
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_()
    return protocol.share(model)


def test_arguments_come_back_only_when_asked_for():
    asked = protocol.CallResult(value=None, arguments_tree={"args": [1], "kwargs": protocol.encode({})})
    assert asked.args == [1]
    with pytest.raises(RuntimeError, match="arguments=True"):
        _ = protocol.CallResult(value=None).args
    lying = protocol.CallResult(value=None, arguments_tree={"args": None, "kwargs": None})
    with pytest.raises(protocol.UnsafeResult, match="did not send the arguments"):
        _ = lying.args


def test_a_model_argument_comes_back_as_its_config_and_state(shared_model):
    tree = protocol.loads(
        protocol.dumps({"args": [protocol.encode(shared_model)], "kwargs": protocol.encode({})})
    )
    sent = protocol.CallResult(value=None, arguments_tree=tree).args[0]
    assert type(sent) is protocol.SentModel
    assert sent.config["num_hidden_layers"] == 2
    assert all(torch.equal(sent.state[k], v) for k, v in shared_model.state_dict().items())


def test_a_shared_input_is_encoded_once_and_again_after_it_changes(shared_model, monkeypatch):
    # As in the graders' process (creating a Worker in this one turned the ready-made encodings off).
    monkeypatch.setattr(protocol.PREPARED, "enabled", True)
    protocol.share(shared_model)  # the fixture filled the model after sharing it: this encodes it anew
    first = protocol.encode(shared_model)
    assert protocol.encode(shared_model) is first
    blob = protocol.dumps(first)
    name, parameter = next(iter(shared_model.named_parameters()))
    with torch.no_grad():
        parameter.add_(1.0)
    changed = protocol.encode(shared_model)
    assert changed is not first
    assert torch.equal(changed["state"][name], parameter)
    assert protocol.dumps(changed) != blob
    shared_model.train(not shared_model.training)
    assert protocol.encode(shared_model) is not changed


def test_a_worker_sends_a_shared_input_back_as_the_submission_left_it(shared_model):
    protocol.share(shared_model)
    Worker("solutions")  # as in a worker: the ready-made encodings are forgotten
    received = shared_model  # what the submission was handed, left as it left it
    del received.encoder.layer[1]  # a change that no tensor's version counter shows
    state = protocol.encode(received)["state"]
    assert not any(name.startswith("encoder.layer.1.") for name in state)
    assert any(name.startswith("encoder.layer.0.") for name in state)
