"""Instructor side of the DistilBERT/RoBERTa exercise package: release, hidden graders, grading engine."""
