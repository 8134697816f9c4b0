"""What the zygote runs once before it says ready (:mod:`autograder.sandbox.zygote`): every class of
model that may cross and the exercises' tensor operations, so that what torch (and transformers) set up
on first use is done there, once, and not in every worker within a call's time limit."""

from __future__ import annotations

import contextlib
import sys


def model_classes() -> None:
    """Build, encode, rebuild and run (forward and backward) a tiny model of each class that may cross,
    on the CPU and on meta, so that what that imports or sets up on first use (torch's meta-device
    machinery, the autograd engine; transformers loads its models lazily) is done here once, not in
    every worker within a call's time limit."""
    import torch

    from autograder.wire import values

    shape = {
        "vocab_size": 16,
        "hidden_size": 8,
        "num_hidden_layers": 1,
        "num_attention_heads": 1,
        "intermediate_size": 8,
        "max_position_embeddings": 16,
    }
    keys = ["given.BertModel", "given.BertForMaskedLM"]
    if "transformers" in sys.modules:
        keys += ["hf.BertModel", "hf.BertForMaskedLM"]
    for key in keys:
        with contextlib.suppress(Exception):
            model_class = values._resolve_class(key)
            config_class = (
                getattr(model_class, "config_class", None) or sys.modules[model_class.__module__].BertConfig
            )
            model = model_class(config_class(**shape))
            values.decode(values.loads(values.dumps(values.encode(model))))
            values._build_model(key, values._init_data(model, key), "meta")
            output = model(torch.randint(0, 16, (2, 5), generator=torch.Generator().manual_seed(0)))
            first = output[0] if isinstance(output, tuple) else next(iter(output.values()))
            first.float().mean().backward()
            values.tied_groups(model)
    with contextlib.suppress(Exception):
        operations()


def operations() -> None:
    """Run once the tensor operations the exercises are about (softmax, KL divergence, backward, random
    masking with a generator), so that their first use in a worker finds torch's dispatch warm."""
    import torch
    from torch.nn import functional

    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 6, 10, generator=generator, requires_grad=True)
    teacher = torch.randn(4, 6, 10, generator=generator)
    soft = functional.softmax(teacher / 2.0, dim=-1)
    loss = functional.kl_div(functional.log_softmax(logits / 2.0, dim=-1), soft, reduction="batchmean")
    labels = torch.randint(0, 10, (24,), generator=generator)
    loss = loss + functional.cross_entropy(logits.reshape(-1, 10), labels)
    loss.backward()
    ids = torch.randint(0, 100, (4, 16), generator=generator)
    chosen = torch.rand(ids.shape, generator=generator) < 0.15
    torch.where(chosen, torch.full_like(ids, 3), ids).masked_fill(~chosen, -100)
    torch.bernoulli(torch.full(ids.shape, 0.5), generator=generator)
