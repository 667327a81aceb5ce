"""Runs the PyTorch twin's tests (python/tests_twin) and ends with one line CI reads: "twin tests: N passed, N failed".

    python run_tests.py [-k PATTERN]

Needs PyTorch (>= 1.13, Debian's python3-torch) and the bitttt package with its native library (the wheel, or
PYTHONPATH=python after python/build.sh). A missing torch is a failure, not a skip: CI installs it.
"""
import os
import sys


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    sys.path.append(os.path.join(os.path.dirname(here), "tests"))   # fixture.py and the runner of python/tests
    import torch
    import bitttt
    from unittest_runner import run
    print("bitttt from %s, torch %s from %s" % (os.path.dirname(bitttt.__file__), torch.__version__, os.path.dirname(torch.__file__)), flush=True)
    return run(here, "twin tests", allow_skips=False)


if __name__ == "__main__":
    sys.exit(main())
