"""The given model against Hugging Face ``transformers``: same state-dict keys, same outputs, same counts."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import transformers

from solutions.model import BertConfig, BertForMaskedLM, BertModel

TINY = BertConfig(
    vocab_size=100,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=37,
    max_position_embeddings=64,
)
CONFIGS = {
    "tiny": TINY,
    "no_pooler": dataclasses.replace(TINY, use_pooler=False),
    "four_layers_three_types": dataclasses.replace(TINY, num_hidden_layers=4, type_vocab_size=3),
    "one_layer_eight_heads_pad_5": dataclasses.replace(
        TINY, num_hidden_layers=1, num_attention_heads=8, pad_token_id=5, layer_norm_eps=1e-5
    ),
}
PARITY_TOLERANCE = 1e-5
# transformers' own init (std 0.02) keeps activations so small that a tanh-approximated GELU would still
# agree to 1e-5; ten times larger weights make such a difference show.
PARITY_INITIALIZER_RANGE = 0.2


def hf_config(config: BertConfig, attn_implementation: str = "eager") -> transformers.BertConfig:
    fields = dataclasses.asdict(config)
    fields.pop("use_pooler")
    return transformers.BertConfig(
        **fields, attn_implementation=attn_implementation, initializer_range=PARITY_INITIALIZER_RANGE
    )


def hf_bert_model(config: BertConfig, attn_implementation: str = "eager") -> transformers.BertModel:
    return transformers.BertModel(hf_config(config, attn_implementation), add_pooling_layer=config.use_pooler)


def shapes(model: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {key: tuple(value.shape) for key, value in model.state_dict().items()}


def padded_batch(config: BertConfig, seed: int = 0) -> dict[str, torch.Tensor]:
    """Three sequences of length 7, the second and third ending in padding."""
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(0, config.vocab_size, (3, 7), generator=generator)
    attention_mask = torch.ones(3, 7, dtype=torch.long)
    attention_mask[1, 5:] = 0
    attention_mask[2, 2:] = 0
    input_ids[attention_mask == 0] = config.pad_token_id
    token_type_ids = torch.randint(0, config.type_vocab_size, (3, 7), generator=generator)
    return {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}


def max_difference(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    assert ours.shape == theirs.shape, f"shape {tuple(ours.shape)}, transformers gives {tuple(theirs.shape)}"
    return (ours - theirs).abs().max().item()


def count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# --------------------------------------------------------------------------------------------------
# State-dict keys and shapes


@pytest.mark.parametrize("name", CONFIGS)
def test_bert_model_state_dict_matches_transformers(name):
    config = CONFIGS[name]
    assert shapes(BertModel(config)) == shapes(hf_bert_model(config))


@pytest.mark.parametrize("name", CONFIGS)
def test_masked_lm_state_dict_matches_transformers(name):
    config = CONFIGS[name]
    assert shapes(BertForMaskedLM(config)) == shapes(transformers.BertForMaskedLM(hf_config(config)))


def test_buffers_stay_out_of_the_state_dict_as_in_transformers():
    ours, theirs = BertModel(TINY), hf_bert_model(TINY)
    assert {name for name, _ in ours.named_buffers()} == {name for name, _ in theirs.named_buffers()}
    assert not any("_ids" in key for key in ours.state_dict())


def test_no_token_type_embeddings_when_type_vocab_size_is_zero():
    config = dataclasses.replace(TINY, type_vocab_size=0, use_pooler=False)
    model = BertForMaskedLM(config)
    assert model.bert.embeddings.token_type_embeddings is None
    hf_keys = transformers.BertForMaskedLM(hf_config(config)).state_dict().keys()
    assert set(model.state_dict()) == {key for key in hf_keys if "token_type_embeddings" not in key}

    batch = padded_batch(dataclasses.replace(config, type_vocab_size=1))
    logits = model.eval()(batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    assert logits.shape == (3, 7, config.vocab_size)
    assert torch.isfinite(logits).all()


# --------------------------------------------------------------------------------------------------
# Outputs, with transformers' random weights loaded into ours and ours into transformers


@pytest.mark.parametrize("attn_implementation", ["eager", "sdpa"])
@pytest.mark.parametrize("with_token_types", [True, False], ids=["token_types", "no_token_types"])
@pytest.mark.parametrize("name", CONFIGS)
def test_bert_model_outputs_match_transformers(name, with_token_types, attn_implementation):
    config = CONFIGS[name]
    torch.manual_seed(1)
    theirs = hf_bert_model(config, attn_implementation).eval()
    ours = BertModel(config).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    batch = padded_batch(config)
    if not with_token_types:
        del batch["token_type_ids"]
    with torch.no_grad():
        expected, got = theirs(**batch), ours(**batch)
    assert max_difference(got.last_hidden_state, expected.last_hidden_state) < PARITY_TOLERANCE
    assert got[0] is got.last_hidden_state
    if config.use_pooler:
        assert max_difference(got.pooler_output, expected.pooler_output) < PARITY_TOLERANCE
    else:
        assert got.pooler_output is None and expected.pooler_output is None


@pytest.mark.parametrize("with_token_types", [True, False], ids=["token_types", "no_token_types"])
@pytest.mark.parametrize("name", ["tiny", "four_layers_three_types", "one_layer_eight_heads_pad_5"])
def test_masked_lm_logits_and_loss_match_transformers(name, with_token_types):
    config = CONFIGS[name]
    torch.manual_seed(2)
    theirs = transformers.BertForMaskedLM(hf_config(config)).eval()
    ours = BertForMaskedLM(config).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    batch = padded_batch(config)
    if not with_token_types:
        del batch["token_type_ids"]
    labels = torch.full_like(batch["input_ids"], -100)
    labels[:, 1] = batch["input_ids"][:, 1]
    labels[0, 4] = 7
    with torch.no_grad():
        expected, got = theirs(**batch, labels=labels), ours(**batch, labels=labels)
    assert max_difference(got.logits, expected.logits) < PARITY_TOLERANCE
    assert abs(got.loss.item() - expected.loss.item()) < PARITY_TOLERANCE
    assert got[0] is got.logits
    with torch.no_grad():
        assert ours(**batch).loss is None


@pytest.mark.parametrize("name", ["tiny", "no_pooler"])
def test_our_weights_load_into_transformers_with_the_same_outputs(name):
    config = CONFIGS[name]
    torch.manual_seed(3)
    ours_body, ours_mlm = BertModel(config).eval(), BertForMaskedLM(config).eval()
    with torch.no_grad():
        for parameter in [*ours_body.parameters(), *ours_mlm.parameters()]:
            parameter.add_(0.05 * torch.randn_like(parameter))
    theirs_body = hf_bert_model(config).eval()
    theirs_mlm = transformers.BertForMaskedLM(hf_config(config)).eval()
    theirs_body.load_state_dict(ours_body.state_dict(), strict=True)
    theirs_mlm.load_state_dict(ours_mlm.state_dict(), strict=True)
    batch = padded_batch(config)
    with torch.no_grad():
        assert (
            max_difference(ours_body(**batch).last_hidden_state, theirs_body(**batch).last_hidden_state)
            < PARITY_TOLERANCE
        )
        assert max_difference(ours_mlm(**batch).logits, theirs_mlm(**batch).logits) < PARITY_TOLERANCE


def test_explicit_position_ids_match_transformers():
    torch.manual_seed(4)
    theirs = hf_bert_model(TINY).eval()
    ours = BertModel(TINY).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    batch = padded_batch(TINY)
    position_ids = torch.arange(10, 17).expand(3, -1)
    with torch.no_grad():
        expected = theirs(**batch, position_ids=position_ids).last_hidden_state
        got = ours(**batch, position_ids=position_ids).last_hidden_state
        default = ours(**batch).last_hidden_state
    assert max_difference(got, expected) < PARITY_TOLERANCE
    assert max_difference(got, default) > 1e-3


def test_fully_masked_sequence_stays_finite():
    model = BertModel(TINY).eval()
    input_ids = torch.randint(1, TINY.vocab_size, (2, 5), generator=torch.Generator().manual_seed(5))
    attention_mask = torch.tensor([[1, 1, 1, 0, 0], [0, 0, 0, 0, 0]])
    with torch.no_grad():
        out = model(input_ids, attention_mask=attention_mask)
    assert torch.isfinite(out.last_hidden_state).all()
    assert torch.isfinite(out.pooler_output).all()


def test_padding_does_not_change_the_real_tokens():
    model = BertModel(TINY).eval()
    input_ids = torch.randint(1, TINY.vocab_size, (1, 4), generator=torch.Generator().manual_seed(6))
    padded_ids = torch.cat([input_ids, torch.zeros(1, 3, dtype=torch.long)], dim=1)
    padded_mask = torch.tensor([[1, 1, 1, 1, 0, 0, 0]])
    with torch.no_grad():
        alone = model(input_ids).last_hidden_state
        padded = model(padded_ids, attention_mask=padded_mask).last_hidden_state[:, :4]
    assert max_difference(padded, alone) < PARITY_TOLERANCE


# --------------------------------------------------------------------------------------------------
# Tying, initialisation, dropout


def test_decoder_weight_and_bias_are_tied():
    model = BertForMaskedLM(TINY)
    predictions = model.cls.predictions
    assert predictions.decoder.weight is model.bert.embeddings.word_embeddings.weight
    assert predictions.decoder.bias is predictions.bias
    assert model.bert.pooler is None
    assert model.config.use_pooler is True and model.bert.config.use_pooler is False


def test_fresh_model_is_initialised_like_bert():
    config = dataclasses.replace(TINY, hidden_size=64, num_attention_heads=4, vocab_size=500)
    model = BertForMaskedLM(config)
    embeddings = model.bert.embeddings
    word_std = embeddings.word_embeddings.weight[1:].std().item()
    assert 0.018 < word_std < 0.022
    assert torch.all(embeddings.word_embeddings.weight[config.pad_token_id] == 0)
    query = model.bert.encoder.layer[0].attention.self.query
    assert 0.018 < query.weight.std().item() < 0.022
    assert torch.all(query.bias == 0)
    assert torch.all(embeddings.LayerNorm.weight == 1) and torch.all(embeddings.LayerNorm.bias == 0)
    assert torch.all(model.cls.predictions.bias == 0)


def test_dropout_probabilities_come_from_the_config():
    config = dataclasses.replace(TINY, hidden_dropout_prob=0.2, attention_probs_dropout_prob=0.3)
    model = BertModel(config)
    attention_dropouts = [layer.attention.self.dropout.p for layer in model.encoder.layer]
    assert attention_dropouts == [0.3] * config.num_hidden_layers
    assert model.embeddings.dropout.p == 0.2
    assert model.encoder.layer[0].output.dropout.p == 0.2
    assert model.encoder.layer[0].attention.output.dropout.p == 0.2

    batch = padded_batch(config)
    with torch.no_grad():
        model.train()
        first, second = model(**batch).last_hidden_state, model(**batch).last_hidden_state
        model.eval()
        third, fourth = model(**batch).last_hidden_state, model(**batch).last_hidden_state
    assert max_difference(first, second) > 1e-3
    assert torch.equal(third, fourth)


def test_dropout_sits_where_transformers_puts_it():
    config = dataclasses.replace(TINY, hidden_dropout_prob=0.2, attention_probs_dropout_prob=0.3)
    torch.manual_seed(7)
    theirs = transformers.BertForMaskedLM(hf_config(config, "eager")).train()
    ours = BertForMaskedLM(config).train()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    batch = padded_batch(config)
    with torch.no_grad():
        torch.manual_seed(8)
        expected = theirs(**batch).logits
        torch.manual_seed(8)
        got = ours(**batch).logits
    assert max_difference(got, expected) < PARITY_TOLERANCE


def test_hidden_size_not_divisible_by_heads_is_rejected():
    with pytest.raises(ValueError, match="multiple"):
        BertConfig(hidden_size=30, num_attention_heads=4)


# --------------------------------------------------------------------------------------------------
# Parameter counts, on the meta device


def test_bert_base_counts():
    with torch.device("meta"):
        body = BertModel(BertConfig())
        mlm = BertForMaskedLM(BertConfig())
        distilbert_shaped = BertModel(BertConfig(num_hidden_layers=6, type_vocab_size=0, use_pooler=False))
    assert count(body) == 109_482_240
    assert count(mlm) == 109_514_298
    assert count(distilbert_shaped) == 66_362_880


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_counts_match_transformers_for_random_configs(seed):
    generator = torch.Generator().manual_seed(seed)

    def draw(low: int, high: int) -> int:
        return int(torch.randint(low, high + 1, (1,), generator=generator))

    num_attention_heads = draw(1, 8)
    config = BertConfig(
        vocab_size=draw(50, 5000),
        hidden_size=num_attention_heads * draw(2, 40),
        num_hidden_layers=draw(1, 6),
        num_attention_heads=num_attention_heads,
        intermediate_size=draw(10, 700),
        max_position_embeddings=draw(16, 600),
        type_vocab_size=draw(0, 3),
        use_pooler=bool(draw(0, 1)),
    )
    with torch.device("meta"):
        ours_body, ours_mlm = BertModel(config), BertForMaskedLM(config)
        theirs_body = hf_bert_model(config)
        theirs_mlm = transformers.BertForMaskedLM(hf_config(config))
    assert count(ours_body) == count(theirs_body), config
    assert count(ours_mlm) == count(theirs_mlm), config
