"""What crosses between the graders (trusted) and a worker running a submission (untrusted).

- :mod:`autograder.wire.errors`: how a call can end without a value, and :class:`ProtocolError`.
- :mod:`autograder.wire.frame`: the message format and its checked reading (bounds before allocation).
- :mod:`autograder.wire.values`: where the graders and the worker find every name of the wire: what a
  call gives back (:class:`~autograder.wire.values.CallResult`, the arguments after it) and ``dumps``;
  :mod:`~autograder.wire.encoding` (values to tagged trees), :mod:`~autograder.wire.decoding` (trees
  back to values, checked), :mod:`~autograder.wire.models` (the model classes that may cross, the bounds
  a model in a reply must keep), :mod:`~autograder.wire.prepared` (the shared inputs' ready-made
  encodings).
- :mod:`autograder.wire.arena`: shared memory for the arguments the graders read back after a call.

The worker's side of the wire (bound before the submission is imported) is
:mod:`autograder.sandbox.worker`; the graders' side is :mod:`autograder.submission`.
"""
