"""The wire's decoder against malformed messages: every one is a ProtocolError, never another exception,
and never decodes to more bytes than it holds. Property-based (hypothesis) where the space is large;
plain tests for each named attack (overlapping entries, huge counts, a million-layer model on meta, a
reply read past its deadline, a failed reply's data kept by a grader)."""

from __future__ import annotations

import gc
import json
import math
import struct
import sys
import time
import tracemalloc
import weakref

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autograder import submission as submission_module
from autograder.graders import support
from autograder.manifest import EXERCISE_BY_ID
from autograder.submission import Callable_, LocalConnection, Submission, _decode_reply
from autograder.wire import arena, decoding, frame
from autograder.wire import values as protocol
from solutions.model import BertConfig, BertModel
from solutions.support import checking

SMALL = {"vocab_size": 30, "hidden_size": 8, "num_attention_heads": 2, "intermediate_size": 12}
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _payload(head, body: bytes = b"") -> bytes:
    text = json.dumps(head).encode()
    return struct.pack(">Q", len(text)) + text + body


def _decoded_bytes(tree) -> int:
    if type(tree) is torch.Tensor:
        return tree.numel() * tree.element_size()
    if type(tree) is list:
        return sum(_decoded_bytes(x) for x in tree)
    if type(tree) is dict:
        return sum(_decoded_bytes(x) for x in tree.values())
    return 0


def _loads_or_protocol_error(payload: bytes):
    """``loads(payload)``; a ProtocolError is an answer too. Asserts no more is built than was sent."""
    tracemalloc.start()
    try:
        tree = frame.loads(payload)
    except protocol.ProtocolError:
        return None
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert _decoded_bytes(tree) <= len(payload)
    assert peak <= 40 * len(payload) + 200_000, (peak, len(payload))
    return tree


# --------------------------------------------------------------------------------------------------
# Round trip: what dumps writes, loads reads back unchanged.

DTYPES = [torch.float32, torch.float64, torch.int64, torch.uint8, torch.bool, torch.bfloat16]
scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats() | st.text(max_size=20)


@st.composite
def tensors(draw):
    shape = draw(st.lists(st.integers(0, 4), max_size=3))
    dtype = draw(st.sampled_from(DTYPES))
    values = torch.randint(0, 7, shape, generator=torch.Generator().manual_seed(draw(st.integers(0, 99))))
    return values.to(dtype)


trees = st.recursive(
    scalars | tensors(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


def _same(a, b) -> bool:
    if type(a) is torch.Tensor:
        return type(b) is torch.Tensor and a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    if type(a) is float and math.isnan(a):
        return type(b) is float and math.isnan(b)
    if type(a) is list:
        return type(b) is list and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if type(a) is dict:
        return type(b) is dict and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


@FAST
@given(trees)
def test_what_dumps_writes_loads_reads_back(tree):
    assert _same(frame.loads(frame.dumps(tree)), tree)


# --------------------------------------------------------------------------------------------------
# Malformed messages.


@FAST
@given(trees, st.data())
def test_a_truncated_or_extended_message_is_a_protocol_error(tree, data):
    payload = frame.dumps(tree)
    cut = data.draw(st.integers(0, len(payload) - 1))
    with pytest.raises(protocol.ProtocolError):
        frame.loads(payload[:cut])
    extra = data.draw(st.binary(min_size=1, max_size=16))
    with pytest.raises(protocol.ProtocolError):
        frame.loads(payload + extra)


@FAST
@given(trees, st.data())
def test_a_message_with_flipped_bytes_is_read_or_refused_never_more(tree, data):
    payload = bytearray(frame.dumps(tree))
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(payload) - 1))
        payload[position] = data.draw(st.integers(0, 255))
    _loads_or_protocol_error(bytes(payload))


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=6),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=25,
)
tensor_entries = st.tuples(
    st.just("T"),
    st.sampled_from(["torch.float32", "torch.int64", "float64", "torch.complex64", "torch.qint8", "str", 3]),
    st.lists(st.integers(-2, 2**62), max_size=20) | st.integers() | st.none(),
    st.integers(-8, 64) | st.floats() | st.none(),
    st.integers(-8, 2**62) | st.text(max_size=2),
).map(list)
heads = st.recursive(
    json_values | tensor_entries,
    lambda children: (
        st.tuples(st.sampled_from(["L", "D", "F", "T", "X"]), children).map(list)
        | st.tuples(st.just("D"), st.dictionaries(st.text(max_size=4), children, max_size=4)).map(list)
        | st.tuples(st.just("L"), st.lists(children, max_size=5)).map(list)
    ),
    max_leaves=20,
)


