"""Every error path raises a Python exception with the engine's (.NET) message; nothing crashes."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import bitttt
import cortex_rust
import fixture
from bitttt import _native


class ErrorTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = fixture.tiny_model()
        cls.bitt = os.path.join(cls.dir, "model.bitt")
        cls.weights = os.path.join(cls.dir, "model.safetensors")
        with open(os.path.join(cls.dir, "config.json"), encoding="utf-8") as f:
            cls.config = json.load(f)
        cls.temp = tempfile.mkdtemp(prefix="bitttt-err-")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.temp, True)

    def write(self, name, data):
        path = os.path.join(self.temp, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def test_missing_file(self):
        missing = os.path.join(self.temp, "nope.bitt")
        with self.assertRaises(bitttt.ModelNotFoundError) as caught:
            bitttt.Llama.load_auto(missing)
        self.assertIn("nope.bitt: no such .bitt file or model directory", str(caught.exception))
        self.assertIsInstance(caught.exception, FileNotFoundError)
        with self.assertRaises(bitttt.ModelNotFoundError) as caught:
            bitttt.Llama.from_config(self.config, missing)
        self.assertIn("safetensors file not found", str(caught.exception))

    def test_bad_safetensors(self):
        garbage = self.write("garbage.safetensors", b"\xff" * 8 + b"not json at all")
        with self.assertRaises(bitttt.ModelFormatError) as caught:
            bitttt.Llama.from_config(self.config, garbage)
        self.assertIn("garbage.safetensors", str(caught.exception))

    def test_weights_that_do_not_match_the_config(self):
        wider = dict(self.config, hidden_dim=64, intermediate_dim=256)
        with self.assertRaises(bitttt.ModelFormatError) as caught:
            cortex_rust.BitLlama(cortex_rust.BitLlamaConfig.from_dict(wider), self.weights)
        self.assertIn("expected shape", str(caught.exception))

    def test_bad_config(self):
        with self.assertRaises(bitttt.ModelFormatError) as caught:
            cortex_rust.BitLlama(cortex_rust.BitLlamaConfig(300, 30, 1, 0.1), self.weights)
        self.assertIn("hidden_dim must be a positive multiple of 4, got 30", str(caught.exception))

    def test_wrong_handle_type_and_double_free(self):
        llama = bitttt.Llama.load_auto(self.bitt)
        session = llama.session()
        with self.assertRaises(bitttt.InvalidHandleError) as caught:
            _native.call("bitttt_session_reset", llama._handle)
        self.assertIn("is a model, expected a session", str(caught.exception))
        with self.assertRaises(bitttt.InvalidHandleError) as caught:
            _native.call("bitttt_model_free", session._handle)
        self.assertIn("is a session, expected a model", str(caught.exception))
        with self.assertRaises(bitttt.InvalidHandleError) as caught:
            _native.call("bitttt_model_free", 0x7FFF00001234)
        self.assertIn("is not a model handle this library issued", str(caught.exception))
        session.close()
        with self.assertRaises(bitttt.InvalidHandleError) as caught:
            _native.call("bitttt_session_free", session._handle)
        self.assertIn("already freed", str(caught.exception))
        # A new session may reuse the slot; the old handle still does not reach it.
        other = llama.session()
        with self.assertRaises(bitttt.InvalidHandleError):
            session.feed([1])
        self.assertEqual(len(other.feed([1])), llama.vocab_size)
        other.close()
        llama.close()

    def test_closed_model_and_session(self):
        llama = bitttt.Llama.load_auto(self.bitt)
        survivor = llama.session()
        llama.forward(1)
        llama.close()
        llama.close()   # closing twice is harmless in Python; the native double free is tested above
        for call in (lambda: llama.complete("Call me", max_tokens=3), lambda: llama.session(),
                     lambda: llama.encode("x"), lambda: llama.forward(1)):
            with self.assertRaises(bitttt.InvalidHandleError) as caught:
                call()
            self.assertIn("was already freed", str(caught.exception))
        # Sessions keep the weights alive after their model's handle is freed.
        self.assertEqual(len(survivor.feed([1, 2])), 300)
        survivor.close()
        with self.assertRaises(bitttt.InvalidHandleError):
            survivor.reset()

    def test_out_of_range_token_ids(self):
        with bitttt.Llama.load_auto(self.bitt) as llama, llama.session() as s:
            for bad in (300, 10 ** 6, -1):
                with self.assertRaises(bitttt.InvalidArgumentError) as caught:
                    s.forward(bad)
                self.assertIn("token id %d at position 0 is outside the vocabulary [0, 300)" % bad, str(caught.exception))
            self.assertEqual(s.position, 0)   # nothing was fed
            with self.assertRaises(bitttt.InvalidArgumentError):
                s.forward(2 ** 40)
            with self.assertRaises(bitttt.InvalidArgumentError) as caught:
                llama.decode([5, 300])
            self.assertIn("300", str(caught.exception))
            with self.assertRaises(TypeError):
                s.forward("42")
            with self.assertRaises(TypeError):
                s.feed("abc")

    def test_generation_arguments(self):
        with bitttt.Llama.load_auto(self.bitt) as llama, llama.session() as s:
            with self.assertRaises(bitttt.InvalidArgumentError) as caught:
                s.complete("Call me", max_tokens=-5)
            self.assertIn("max_tokens must be positive, got -5", str(caught.exception))   # the keyword's name
            with self.assertRaises(bitttt.InvalidArgumentError) as caught:
                s.complete("Call me", top_p=1.5)
            self.assertIn("top_p must be in (0, 1] (1 = off), got 1.5", str(caught.exception))
            with self.assertRaises(bitttt.InvalidArgumentError) as caught:
                s.complete("Call me", stop=[""])
            self.assertIn("stop must not contain null or empty strings", str(caught.exception))
            with self.assertRaises(TypeError):
                s.complete(42)
            with self.assertRaises(TypeError):
                s.complete(b"Call me")
            with self.assertRaises(TypeError):
                s.stream_completion(None, 5, 0.0, print)
            with self.assertRaises(TypeError):
                s.complete("Call me", max_tokens=2.5)
            with self.assertRaises(bitttt.InvalidArgumentError) as caught:
                s.complete("\ud800 lone surrogate", max_tokens=2)
            self.assertIn("prompt is not valid UTF-8", str(caught.exception))
            with self.assertRaises(bitttt.InvalidArgumentError) as caught:
                s.complete("", max_tokens=2)
            self.assertIn("the prompt is empty", str(caught.exception))
            self.assertEqual(s.position, 0)

    def test_text_needs_a_tokenizer(self):
        with bitttt.Llama.from_config(self.config, self.weights) as bare:
            self.assertEqual(len(bare.forward(3)), 300)
            for call in (lambda: bare.encode("x"), lambda: bare.complete("x"), lambda: bare.learn("x")):
                with self.assertRaises(bitttt.UnsupportedError) as caught:
                    call()
                self.assertIn("needs a tokenizer", str(caught.exception))
        with bitttt.Llama.from_config(self.config, self.weights, os.path.join(self.dir, "tokenizer.json")) as full, \
                bitttt.Llama.load_auto(self.bitt) as packed:
            self.assertEqual(full.complete("Call me", max_tokens=10, temperature=0),
                             packed.complete("Call me", max_tokens=10, temperature=0))

    def test_bad_memory_files(self):
        with bitttt.Llama.load_auto(self.bitt) as llama, llama.session() as s:
            with self.assertRaises(bitttt.ModelNotFoundError):
                s.load_memory(os.path.join(self.temp, "none.bttm"))
            junk = self.write("junk.bttm", b"NOPE" + b"\0" * 40)
            with self.assertRaises(bitttt.ModelFormatError) as caught:
                s.load_memory(junk)
            self.assertIn("expected magic \"BTTM\"", str(caught.exception))
            good = os.path.join(self.temp, "good.bttm")
            s.learn("Call me Ishmael.")
            s.save_memory(good)
            with open(good, "rb") as f:
                data = f.read()
            with self.assertRaises(bitttt.ModelFormatError):
                s.load_memory(self.write("short.bttm", data[: len(data) // 2]))

    def test_corrupt_model_files_raise_and_never_crash(self):
        """Each corruption is loaded in a child process, so a crash would show as a failure, not kill the runner."""
        with open(self.bitt, "rb") as f:
            good = f.read()
        header_len = int.from_bytes(good[4:12], "little")
        body = 12 + header_len
        cases = {
            "empty": b"",
            "magic": b"BITX" + good[4:],
            "header-length-huge": good[:4] + (2 ** 63).to_bytes(8, "little") + good[12:],
            "header-not-json": good[:12] + b"{" * header_len + good[body:],
            "truncated-in-header": good[: 12 + header_len // 2],
            "truncated-in-body": good[: body + (len(good) - body) // 2],
            "body-header-length": good[:body] + (len(good) * 4).to_bytes(8, "little") + good[body + 8:],
            "body-json-garbage": good[: body + 8] + b"\x00" * 64 + good[body + 72:],
        }
        paths = {name: self.write(name + ".bitt", data) for name, data in cases.items()}
        script = (
            "import sys, json, bitttt\n"
            "out = {}\n"
            "for name, path in json.loads(sys.argv[1]).items():\n"
            "    try:\n"
            "        bitttt.Llama.load_auto(path).close(); out[name] = 'loaded'\n"
            "    except bitttt.BitTttError as e:\n"
            "        out[name] = type(e).__name__ + ': ' + str(e)\n"
            "print(json.dumps(out))\n")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        result = subprocess.run([sys.executable, "-c", script, json.dumps(paths)], capture_output=True, text=True, env=env)
        self.assertEqual(result.returncode, 0, "the child process died: %s" % result.stderr[-2000:])
        outcome = json.loads(result.stdout)
        for name in cases:
            self.assertRegex(outcome[name], r"^(ModelFormatError|ModelNotFoundError): .+", name)
        self.assertIn("expected magic 'BITT'", outcome["magic"])
        self.assertIn("exceeds", outcome["header-length-huge"])


if __name__ == "__main__":
    unittest.main()


def _use_inherited_model(llama, queue):
    try:
        llama.complete("Call me", max_tokens=3)
        queue.put("no error")
    except bitttt.BitTttError as e:
        queue.put(str(e))


class ForkTests(unittest.TestCase):
    @unittest.skipUnless(hasattr(os, "fork"), "fork is POSIX only")
    def test_a_forked_child_gets_a_clear_error_instead_of_hanging(self):
        import multiprocessing
        ctx = multiprocessing.get_context("fork")
        with bitttt.Llama.load_auto(os.path.join(fixture.tiny_model(), "model.bitt")) as llama:
            llama.forward(1)
            queue = ctx.Queue()
            child = ctx.Process(target=_use_inherited_model, args=(llama, queue))
            child.start()
            child.join(60)
            if child.is_alive():
                child.kill()
                self.fail("the forked child hung")
            self.assertIn("cannot run in a forked child", queue.get(timeout=5))
            self.assertEqual(len(llama.forward(2)), 300)   # the parent is unaffected
