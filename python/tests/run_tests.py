"""Runs python/tests with unittest and ends with one line CI reads: "python tests: N passed, N failed".

    python run_tests.py [-k PATTERN]
"""
import os
import sys
import time
import unittest


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    import bitttt
    print("bitttt from %s (ABI %d)" % (os.path.dirname(bitttt.__file__), bitttt.abi_version()), flush=True)
    loader = unittest.TestLoader()
    if "-k" in sys.argv:
        loader.testNamePatterns = ["*%s*" % sys.argv[sys.argv.index("-k") + 1]]
    suite = loader.discover(here, pattern="test_*.py", top_level_dir=here)
    start = time.time()
    result = unittest.TextTestRunner(stream=sys.stdout, verbosity=2).run(suite)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    passed = result.testsRun - failed - len(result.skipped)
    print("python tests: %d passed, %d failed, %d skipped (%.0f s)" % (passed, failed, len(result.skipped), time.time() - start))
    return 0 if failed == 0 and result.testsRun > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
