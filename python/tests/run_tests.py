"""Runs python/tests with unittest and ends with one line CI reads: "python tests: N passed, N failed".

    python run_tests.py [-k PATTERN]
"""
import os
import sys


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    import bitttt
    print("bitttt from %s (ABI %d)" % (os.path.dirname(bitttt.__file__), bitttt.abi_version()), flush=True)
    from unittest_runner import run
    return run(here, "python tests")


if __name__ == "__main__":
    sys.exit(main())