@FAST
@given(heads, st.binary(max_size=64))
def test_any_head_over_any_body_is_read_or_refused_never_more(head, body):
    _loads_or_protocol_error(_payload(head, body))


@FAST
@given(st.binary(max_size=80))
def test_any_bytes_are_read_or_refused(raw):
    _loads_or_protocol_error(raw)


def test_tensor_entries_must_cover_the_body_once_in_order():
    body = bytes(range(16))
    entry = ["T", "torch.uint8", [8]]
    assert frame.loads(_payload(["L", [[*entry, 0, 8], [*entry, 8, 8]]], body))[1].tolist() == list(
        range(8, 16)
    )
    for starts, _why in (((0, 0), "overlap"), ((8, 0), "out of order"), ((0, 4), "overlap"), ((4, 8), "gap")):
        with pytest.raises(protocol.ProtocolError, match="cover the body once"):
            frame.loads(_payload(["L", [[*entry, starts[0], 8], [*entry, starts[1], 8]]], body))
    with pytest.raises(protocol.ProtocolError, match="after the message's last tensor"):
        frame.loads(_payload(["L", [[*entry, 0, 8]]], body))


def test_the_overlap_attack_no_longer_multiplies_a_reply():
    """The issue's attack: one MiB of body, 256 entries pointing at it (256 MiB decoded before)."""
    body = bytes(1 << 20)
    head = ["L", [["T", "torch.uint8", [1 << 20], 0, 1 << 20]] * 256]
    with pytest.raises(protocol.ProtocolError, match="cover the body once"):
        frame.loads(_payload(head, body))


@pytest.mark.parametrize(
    "head, message",
    [
        (["T", "torch.float32", [2**40, 2**40], 0, 0], "shape"),
        (["T", "torch.float32", [0, 2**62], 0, 0], "shape"),
        (["T", "torch.float32", [1] * 65, 0, 4], "shape"),
        (["T", "torch.float32", [4], 0, 2**62], "outside"),
        (["T", "torch.float32", [4], 0, -16], "outside"),
        (["T", "torch.qint8", [4], 0, 4], "dtype"),
        (["T", "torch.Tensor", [4], 0, 4], "dtype"),
        (["T", "torch.float32", [3], 0, 16], "do not match"),
    ],
)
def test_huge_counts_and_wrong_dtypes_are_refused_before_allocation(head, message):
    with pytest.raises(protocol.ProtocolError, match=message):
        frame.loads(_payload(head, bytes(16)))


def test_a_head_longer_than_the_message_or_the_limit_is_refused_before_reading_it():
    with pytest.raises(protocol.ProtocolError, match="longer than the message"):
        frame.loads(struct.pack(">Q", 2**63) + b"[]")
    oversized = struct.pack(">Q", frame.MAX_HEAD_BYTES + 1) + bytes(frame.MAX_HEAD_BYTES + 1)
    with pytest.raises(protocol.ProtocolError, match="head of"):
        frame.loads(oversized)


def test_nesting_is_bounded_in_json_and_in_the_tree():
    deep = ["L", []]
    for _ in range(frame.MAX_DEPTH + 5):
        deep = ["L", [deep]]
    with pytest.raises(protocol.ProtocolError, match="nested"):
        frame.loads(_payload(deep))
    very_deep = b"[" * 200_000 + b"]" * 200_000
    with pytest.raises(protocol.ProtocolError, match="not JSON"):
        frame.loads(struct.pack(">Q", len(very_deep)) + very_deep)
    with pytest.raises(protocol.UnsafeResult, match="nested"):
        nested: list = []
        for _ in range(frame.MAX_DEPTH + 5):
            nested = [nested]
        frame.dumps(nested)


def test_a_message_length_over_the_limit_is_refused_before_it_is_read():
    import os

    read_end, write_end = os.pipe()
    try:
        os.write(write_end, struct.pack(">Q", frame.MAX_MESSAGE_BYTES + 1))
        with pytest.raises(protocol.ProtocolError, match="more than the limit"):
            frame.recv_message(read_end)
    finally:
        os.close(read_end)
        os.close(write_end)


# --------------------------------------------------------------------------------------------------
# Values: the tagged trees inside a message.

