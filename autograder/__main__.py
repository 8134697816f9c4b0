import os
import sys

from autograder.cli import main

code = main()
# Every file is written and closed by now: leave without the interpreter's teardown of torch and
# transformers, which takes over a second.
sys.stdout.flush()
sys.stderr.flush()
os._exit(code)
