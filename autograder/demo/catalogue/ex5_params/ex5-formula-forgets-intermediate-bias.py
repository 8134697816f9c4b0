"""ex5: counting parameters, and why DistilBERT has 66M of them and not half of BERT's 110M.

DistilBERT is "40% smaller" than BERT-base (Sanh et al. 2019, arXiv:1910.01108), not 50%, although it
has half the layers: halving the layers leaves the embeddings, and the word embeddings alone are
30522 x 768 = 23.4M parameters. Counting right also means counting a shared (tied) weight once: the
MLM decoder reuses the word-embedding matrix, and counting it twice is the classic mistake.
"""

from __future__ import annotations

from typing import Any

from torch import nn


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """The number of parameters (scalar weights) of ``model``.

    Every parameter's elements, each shared (tied) parameter once, buffers never (they are not learned).
    ``model.parameters()`` already yields a shared parameter once; ``state_dict()`` and
    ``named_parameters(remove_duplicate=False)`` list it under every name that holds it, which counts
    BERT's tied MLM decoder twice (132,985,716 instead of 109,514,298). Works on models built on the
    meta device, which have shapes but no memory.

    Args:
        model: any module.
        trainable_only: count only parameters with ``requires_grad`` (those an optimiser would update).

    Returns:
        The count, a Python int.

    Example::

        count_parameters(nn.Linear(3, 2))                # 8: 3 x 2 weights + 2 biases
        count_parameters(BertModel(BertConfig()))        # 109,482,240
        count_parameters(BertForMaskedLM(BertConfig()))  # 109,514,298
    """
    # BEGIN SOLUTION: sum numel() over model.parameters() (tied ones come once), only trainable ones if asked
    return sum(
        parameter.numel() for parameter in model.parameters() if parameter.requires_grad or not trainable_only
    )
    # END SOLUTION


def parameter_breakdown(model: nn.Module) -> dict[str, int]:
    """How the parameters split among the model's top-level children (``model.named_children()``).

    A shared parameter is counted once, under the first child (in ``named_children()`` order) that
    holds it; parameters held by the model itself and by no child appear under the key ``""``. The
    values therefore sum to ``count_parameters(model)``. Every child has a key, even one without
    parameters; ``""`` is there only when the model holds such parameters.

    Args:
        model: any module.

    Returns:
        ``{child name: parameter count}`` in ``named_children()`` order, then ``""`` if needed.

    Example::

        parameter_breakdown(BertForMaskedLM(BertConfig()))
        # {"bert": 108,891,648, "cls": 622,650}: the decoder weight is tied to bert's word embeddings,
        # so cls adds only its transform (768^2 + 3 x 768) and the decoder bias (30,522)
    """
    # BEGIN SOLUTION: per named child, count the parameters not seen yet; those no child holds go under ""
    seen: set[int] = set()
    breakdown: dict[str, int] = {}
    for name, child in model.named_children():
        count = 0
        for parameter in child.parameters():
            if id(parameter) not in seen:
                seen.add(id(parameter))
                count += parameter.numel()
        breakdown[name] = count
    own = [parameter for parameter in model.parameters(recurse=False) if id(parameter) not in seen]
    if own:
        breakdown[""] = sum(parameter.numel() for parameter in own)
    return breakdown
    # END SOLUTION


def bert_parameter_count(config: Any) -> int:
    """The exact parameter count of ``BertModel(config)``, from the configuration alone.

    With V = ``vocab_size``, P = ``max_position_embeddings``, T = ``type_vocab_size`` (0: no token-type
    embeddings), H = ``hidden_size``, I = ``intermediate_size``, L = ``num_hidden_layers``:

    - embeddings: (V + P + T) H, plus 2H for their LayerNorm (a weight and a bias per feature);
    - each layer: 4 H^2 + 4 H (query, key, value, output projections with biases), 2H (LayerNorm),
      HI + I and IH + H (the feed-forward pair), 2H (LayerNorm): 4 H^2 + 2 HI + 9 H + I;
    - the pooler, when ``use_pooler`` (a missing field counts as True): H^2 + H.

    BERT-base: 23,837,184 + 12 x 7,087,872 + 590,592 = 109,482,240. DistilBERT's shape (6 layers, no
    token types, no pooler) gives 66,362,880, not the 55M that halving would suggest: the 23.8M
    embedding parameters stay.

    Args:
        config: a ``BertConfig`` (this package's or ``transformers``'); fields are read by name.

    Returns:
        The count, a Python int, equal to ``count_parameters(BertModel(config))``.

    Example::

        bert_parameter_count(BertConfig())  # 109,482,240
        bert_parameter_count(BertConfig(num_hidden_layers=6, type_vocab_size=0, use_pooler=False))
        # 66,362,880
    """
    # BEGIN SOLUTION: embeddings + L layers + optional pooler, from the config's fields
    vocab_size = config.vocab_size
    positions = config.max_position_embeddings
    token_types = getattr(config, "type_vocab_size", 0) or 0
    hidden = config.hidden_size
    intermediate = config.intermediate_size
    embeddings = (vocab_size + positions + token_types) * hidden + 2 * hidden
    # attention (4 H x H + 4 biases), two LayerNorms, the feed-forward pair and its output bias
    one_layer = 4 * hidden * hidden + 2 * hidden * intermediate + 9 * hidden
    pooler = hidden * hidden + hidden if getattr(config, "use_pooler", True) else 0
    return int(embeddings + config.num_hidden_layers * one_layer + pooler)
    # END SOLUTION
