"""Exercises for the lesson "DistilBERT and RoBERTa": five functions to write, one file each.

``ex1_softmax.py`` to ``ex5_params.py`` hold them, each with a ``TODO(exN)``. Check your work with
``pytest exercises`` (or ``pytest exercises -m exN`` for one), or let ``python -m exercises.watch`` check
it each time you save; ``python -m exercises.hints exN`` gives a hint, and ``python -m exercises.handin
STUDENT_ID`` packs your files for grading.
"""
