"""DistilBERT in miniature, end to end, on your own five functions.

``python -m exercises.distil [--quick | --long] [--out DIR] [--seed N]``

The DistilBERT paper (Sanh et al. 2019, arXiv:1910.01108) pretrained nothing itself: it took BERT-base,
kept one layer out of two, and trained that student on BERT's soft targets at T = 2 plus the masked
language-model loss. The student had 60% of the parameters, ran 60% faster and kept 97% of BERT's GLUE
score. This command does the same thing at a size a laptop trains in minutes:

1. **Text**: the Python reference manual that ships with Python (``pydoc_data.topics``, about 65,000
   words of technical English), split by topic into training and held-out text. A WordPiece vocabulary
   with BERT's special tokens is trained on the training text with Hugging Face ``tokenizers``.
2. **Teacher**: the given ``BertForMaskedLM`` (6 layers, hidden size 128), pretrained by masked language
   modelling with your ``DynamicMasker`` (ex4): a fresh mask on every batch, as RoBERTa does.
3. **Student**: your ``halve_layers`` (ex3) on the teacher, trained with your ``student_loss`` (ex2) at
   T = 2, with DistilBERT's weights (5 on the soft targets, 2 on the labels: ``alpha = 5 / 7``).
4. **Ablations**, the paper's: the same student shape from random weights with the same loss, and the
   halved student trained on the labels alone. ``--long`` adds RoBERTa's: a teacher pretrained with one
   static mask per sequence, repeated every epoch.
5. **The table**: parameters (your ``count_parameters``, ex5), CPU time per batch (median of repeated
   runs), held-out masked-token accuracy and perplexity, each also as a share of the teacher's, beside
   the paper's figures. Written to ``DIR/table.md`` and printed; learning curves in ``DIR/curves.png``;
   every number in ``DIR/results.json``. Your ``softmax_with_temperature`` (ex1) shows what the teacher's
   soft targets look like at T = 1 and T = 2.

Before training, the visible checks of the five exercises run once; an exercise that is not done stops
the run with one line saying what it is needed for and which file to open.

A run repeats: every random draw comes from generators seeded by ``--seed``, the data order is fixed
and torch uses at most 2 threads. The default run takes a few minutes on 2 CPU cores, ``--quick`` under
a minute, ``--long`` about five times the default. Dropout is off: each model sees its text only a few
times, so it underfits rather than overfits, and dropout would only slow its learning.
"""
