"""What crosses between the graders (trusted) and a worker running a submission (untrusted).

- :mod:`autograder.wire.errors`: how a call can end without a value, and :class:`ProtocolError`.
- :mod:`autograder.wire.frame`: the message format and its checked reading (bounds before allocation).
- :mod:`autograder.wire.values`: values on the wire (tensors, containers, models by class key), the
  bounds a model in a reply must keep, and :class:`~autograder.wire.values.CallResult`.
- :mod:`autograder.wire.arena`: shared memory for the arguments the graders read back after a call.

The worker's side of the wire (bound before the submission is imported) is
:mod:`autograder.sandbox.worker`; the graders' side is :mod:`autograder.submission`.
"""