value_trees = st.recursive(
    json_values | tensors(),
    lambda children: (
        st.fixed_dictionaries(
            {
                protocol._TAG: st.sampled_from(
                    [
                        "tensor",
                        "meta_tensor",
                        "tuple",
                        "dict",
                        "seeded",
                        "dtype",
                        "model",
                        "handle",
                        "nope",
                        5,
                    ]
                )
            },
            optional={
                "items": children,
                "data": children,
                "shape": children,
                "dtype": children,
                "seed": st.integers(-(2**70), 2**70) | children,
                "name": children,
                "id": children,
                "key": st.sampled_from(["given.BertModel", "zoo.Nothing", "os.system"]) | children,
                "init": children,
                "device": st.sampled_from(["cpu", "meta", "cuda"]) | children,
                "state": children,
                "requires_grad": children,
            },
        )
        | st.lists(children, max_size=4)
    ),
    max_leaves=15,
)


@FAST
@given(value_trees)
def test_any_value_tree_decodes_or_is_a_protocol_error(tree):
    allow = protocol.ModelAllowance.of_arguments([])
    try:
        protocol.decode(tree, allow=allow)
    except protocol.ProtocolError:
        pass


@FAST
@given(
    st.dictionaries(st.sampled_from(["ok", "value", "grads", "tied", "kind", "mro", "message"]), value_trees)
)
def test_any_reply_is_a_call_result_a_submission_error_or_a_protocol_error(reply):
    try:
        _decode_reply(reply, allow=protocol.ModelAllowance.of_arguments([]))
    except (protocol.ProtocolError, protocol.SubmissionError):
        pass


def _teacher(layers: int, device: str = "cpu") -> BertModel:
    config = BertConfig(num_hidden_layers=layers, max_position_embeddings=8, **SMALL)
    with protocol.random_init_skipped(), torch.device(device):
        return BertModel(config)


def test_a_million_layers_on_meta_are_refused_before_anything_is_built(monkeypatch):
    teacher = _teacher(4, "meta")
    forged = protocol.encode(teacher)
    forged["init"]["num_hidden_layers"] = 1_000_000
    monkeypatch.setattr(decoding, "_build_model", lambda *a: pytest.fail("a model was built"))
    allow = protocol.ModelAllowance.of_arguments([teacher])
    with pytest.raises(protocol.ProtocolError, match="num_hidden_layers is 1000000, more than the 4"):
        protocol.decode(forged, allow=allow)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"device": "meta"}, "on 'meta'"),
        ({"key": "given.BertForMaskedLM"}, "class 'given.BertForMaskedLM'"),
        ({"init": {"hidden_size": 8, "not_a_field": 3}}, "not_a_field"),
    ],
)
def test_a_model_in_a_reply_keeps_to_the_class_device_and_config_sent(change, message):
    teacher = _teacher(2)
    forged = {**protocol.encode(teacher), **change}
    with pytest.raises(protocol.ProtocolError, match=message):
        protocol.decode(forged, allow=protocol.ModelAllowance.of_arguments([teacher]))
    with pytest.raises(protocol.ProtocolError, match="models sent: none"):
        protocol.decode(protocol.encode(teacher), allow=protocol.ModelAllowance.of_arguments([1.0]))


def test_a_smaller_model_of_the_class_sent_is_rebuilt():
    teacher, student = _teacher(4), _teacher(2)
    rebuilt = protocol.decode(protocol.encode(student), allow=protocol.ModelAllowance.of_arguments([teacher]))
    assert type(rebuilt) is BertModel and rebuilt.config.num_hidden_layers == 2


def test_decoding_past_the_calls_deadline_is_a_timeout_not_a_build(monkeypatch):
    teacher = _teacher(2)
    reply = {"ok": True, "value": protocol.encode(teacher)}
    monkeypatch.setattr(decoding, "_build_model", lambda *a: pytest.fail("a model was built"))
    allow = protocol.ModelAllowance.of_arguments([teacher])
    with pytest.raises(protocol.CallTimedOut, match="time limit"):
        _decode_reply(reply, allow=allow, deadline=time.monotonic() - 1.0)
    with pytest.raises(protocol.CallTimedOut, match="time limit"):
        _decode_reply({"ok": True, "value": 1}, allow=allow, deadline=time.monotonic() - 1.0)


class _Replies:
    """A connection that answers a request with the reply given, once, and keeps no copy (as a pipe)."""

    def __init__(self, reply):
        self.reply = reply

    def request(self, tree, *, exercise):
        reply, self.reply = self.reply, None
        return reply


