"""Grading on a platform: the Gradescope autograder bundle, a PrairieLearn external grader, and the CSV
files Canvas's and Moodle's gradebooks import (one module each)."""
