"""Errors a call into a submission can end with, and the error for a message that breaks the wire.

The graders let the :class:`SubmissionError` family propagate; the results plugin turns each into a
sentence for the learner. A :class:`ProtocolError` is a worker that lies or breaks the framing; the
graders' side turns it into an :class:`UnsafeResult` for the call that received it.
"""

from __future__ import annotations


class SubmissionError(Exception):
    """A call into the submission did not produce a value."""

    kind = "error"

    def __init__(self, message: str, *, call: str = "", exercise: str = ""):
        super().__init__(message)
        self.message = message
        self.call = call
        self.exercise = exercise

    def __str__(self) -> str:
        return self.message


class NotStarted(SubmissionError):
    """The exercise's stub still raises its ``NotImplementedError``."""

    kind = "not_started"


class SubmissionRaised(SubmissionError):
    """The submission raised an exception; ``type_name`` and ``mro`` name its class."""

    kind = "raised"

    def __init__(self, message: str, *, type_name: str, mro: list[str], traceback: str = "", **kw):
        super().__init__(message, **kw)
        self.type_name = type_name
        self.mro = list(mro)
        self.traceback = traceback

    def is_a(self, name: str) -> bool:
        return name in self.mro


class MissingName(SubmissionError):
    """The module imported but lacks the function or class."""

    kind = "missing"


class ImportFailed(SubmissionError):
    """The exercise file is missing, has a syntax error, or raised or hung while being imported."""

    kind = "import_failed"


class UnsafeResult(SubmissionError):
    """The value returned is not plain data of the exact types the contract names."""

    kind = "unsafe_result"

    def __init__(self, message: str, *, type_name: str = "", **kw):
        super().__init__(message, **kw)
        self.type_name = type_name


class ModelMismatch(UnsafeResult):
    """A model came back whose state does not fit its class and config (``detail``: why, as
    ``load_state_dict`` says it)."""

    def __init__(self, message: str, *, detail: str = "", **kw):
        super().__init__(message, **kw)
        self.detail = detail


class CallTimedOut(SubmissionError):
    kind = "timeout"


class WorkerDied(SubmissionError):
    """The worker process ended during the call (crash, ``os._exit``, killed for memory); ``signal_name``:
    the signal that ended it (``"SIGSEGV"``), if one did."""

    kind = "died"

    def __init__(self, message: str, *, signal_name: str = "", **kw):
        super().__init__(message, **kw)
        self.signal_name = signal_name


class ProtocolError(Exception):
    """A message that does not follow the protocol (a worker that lies or breaks the framing)."""


class ModelClassRefused(ProtocolError):
    """A reply holds a model of a class no model sent had (``class_name``: the class, as a learner
    would name it: ``BertModel``, ``transformers.BertModel``)."""

    def __init__(self, message: str, *, class_name: str):
        super().__init__(message)
        self.class_name = class_name


ERRORS_BY_KIND: dict[str, type[SubmissionError]] = {
    cls.kind: cls
    for cls in (
        SubmissionError,
        NotStarted,
        SubmissionRaised,
        MissingName,
        ImportFailed,
        UnsafeResult,
        CallTimedOut,
        WorkerDied,
    )
}