class _DiesFirst:
    """A connection whose worker dies (by ``how``) on the first ``deaths`` requests, then answers."""

    def __init__(self, deaths: int, signal_name: str = "SIGSEGV"):
        self.deaths, self.signal_name, self.trees, self.since = deaths, signal_name, [], []

    def request(self, tree, *, exercise, since=None):
        self.trees.append(tree)
        self.since.append(since)
        if len(self.trees) <= self.deaths:
            raise protocol.WorkerDied(
                f"the process running your code died (killed by signal {self.signal_name}; out of memory?)",
                exercise=exercise,
                signal_name=self.signal_name,
            )
        return {"ok": True, "value": 2.5}


def _softmax_over(connection, target="ex1_softmax.softmax_with_temperature"):
    return Callable_(connection, EXERCISE_BY_ID["ex1"], target, "softmax_with_temperature")


def test_a_call_whose_worker_crashed_once_is_repeated_in_a_new_one():
    connection = _DiesFirst(1)
    assert _softmax_over(connection)(torch.ones(3), temperature=2.0) == 2.5
    assert len(connection.trees) == 2
    sent = [(t["target"], protocol.decode(t["args"][0]), t["kwargs"]["items"]) for t in connection.trees]
    assert sent[0][0] == sent[1][0] and sent[0][2] == sent[1][2] == {"temperature": 2.0}  # the same call
    assert torch.equal(sent[0][1], torch.ones(3)) and torch.equal(sent[1][1], torch.ones(3))
    # the repeat shares the first attempt's time limit: it says when that attempt began
    assert connection.since[0] is None and 0 < connection.since[1] <= time.monotonic()
    for signal_name in ("SIGBUS", "SIGABRT"):
        assert _softmax_over(_DiesFirst(1, signal_name))(torch.ones(3)) == 2.5


def test_a_call_that_crashes_every_time_is_charged_and_says_it_was_repeated():
    connection = _DiesFirst(5)
    with pytest.raises(protocol.WorkerDied) as raised:
        _softmax_over(connection)(torch.ones(3))
    assert len(connection.trees) == 2
    assert raised.value.message == (
        "the process running your code died (killed by signal SIGSEGV; out of memory?), "
        "and again when the call was repeated in a new process"
    )
    assert raised.value.exercise == "ex1" and raised.value.call.startswith("softmax_with_temperature(")


@pytest.mark.parametrize("why", ["killed at a limit", "exited", "an object the dead worker held"])
def test_a_death_that_a_new_process_would_not_undo_is_not_repeated(why):
    connection = _DiesFirst(1, {"killed at a limit": "SIGKILL", "exited": ""}.get(why, "SIGSEGV"))
    target = 7 if why.startswith("an object") else "ex1_softmax.softmax_with_temperature"
    with pytest.raises(protocol.WorkerDied):
        _softmax_over(connection, target)(torch.ones(3))
    assert len(connection.trees) == 1
    kept = Callable_(_DiesFirst(1), EXERCISE_BY_ID["ex4"], 3, "DynamicMasker(vocab_size=10)")
    with pytest.raises(protocol.WorkerDied):  # a function given such an object is not repeated either
        _softmax_over(kept._connection)(kept)
    assert len(kept._connection.trees) == 1


@pytest.mark.parametrize("bad", ["model of a class not sent", "unknown entry"])
def test_a_failed_replys_data_is_not_kept_by_the_error_a_grader_keeps(bad):
    payload = torch.zeros(1 << 16)
    alive = weakref.ref(payload)
    # A bad reply: valid tensor data, then a model of a class no call may send back, or an unknown entry.
    second = protocol.encode(_teacher(1)) if bad.startswith("model") else {protocol._TAG: "nonsense"}
    reply = {"ok": True, "value": [{protocol._TAG: "tensor", "data": payload}, second]}
    connection = _Replies(reply)
    function = Callable_(connection, EXERCISE_BY_ID["ex1"], "ex1_softmax.softmax_with_temperature", "softmax")
    kept = []
    try:
        function(torch.ones(3))
    except protocol.UnsafeResult as exc:
        kept.append(exc)
    assert kept and "ex1" == kept[0].exercise
    if bad.startswith("model"):  # named as the class it is, for a message saying what came back
        assert kept[0].type_name == "BertModel", kept[0].message
    else:
        assert "not plain data" in kept[0].message
    assert kept[0].__context__ is None
    del reply, connection, payload, function, second
    gc.collect()
    assert alive() is None


# --------------------------------------------------------------------------------------------------
# Arguments after the call: read by the graders from the shared memory they handed over.

