"""Python logits equal the managed engine's (`bit-llama logits`), through every way of loading."""
import json
import os
import unittest

import bitttt
import cortex_rust
import fixture

TOLERANCE = 1e-5


def max_abs_diff(a, b):
    assert len(a) == len(b), "lengths differ: %d vs %d" % (len(a), len(b))
    return max(abs(float(x) - float(y)) for x, y in zip(a, b))


class ParityTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = fixture.tiny_model()
        cls.bitt = os.path.join(cls.dir, "model.bitt")
        with bitttt.Llama.load_auto(cls.bitt) as llama:
            cls.ids = llama.encode(fixture.corpus_text())[:40]
        assert len(cls.ids) == 40, "the corpus excerpt should give 40 tokens"
        cls.reference = fixture.reference_logits(cls.bitt, cls.ids)

    def test_logits_equal_the_managed_engine_token_by_token(self):
        with bitttt.Llama.load_auto(self.bitt) as llama, llama.session() as s:
            rows = [s.forward(t) for t in self.ids]
        worst = max(max_abs_diff(r, ref) for r, ref in zip(rows, self.reference))
        self.assertLessEqual(worst, TOLERANCE, "largest |python - bit-llama logits| over 40 positions")
        self.assertEqual(len(rows[0]), 300)

    def test_sequence_at_once_equals_the_last_reference_row(self):
        with bitttt.Llama.load_auto(self.dir) as llama, llama.session() as s:   # the model directory this time
            last = s.feed(self.ids)
            self.assertEqual(s.position, 40)
        self.assertLessEqual(max_abs_diff(last, self.reference[-1]), TOLERANCE)

    def test_seed_api_forward_matches_reference_and_feeding_at_once(self):
        with open(os.path.join(self.dir, "config.json"), encoding="utf-8") as f:
            trained = json.load(f)
        # The seed's positional signature plus keyword fields, built in Python (not read from the file).
        config = cortex_rust.BitLlamaConfig(trained["vocab_size"], trained["hidden_dim"], trained["num_layers"],
                                            trained["inner_lr"], intermediate_dim=trained["intermediate_dim"],
                                            ttt_chunk=trained["ttt_chunk"], ttt_type="reconstruct")
        with cortex_rust.BitLlama(config, os.path.join(self.dir, "model.safetensors"), device="cpu") as model:
            one_by_one = [model.forward(token_id=t) for t in self.ids]
            model.reset_state()
            at_once = model.forward_tokens(self.ids)
        worst = max(max_abs_diff(r, ref) for r, ref in zip(one_by_one, self.reference))
        self.assertLessEqual(worst, TOLERANCE)
        self.assertLessEqual(max_abs_diff(one_by_one[-1], at_once), TOLERANCE)

    def test_seed_config_defaults_are_reconstruct(self):
        config = cortex_rust.BitLlamaConfig(16384, 256, 8, 0.1)
        self.assertEqual(config.to_dict(), {"vocab_size": 16384, "hidden_dim": 256, "num_layers": 8, "inner_lr": 0.1})
        with open(os.path.join(self.dir, "config.json"), encoding="utf-8") as f:
            trained = json.load(f)
        with bitttt.Llama.from_config(trained, os.path.join(self.dir, "model.safetensors")) as llama:
            self.assertEqual(llama.config["ttt_type"], "reconstruct")
            self.assertFalse(llama.has_tokenizer)

    def test_delta_model_logits_equal_the_managed_engine(self):
        """The delta-rule layer (docs/model.md §3b), trained by `bit-llama train` with its default type."""
        path = os.path.join(fixture.tiny_delta_model(), "model.bitt")
        with bitttt.Llama.load_auto(path) as llama:
            self.assertEqual(llama.config["ttt_type"], "delta")
            ids = llama.encode(fixture.corpus_text())[:40]
            reference = fixture.reference_logits(path, ids)
            with llama.session() as s:
                rows = [s.forward(t) for t in ids]
            with llama.session() as s:
                at_once = s.feed(ids)
        worst = max(max_abs_diff(r, ref) for r, ref in zip(rows, reference))
        self.assertLessEqual(worst, TOLERANCE, "largest |python - bit-llama logits| over 40 positions, delta")
        self.assertLessEqual(max_abs_diff(rows[-1], at_once), TOLERANCE)

    def test_cuda_without_pytorch_is_a_clear_error(self):
        # This stage's venv has no PyTorch (python/tests_twin runs the twin where it is installed).
        with self.assertRaises(ImportError):
            import torch  # noqa: F401
        config = cortex_rust.BitLlamaConfig.from_json_file(os.path.join(self.dir, "config.json"))
        with self.assertRaises(ValueError) as caught:
            cortex_rust.BitLlama(config, os.path.join(self.dir, "model.safetensors"), device="cuda")
        self.assertIn("runs on the CPU only", str(caught.exception))
        self.assertIn("PyTorch is not installed", str(caught.exception))

    def test_logits_type(self):
        with bitttt.Llama.load_auto(self.bitt) as llama:
            logits = llama.forward(self.ids[0])
        try:
            import numpy
            self.assertIsInstance(logits, numpy.ndarray)
            self.assertEqual(str(logits.dtype), "float32")
        except ImportError:
            from array import array
            self.assertIsInstance(logits, array)
            self.assertEqual(logits.typecode, "f")


if __name__ == "__main__":
    unittest.main()
