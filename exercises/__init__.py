"""The solutions: the single source of truth from which the exercises are made."""