IN_PLACE_SOFTMAX = """
def softmax_with_temperature(logits, temperature=1.0, dim=-1):
    logits.div_(temperature)
    return logits.softmax(dim)
"""


@pytest.fixture
def in_place_package(tmp_path, monkeypatch):
    package = tmp_path / "wire_probe_submission"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "ex1_softmax.py").write_text(IN_PLACE_SOFTMAX)
    monkeypatch.syspath_prepend(str(tmp_path))
    # A worker in this process points "given.*" at its package's model: put it back afterwards.
    resolver = protocol._GIVEN_RESOLVER[0]
    monkeypatch.setattr(protocol.PREPARED, "enabled", protocol.PREPARED.enabled)
    yield package.name
    protocol._GIVEN_RESOLVER[0] = resolver
    for name in [n for n in sys.modules if n.startswith(package.name)]:
        del sys.modules[name]


def test_an_input_changed_in_place_is_seen_in_the_shared_memory(in_place_package):
    submission = Submission(LocalConnection(in_place_package))
    logits = torch.arange(6.0).reshape(2, 3)
    result = submission.ex1.softmax_with_temperature.call(logits, temperature=2.0, arguments=True)
    assert torch.equal(logits, torch.arange(6.0).reshape(2, 3))  # the graders' own tensor: a copy was sent
    assert torch.equal(result.args[0], logits / 2.0)
    assert torch.equal(result.observed[0][0], logits / 2.0)


def test_a_worker_cannot_point_the_graders_at_shared_memory_they_did_not_hand_over():
    placed = protocol.encode_arguments([torch.ones(2)], {}, arena.current())
    observed = protocol.observe_arguments(placed, arena.current())
    ref = {protocol._TAG: "arena_ref"}
    honest = protocol.CallResult(value=None, arguments_tree={"args": [ref], "kwargs": {}}, observed=observed)
    assert torch.equal(honest.args[0], torch.ones(2))
    for forged_args in ([ref, ref], [{protocol._TAG: "model_after", "init": {}, "state": {}}]):
        forged = protocol.CallResult(
            value=None, arguments_tree={"args": forged_args, "kwargs": {}}, observed=observed
        )
        with pytest.raises(protocol.UnsafeResult, match="not plain data"):
            _ = forged.args
    with pytest.raises(protocol.ProtocolError):  # a region outside the arena, asked for by a request
        protocol.decode(
            {protocol._TAG: "arena_tensor", "offset": 2**40, "dtype": "float32", "shape": [4]},
            arena=arena.current(),
        )


def test_a_reply_is_decoded_within_the_deadline_it_was_read_under(monkeypatch):
    """The deadline recv_message read the reply under is the one its decoding must keep."""
    import os

    read_end, write_end = os.pipe()
    frame.send_message(write_end, frame.dumps({"ok": True, "value": 1.0}))
    deadline = time.monotonic() + 3600.0

    class _Pipe:
        def request(self, tree, *, exercise):
            return frame.loads(frame.recv_message(read_end, deadline))

    seen = []
    real = submission_module._decode_reply
    monkeypatch.setattr(
        submission_module, "_decode_reply", lambda *a, **k: seen.append(k["deadline"]) or real(*a, **k)
    )
    function = Callable_(_Pipe(), EXERCISE_BY_ID["ex1"], "ex1_softmax.softmax_with_temperature", "softmax")
    try:
        assert function(torch.ones(2)) == 1.0
    finally:
        os.close(read_end)
        os.close(write_end)
    assert seen == [deadline]
    function_without_pipe = Callable_(_Replies({"ok": True, "value": 2}), EXERCISE_BY_ID["ex1"], "x.y", "y")
    assert function_without_pipe(1) == 2 and seen[-1] is None


def test_a_model_too_big_for_the_shared_memory_comes_back_as_the_worker_reports_it(monkeypatch):
    small = arena.Arena(1 << 12)
    monkeypatch.setattr(arena, "current", lambda: small)
    resolver = protocol._GIVEN_RESOLVER[0]
    monkeypatch.setattr(protocol.PREPARED, "enabled", protocol.PREPARED.enabled)
    try:
        submission = Submission(LocalConnection("solutions"))
        teacher = _teacher(2)
        with torch.no_grad():
            for parameter in teacher.parameters():
                parameter.normal_()
        result = submission.ex3.halve_layers.call(teacher, arguments=True)
    finally:
        protocol._GIVEN_RESOLVER[0] = resolver
    assert result.observed[0] == [None]
    after = result.args[0]
    assert type(after) is protocol.SentModel and after.config["num_hidden_layers"] == 2
    assert after.state.keys() == teacher.state_dict().keys()
    assert all(torch.equal(after.state[k], v) for k, v in teacher.state_dict().items())


