"""The solution's ``DynamicMasker`` against ``transformers``' ``DataCollatorForLanguageModeling``.

Both mask the same batches of 256 rows of 512 tokens (the Python reference manual, tokenized with the
WordPiece vocabulary ``python -m solutions.distil`` trains, loaded into a ``BertTokenizer``, backed by
``tokenizers`` in transformers 5; nothing is downloaded), and both work out which tokens are special
themselves: the masker with ``torch.isin`` on its special ids, the collator with the tokenizer's
``get_special_tokens_mask`` row by row (what it does when no ``special_tokens_mask`` is passed in). The
collator masks its input in place, so it gets a copy each time, and the copy is timed with it. Prints
the median time of each, tokens per second and the ratio.

    python benchmarks/bench_masking.py [--repeats N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch
from transformers import BertTokenizer, DataCollatorForLanguageModeling

from solutions.distil.settings import MAX_THREADS, SPECIAL_TOKENS
from solutions.distil.text import reference_manual_topics, rows_of, train_wordpiece
from solutions.ex4_masking import DynamicMasker

ROWS, SEQ_LEN, VOCAB_SIZE = 256, 512, 4096


def batch_of_text(tokenizer) -> torch.Tensor:
    """256 rows of 512 tokens of the reference manual (the text repeats when it runs out)."""
    train_texts, held_out_texts = reference_manual_topics()
    rows = rows_of(tokenizer, train_texts + held_out_texts, SEQ_LEN)
    repeats = -(-ROWS // rows.shape[0])
    return rows.repeat(repeats, 1)[:ROWS].contiguous()


def median_seconds(call, repeats: int) -> float:
    call()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="timed calls of each (default 15)")
    arguments = parser.parse_args()
    torch.set_num_threads(min(MAX_THREADS, torch.get_num_threads()))

    train_texts, _ = reference_manual_topics()
    tokenizer = train_wordpiece(train_texts, VOCAB_SIZE)
    with tempfile.TemporaryDirectory() as folder:
        tokenizer.model.save(folder)
        hf_tokenizer = BertTokenizer.from_pretrained(folder)
    assert len(hf_tokenizer) == VOCAB_SIZE and hf_tokenizer.convert_tokens_to_ids(list(SPECIAL_TOKENS)) == [
        tokenizer.token_to_id(token) for token in SPECIAL_TOKENS
    ]
    batch = batch_of_text(tokenizer)

    masker = DynamicMasker(
        len(hf_tokenizer), hf_tokenizer.mask_token_id, hf_tokenizer.all_special_ids, mlm_probability=0.15
    )
    generator = torch.Generator().manual_seed(0)
    collator = DataCollatorForLanguageModeling(hf_tokenizer, mlm_probability=0.15, seed=0)

    ours = median_seconds(lambda: masker(batch, generator=generator), arguments.repeats)
    theirs = median_seconds(lambda: collator.torch_mask_tokens(batch.clone()), arguments.repeats)
    rows = batch.tolist()
    special_mask_only = median_seconds(
        lambda: [hf_tokenizer.get_special_tokens_mask(row, already_has_special_tokens=True) for row in rows],
        arguments.repeats,
    )
    _, our_labels = masker(batch, generator=generator)
    _, their_labels = collator.torch_mask_tokens(batch.clone())

    tokens = batch.numel()
    print(
        f"{ROWS} x {SEQ_LEN} tokens, vocabulary {len(hf_tokenizer)}, {torch.get_num_threads()} threads, "
        f"median of {arguments.repeats}"
    )
    print(f"{'':42} {'ms / batch':>10} {'M tokens / s':>13} {'selected':>9}")
    print(
        f"{'solution DynamicMasker':42} {ours * 1e3:10.1f} {tokens / ours / 1e6:13.2f} "
        f"{(our_labels != -100).float().mean():9.1%}"
    )
    print(
        f"{'DataCollatorForLanguageModeling':42} {theirs * 1e3:10.1f} {tokens / theirs / 1e6:13.2f} "
        f"{(their_labels != -100).float().mean():9.1%}"
    )
    print(f"{'  of which get_special_tokens_mask per row':42} {special_mask_only * 1e3:10.1f}")
    print(f"ratio: the masker is {theirs / ours:.1f}x the collator's speed")


if __name__ == "__main__":
    main()
