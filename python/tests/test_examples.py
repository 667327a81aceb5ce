"""The examples in python/examples run with only the installed package."""
import os
import subprocess
import sys
import unittest

import fixture

EXAMPLES = os.path.join(fixture.REPO, "python", "examples")


class ExampleTests(unittest.TestCase):
    def run_example(self, *args):
        result = subprocess.run([sys.executable] + list(args), capture_output=True, text=True, cwd=os.path.dirname(fixture.REPO))
        self.assertEqual(result.returncode, 0, result.stderr[-2000:])
        return result.stdout

    def test_seed_api_example(self):
        out = self.run_example(os.path.join(EXAMPLES, "seed_api.py"), fixture.tiny_model())
        self.assertRegex(out, r"vocab 300, next token after 42: \d+")

    def test_generate_example(self):
        out = self.run_example(os.path.join(EXAMPLES, "generate.py"), os.path.join(fixture.tiny_model(), "model.bitt"), "Call me", "10")
        self.assertTrue(out.startswith("Call me"))


if __name__ == "__main__":
    unittest.main()
