"""What crosses between the graders (trusted) and a worker running a submission (untrusted).

- :mod:`autograder.wire.errors`: how a call can end without a value, and :class:`ProtocolError`.
- :mod:`autograder.wire.frame`: the message format and its checked reading (bounds before allocation).
- :mod:`autograder.protocol`: values on the wire (tensors, containers, models by class key), the model
  bounds a reply must keep, and :class:`~autograder.protocol.CallResult`.
"""
