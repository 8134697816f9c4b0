"""The text: Python's reference manual as a corpus, a WordPiece vocabulary trained on it, rows of ids."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from .settings import HELD_OUT_EVERY, HELD_OUT_OFFSET, SPECIAL_TOKENS, DistilError, Settings


@dataclass
class Corpus:
    """Token ids of the training and held-out text, cut into ``[CLS] ... [SEP]`` rows of ``seq_len``."""

    train: Tensor
    held_out: Tensor
    vocab_size: int
    mask_token_id: int
    special_token_ids: list[int]
    train_words: int
    held_out_words: int
    tokens: list[str]
    """The vocabulary, in id order."""


def reference_manual_topics() -> tuple[list[str], list[str]]:
    """The Python reference manual's topics (``pydoc_data.topics``): (training texts, held-out texts)."""
    try:
        from pydoc_data.topics import topics
    except ImportError as exc:
        raise DistilError(
            "this Python has no pydoc_data.topics (the reference manual's text this command trains on)"
        ) from exc
    names = sorted(topics)
    held_out = set(names[HELD_OUT_OFFSET::HELD_OUT_EVERY])
    train_texts = [topics[name] for name in names if name not in held_out]
    held_out_texts = [topics[name] for name in names if name in held_out]
    return train_texts, held_out_texts


def train_wordpiece(texts: Sequence[str], vocab_size: int):
    """A BERT-style WordPiece tokenizer (lower case, BERT's pre-tokenizer, special tokens) for ``texts``.

    The same texts give the same vocabulary every time. ``tokenizers``' trainer alone does not: it numbers
    the word-continuing pieces (``##e``) in hash-map order, and those numbers break ties between merges
    of equal count (huggingface/tokenizers issue 1794). Here every ``##`` character is numbered first, in
    sorted order, and the trained vocabulary is then loaded into a fresh tokenizer.
    """
    try:
        from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    except ImportError as exc:
        raise DistilError("Hugging Face tokenizers is not installed: pip install tokenizers") from exc

    def bert_style(model):
        tokenizer = Tokenizer(model)
        tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
        tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tokenizer.decoder = decoders.WordPiece()
        return tokenizer

    trainee = bert_style(models.WordPiece(unk_token="[UNK]"))
    continuing = set()
    for text in texts:
        normalized = trainee.normalizer.normalize_str(text)
        for word, _ in trainee.pre_tokenizer.pre_tokenize_str(normalized):
            continuing.update(word[1:])
    numbered_first = [*SPECIAL_TOKENS, *(f"##{character}" for character in sorted(continuing))]
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, special_tokens=numbered_first, show_progress=False
    )
    trainee.train_from_iterator(texts, trainer=trainer)
    tokenizer = bert_style(models.WordPiece(trainee.get_vocab(), unk_token="[UNK]"))
    tokenizer.add_special_tokens(list(SPECIAL_TOKENS))
    return tokenizer


def rows_of(tokenizer, texts: Sequence[str], seq_len: int) -> Tensor:
    """The texts' tokens cut into ``[CLS] ... [SEP]`` rows of ``seq_len``, a short rest dropped."""
    ids: list[int] = []
    for encoding in tokenizer.encode_batch(list(texts), add_special_tokens=False):
        ids.extend(encoding.ids)
    body = seq_len - 2
    count = len(ids) // body
    pieces = torch.tensor(ids[: count * body], dtype=torch.long).view(count, body)
    cls = torch.full((count, 1), tokenizer.token_to_id("[CLS]"), dtype=torch.long)
    sep = torch.full((count, 1), tokenizer.token_to_id("[SEP]"), dtype=torch.long)
    return torch.cat([cls, pieces, sep], dim=1)


def build_corpus(settings: Settings, out_dir: Path) -> Corpus:
    """Trains the vocabulary (written to ``out_dir/vocab.txt``) and tokenizes both splits."""
    train_texts, held_out_texts = reference_manual_topics()
    tokenizer = train_wordpiece(train_texts, settings.vocab_size)
    tokenizer.model.save(str(out_dir))
    special_ids = [tokenizer.token_to_id(token) for token in SPECIAL_TOKENS]
    return Corpus(
        train=rows_of(tokenizer, train_texts, settings.seq_len),
        held_out=rows_of(tokenizer, held_out_texts, settings.seq_len),
        vocab_size=tokenizer.get_vocab_size(),
        mask_token_id=tokenizer.token_to_id("[MASK]"),
        special_token_ids=[
            token_id for token_id in special_ids if token_id != tokenizer.token_to_id("[MASK]")
        ],
        train_words=sum(len(text.split()) for text in train_texts),
        held_out_words=sum(len(text.split()) for text in held_out_texts),
        tokens=[token for token, _ in sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])],
    )
