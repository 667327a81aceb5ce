"""Runs the PyTorch twin's tests (python/tests_twin) and ends with one line CI reads: "twin tests: N passed, N failed".

    python run_tests.py [-k PATTERN]

Needs PyTorch (>= 1.13, Debian's python3-torch) and the bitttt package with its native library (the wheel, or
PYTHONPATH=python after python/build.sh). A missing torch is a failure, not a skip: CI installs it.
"""
import os
import sys
import time
import unittest


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    sys.path.append(os.path.join(os.path.dirname(here), "tests"))   # fixture.py: the tiny models bit-llama trains
    import torch
    import bitttt
    print("bitttt from %s, torch %s from %s" % (os.path.dirname(bitttt.__file__), torch.__version__, os.path.dirname(torch.__file__)), flush=True)
    loader = unittest.TestLoader()
    if "-k" in sys.argv:
        loader.testNamePatterns = ["*%s*" % sys.argv[sys.argv.index("-k") + 1]]
    suite = loader.discover(here, pattern="test_*.py", top_level_dir=here)
    start = time.time()
    result = unittest.TextTestRunner(stream=sys.stdout, verbosity=2).run(suite)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    passed = result.testsRun - failed - len(result.skipped)
    print("twin tests: %d passed, %d failed, %d skipped (%.0f s)" % (passed, failed, len(result.skipped), time.time() - start))
    return 0 if failed == 0 and not result.skipped and result.testsRun > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
