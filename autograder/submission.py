"""The graders' handle on a submission: ``submission.ex2.distillation_loss(s, t, temperature=4.0)``.

Calls are sent to a worker through a :class:`Connection`; the value comes back as plain data, decoded
with pristine code. A call that does not produce a value raises a
:class:`autograder.wire.errors.SubmissionError` naming what happened, which the results plugin turns
into the learner's message.

``fn(...)`` returns the value; ``fn.call(...)`` returns the whole :class:`CallResult` (gradients with
``backward=``, memory sharing, tied parameters, and with ``arguments=True`` the arguments as they were
after the call).
"""

from __future__ import annotations

import functools
import re
import time
from typing import Any, Protocol

import torch

from autograder.manifest import EXERCISE_BY_ID, Exercise
from autograder.wire import arena, frame, values
from autograder.wire.values import CallResult, Handle
from solutions.support import checking


class Connection(Protocol):
    """Sends one request tree to a worker and returns its reply tree (or raises SubmissionError)."""

    def request(
        self, tree: dict[str, Any], *, exercise: str, since: float | None = None
    ) -> dict[str, Any]: ...


class LocalConnection:
    """Answers requests in this very process: for developing graders against a trusted folder only.

    The request and reply still go through ``dumps``/``loads`` so values behave as across a pipe.
    """

    def __init__(self, package: str):
        from autograder.sandbox.worker import Worker

        self.worker = Worker(package, arena=arena.current())

    def request(self, tree: dict[str, Any], *, exercise: str, since: float | None = None) -> dict[str, Any]:
        reply = self.worker.handle(values.loads(values.dumps(tree)))
        return values.loads(values.dumps(reply))


# The graders' stand-ins for configurations (autograder/graders/zoo.py), by module and class.
_CONFIG_STAND_INS = {
    "autograder.graders.zoo.BertShape": "BertConfig",
    "autograder.graders.zoo.TransformersConfigShape": "transformers.BertConfig",
}


def describe(value: Any) -> str:
    """A short description of an argument for a message: ``tensor(4, 10)``, ``2.0``, ``BertModel(L=4)``."""
    if isinstance(value, torch.Tensor):
        dims = ", ".join(str(d) for d in value.shape)
        dtype = "" if value.dtype == torch.float32 else f", {str(value.dtype).removeprefix('torch.')}"
        return f"tensor({dims}{dtype})" if value.dim() else f"tensor({value.item():.4g}{dtype})"
    if isinstance(value, torch.nn.Module):
        stand_in = _CONFIG_STAND_INS.get(f"{type(value).__module__}.{type(value).__name__}")
        if stand_in is not None:  # a config carried as a module: named as the config it stands for
            fields = getattr(value, "init_kwargs", {})
            return f"{stand_in}(hidden_size={fields.get('hidden_size')}, ...)"
        layers = getattr(getattr(value, "config", None), "num_hidden_layers", None)
        return f"{type(value).__name__}({'' if layers is None else f'{layers} layers'})"
    if isinstance(value, values.Seeded):
        return f"torch.Generator().manual_seed({value.seed})"
    if isinstance(value, Handle):
        return f"<{value.type_name}>"
    if isinstance(value, (list, tuple)) and len(value) > 8:
        return f"[{', '.join(repr(v) for v in value[:6])}, ...]"
    return repr(value)


