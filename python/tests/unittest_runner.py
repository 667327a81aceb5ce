"""The one test runner of python/tests and python/tests_twin: unittest discovery and the summary line CI reads."""
import sys
import time
import unittest


def run(here, label, allow_skips=True):
    """Discovers test_*.py in `here`, runs them (-k PATTERN from the command line), prints "<label>: N passed, N failed,
    N skipped" and returns the exit code: 1 on a failure, on no tests, or on a skip when skips are not allowed."""
    loader = unittest.TestLoader()
    if "-k" in sys.argv:
        loader.testNamePatterns = ["*%s*" % sys.argv[sys.argv.index("-k") + 1]]
    suite = loader.discover(here, pattern="test_*.py", top_level_dir=here)
    start = time.time()
    result = unittest.TextTestRunner(stream=sys.stdout, verbosity=2).run(suite)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    passed = result.testsRun - failed - len(result.skipped)
    print("%s: %d passed, %d failed, %d skipped (%.0f s)" % (label, passed, failed, len(result.skipped), time.time() - start))
    return 0 if failed == 0 and (allow_skips or not result.skipped) and result.testsRun > 0 else 1
