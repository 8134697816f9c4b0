"""Templates of the learner bundle (README.md, pyproject.toml), written out by ``autograder.release``."""