class Callable_:
    """A function, class or kept object of the submission, called through the connection."""

    def __init__(self, connection: Connection, exercise: Exercise, target: str | int, name: str):
        self._connection = connection
        self._exercise = exercise
        self._target = target
        self._name = name

    def __repr__(self) -> str:
        return f"<submission {self._exercise.id} {self._name}>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.call(*args, **kwargs).value

    def call(self, *args: Any, backward: Any = None, arguments: bool = False, **kwargs: Any) -> CallResult:
        call_text = checking.call_text(self._name, args, kwargs, describe)
        started = time.monotonic()
        failure = self._attempt(call_text, args, kwargs, backward, arguments)
        if _may_repeat(failure, self._target, args, kwargs):
            # A crash (not a time or memory limit) in a call that needs nothing the dead process held:
            # run once more in a new process (threads racing inside torch can crash it, rarely), within
            # what is left of the call's time limit. Code that crashes every time is charged as before,
            # and says so.
            again = self._attempt(call_text, args, kwargs, backward, arguments, since=started)
            if isinstance(again, values.WorkerDied):
                again.message += ", and again when the call was repeated in a new process"
                again.args = (again.message,)
            failure = again
        if isinstance(failure, CallResult):
            if failure.handle is not None:  # an instance, named by the call that made it (in later messages)
                kept = kept_object_class(failure.handle_class)
                failure.value = kept(self._connection, self._exercise, failure.handle, call_text)
            return failure
        # Raised from here, with neither the frames that held the reply nor the error that ended its
        # reading attached: a grader that keeps the error (a fixture caching a failed call) keeps no data.
        failure.call = failure.call or call_text
        failure.exercise = failure.exercise or self._exercise.id
        raise failure

    def _attempt(
        self,
        call_text: str,
        args: tuple,
        kwargs: dict[str, Any],
        backward: Any,
        arguments: bool,
        since: float | None = None,
    ) -> CallResult | values.SubmissionError:
        """Send the call once, its arguments placed afresh: its result, or the error to raise. ``since``:
        a repeat, sharing the time limit of the call first sent then."""
        shared = arena.current() if arguments else None
        try:
            if shared is not None:  # tensors the graders read back themselves after the call
                encoded_args, encoded_kwargs = values.encode_arguments(args, kwargs, shared)
            else:
                encoded_args = [_encode_arg(a) for a in args]
                encoded_kwargs = {k: _encode_arg(v) for k, v in kwargs.items()}
            encoded_backward = (
                None if backward is None else (True if backward is True else values.encode(backward))
            )
        except values.UnsafeResult as exc:
            raise TypeError(f"the grader passed {exc.message} to {call_text}, which cannot be sent") from None
        tree = {
            "op": "call",
            "target": self._target,
            "args": encoded_args,
            "kwargs": {values._TAG: "dict", "items": encoded_kwargs},
            "backward": encoded_backward,
            "arguments": bool(arguments),
        }
        allow = values.ModelAllowance.of_arguments((args, kwargs))
        sent = (encoded_args, encoded_kwargs) if shared is not None else None
        outcome = self._exchange(tree, allow, sent, shared, since)
        del tree, encoded_args, encoded_kwargs, encoded_backward
        return outcome

    def _exchange(
        self,
        tree: dict[str, Any],
        allow: values.ModelAllowance,
        sent: tuple[list[Any], dict[str, Any]] | None,
        shared: arena.Arena | None,
        since: float | None = None,
    ):
        """The call's :class:`CallResult`, or the :class:`SubmissionError` to raise, stripped of its
        traceback and context (see :meth:`call`)."""
        try:
            frame.forget_deadline()
            if since is None:
                reply = self._connection.request(tree, exercise=self._exercise.id)
            else:
                reply = self._connection.request(tree, exercise=self._exercise.id, since=since)
            deadline = frame.last_deadline()  # the call's: decoding the reply counts within it
            result = _decode_reply(reply, sent is not None, allow=allow, deadline=deadline)
            if sent is not None and shared is not None:
                result.observed = values.observe_arguments(sent, shared)
            return result
        except values.SubmissionError as exc:
            failure: values.SubmissionError = exc
        except values.ModelClassRefused as exc:  # a model, of a class the call may not give back
            failure = values.UnsafeResult(str(exc), type_name=exc.class_name)
        except values.ProtocolError as exc:
            failure = values.UnsafeResult(f"the worker sent back something that is not plain data ({exc})")
        except MemoryError:
            failure = values.UnsafeResult("its reply is too big for the grading process's memory limit")
        failure.__traceback__ = None
        failure.__context__ = None
        failure.__cause__ = None
        failure.__suppress_context__ = True
        return failure


_CLASS_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,59}")


@functools.lru_cache(maxsize=64)
def kept_object_class(worker_class: str) -> type[Callable_]:
    """The graders' class for an object kept in the worker, named as the submission's class (the last
    part of ``worker_class``, the worker's word, when it is a plain name), so that a message about it says
    "got a softmax_with_temperature", not the name of this package's stand-in."""
    name = worker_class.rpartition(".")[2]
    if not _CLASS_NAME.fullmatch(name):
        name = "object"
    return type(name, (Callable_,), {"__module__": "submission", "__qualname__": name})


# Signals a crash ends a worker with (a limit kills with SIGKILL or SIGXCPU, a timeout is no death).
CRASH_SIGNALS = frozenset({"SIGSEGV", "SIGBUS", "SIGABRT"})