def test_a_model_whose_state_does_not_fit_its_config_fails_the_call_not_the_graders():
    """A reply model with a parameter its class does not have: the call fails with a message naming it
    (``ModelMismatch``, a :class:`SubmissionError`), never a ``RuntimeError`` that reads as a grader bug."""
    teacher = _teacher(2)
    forged = protocol.encode(teacher)
    forged["state"]["zz_extra"] = next(iter(forged["state"].values()))
    reply = {"ok": True, "value": forged}
    with pytest.raises(protocol.ModelMismatch, match="zz_extra") as raised:
        _decode_reply(
            protocol.loads(protocol.dumps(reply)), allow=protocol.ModelAllowance.of_arguments([teacher])
        )
    assert isinstance(raised.value, protocol.SubmissionError)
    assert "Unexpected key" in raised.value.detail or "unexpected keys" in raised.value.detail


def test_a_model_inside_an_argument_after_the_call_is_never_built(monkeypatch):
    """An argument's state after the call holds tensors only: a model put there (a million layers on
    meta) is refused as data, without building it, whenever the graders read the arguments."""
    monster = protocol.encode(_teacher(1, "meta"))
    monster["init"]["num_hidden_layers"] = 1_000_000
    reported = {protocol._TAG: "model_after", "init": {"hidden_size": 8}, "state": {"weight": monster}}
    tree = protocol.loads(
        protocol.dumps({"args": [reported], "kwargs": {protocol._TAG: "dict", "items": {}}})
    )
    observed = ([{"key": "given.BertModel", "state": {}}], {})
    result = protocol.CallResult(value=None, arguments_tree=tree, observed=observed)
    monkeypatch.setattr(decoding, "_build_model", lambda *a: pytest.fail("a model was built"))
    with pytest.raises(protocol.UnsafeResult, match="not tensors"):
        result.args  # noqa: B018  (reading them decodes them)


def test_a_lone_surrogate_in_a_message_is_read_as_a_replacement_character():
    """JSON may carry ``"\\udcff"``, which no UTF-8 file or terminal takes: read as U+FFFD, so that a
    message a submission raised can be written anywhere; a proper pair stays the character it is."""
    tree = protocol.loads(protocol.dumps({"message": "bad \udcff end", "k\U0001f600": ["ok \ud800"]}))
    assert tree == {"message": "bad \ufffd\ufffd\ufffd end", "k\U0001f600": ["ok \ufffd\ufffd\ufffd"]}
    "".join([tree["message"], *tree["k\U0001f600"]]).encode("utf-8")  # raises if one were left


def test_a_model_whose_config_cannot_be_built_fails_the_call_not_the_graders():
    """Zero attention heads (a division by zero in the config) is the submission's broken model, not a
    grader error."""
    teacher = _teacher(2)
    forged = protocol.encode(teacher)
    forged["init"]["num_attention_heads"] = 0
    with pytest.raises(protocol.ModelMismatch, match="cannot be built"):
        _decode_reply({"ok": True, "value": forged}, allow=protocol.ModelAllowance.of_arguments([teacher]))


@pytest.mark.parametrize(
    ("worker_class", "named"),
    [
        ("ex1_softmax.softmax_with_temperature", "softmax_with_temperature"),
        ("Masker", "Masker"),
        ("ex4_masking.<locals>.Masker", "Masker"),
        ("ex4.Bad Name; rm -rf", "object"),
        ("", "object"),
    ],
)
def test_an_object_kept_in_the_worker_is_named_by_its_class_in_messages(worker_class, named):
    reply = {"ok": True, "value": {protocol._TAG: "handle", "id": 7, "type": worker_class}}
    function = Callable_(_Replies(reply), EXERCISE_BY_ID["ex1"], "ex1_softmax.softmax_with_temperature", "f")
    kept = function(torch.ones(2))
    assert isinstance(kept, Callable_) and kept._target == 7
    assert type(kept).__name__ == named
    assert checking.describe(kept) == f"{named}(...)"
    with pytest.raises(AssertionError, match=rf"got {named}\(\.\.\.\) \(a {named}\); expected a plain int"):
        support.expect_exact_type(kept, int, call="f(tensor(2))")
