"""The hidden graders: one pytest file per exercise. Never shipped to learners."""