def _may_repeat(failure: Any, target: str | int, args: tuple, kwargs: dict[str, Any]) -> bool:
    """Whether a call that ended in ``failure`` is run once more: its worker crashed, and the call
    names a function or class of the submission (not an object kept in that worker) with no such
    object among its arguments."""
    if not isinstance(failure, values.WorkerDied) or failure.signal_name not in CRASH_SIGNALS:
        return False
    kept = [a for a in (*args, *kwargs.values()) if isinstance(a, Callable_) and isinstance(a._target, int)]
    return isinstance(target, str) and not kept


def _encode_arg(value: Any) -> Any:
    if isinstance(value, Callable_) and isinstance(value._target, int):
        return {values._TAG: "handle", "id": value._target, "type": value._name}
    return values.encode(value)


def _decode_reply(
    reply: Any,
    asked_arguments: bool = False,
    *,
    allow: values.ModelAllowance | None = None,
    deadline: float | None = None,
) -> CallResult:
    """The :class:`CallResult` a reply tree stands for.

    Raises:
        SubmissionError: the reply reports a failure, or (CallTimedOut) ``deadline`` passed while it was
            being decoded.
        ProtocolError: the reply is not what a worker sends (a model ``allow`` refuses included).
    """
    if type(reply) is not dict:
        raise values.ProtocolError("a reply that is not a dict")
    if reply.get("ok") is not True:
        raise _failure(reply)
    raw_value = reply.get("value")
    handle = None
    handle_class = ""
    if type(raw_value) is dict and raw_value.get(values._TAG) == "handle":
        if type(raw_value.get("id")) is not int:
            raise values.ProtocolError("a handle that is not a number")
        handle = raw_value["id"]
        handle_class = str(raw_value.get("type", ""))[:200]
        value: Any = None
    else:
        value = values.decode(raw_value, allow=allow, deadline=deadline)
    grads_tree = reply.get("grads")
    grads = values.decode(grads_tree, allow=allow, deadline=deadline) if grads_tree is not None else {}
    tied = reply.get("tied", [])
    if type(grads) is not dict or type(tied) is not list or not all(type(group) is list for group in tied):
        raise values.ProtocolError("a reply whose gradients or tied groups are malformed")
    if deadline is not None and time.monotonic() >= deadline:
        raise values.CallTimedOut("its reply could not be read within the call's time limit")
    return CallResult(
        value=value,
        arguments_tree={key: reply.get(key) for key in ("args", "kwargs")} if asked_arguments else None,
        grads=grads,
        result_requires_grad=reply.get("result_requires_grad") is True,
        shares_memory=reply.get("shares_memory") is True,
        tied=[[str(n) for n in group] for group in tied],
        handle=handle,
        handle_class=handle_class,
    )


def _failure(reply: dict[str, Any]) -> values.SubmissionError:
    """The error a failure reply reports (its texts cut to a readable length)."""
    kind = str(reply.get("kind", "error"))[:40]
    message = str(reply.get("message", ""))[:2000]
    if kind == "raised":
        mro = reply.get("mro", [])
        return values.SubmissionRaised(
            message,
            type_name=str(reply.get("type", ""))[:200],
            mro=[str(x)[:200] for x in mro[:64]] if type(mro) is list else [],
            traceback=str(reply.get("traceback", ""))[:4000],
        )
    if kind == "unsafe_result":
        return values.UnsafeResult(message, type_name=str(reply.get("type", ""))[:200])
    return values.ERRORS_BY_KIND.get(kind, values.SubmissionError)(message)


class ExerciseProxy:
    def __init__(self, connection: Connection, exercise: Exercise):
        self._connection = connection
        self._exercise = exercise

    def __getattr__(self, name: str) -> Callable_:
        if name.startswith("_"):
            raise AttributeError(name)
        return Callable_(self._connection, self._exercise, f"{self._exercise.module}.{name}", name)


class Submission:
    """``submission.ex1`` ... ``submission.ex5``: the exercises of one staged submission."""

    def __init__(self, connection: Connection):
        self._connection = connection
        # Made now, before the connection starts any worker: each worker is handed its descriptor.
        arena.current()

    def __getattr__(self, exercise_id: str) -> ExerciseProxy:
        if exercise_id not in EXERCISE_BY_ID:
            raise AttributeError(exercise_id)
        return ExerciseProxy(self._connection, EXERCISE_BY_ID[exercise_id])
