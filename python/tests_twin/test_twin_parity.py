"""The twin's logits against the managed engine (bit-llama logits) and the TorchSharp model (bit-llama logits
--engine torch) on the same weights: random and trained models, both TTT types, to 1e-4 of the largest logit."""
import os
import random
import unittest

import torch

import fixture
import twin_fixture as tf
from bitttt.torch import BitLlamaModel

TOLERANCE = 1e-4
torch.set_num_threads(1)


class ParityTests(unittest.TestCase):
    def check(self, path, model, label):
        ids = random.Random(7).choices(range(model.config.vocab_size), k=40)
        twin = tf.twin_logits(model, ids)
        for engine in ("managed", "torch"):
            other = tf.cli_logits(path, ids, engine)
            r = tf.relative(twin, other)
            print("  %s: twin vs %s: %.2e relative" % (label, engine, r))
            self.assertLessEqual(r, TOLERANCE, "%s: twin vs bit-llama logits --engine %s" % (label, engine))

    def random_case(self, ttt_type):
        directory = tf.scratch(self)
        model = tf.random_model(ttt_type, seed=3)
        path = os.path.join(directory, "random.bitt")
        model.save_bitt(path)
        self.check(path, model, "random " + ttt_type)

    def test_random_reconstruct_model_matches_engine_and_torchsharp(self):
        self.random_case("reconstruct")

    def test_random_delta_model_matches_engine_and_torchsharp(self):
        self.random_case("delta")

    def test_trained_reconstruct_model_matches_engine_and_torchsharp(self):
        path = os.path.join(fixture.tiny_model(), "model.bitt")
        self.check(path, BitLlamaModel.load(path), "trained reconstruct")

    def test_trained_delta_model_matches_engine_and_torchsharp(self):
        directory = fixture.tiny_delta_model()
        self.check(directory, BitLlamaModel.load(directory), "trained delta")


class ReferenceTests(unittest.TestCase):
    """The twin's parallel TTT forms against the plain recurrences of docs/model.md §3a/§3b, on odd sizes."""

    def test_delta_chunk_form_equals_the_token_loop(self):
        from bitttt.torch import chunk_blocks
        torch.manual_seed(2)
        for batch, heads, time, dh, chunk in ((1, 1, 1, 3, 1), (2, 3, 13, 5, 4), (1, 2, 17, 7, 17), (2, 1, 9, 4, 2)):
            q, k = [torch.nn.functional.normalize(torch.randn(batch, heads, time, dh, dtype=torch.float64), dim=-1) for _ in range(2)]
            v = torch.randn(batch, heads, time, dh, dtype=torch.float64)
            beta = torch.rand(batch, heads, time, dtype=torch.float64) * 1.5
            s0 = torch.randn(batch, heads, dh, dh, dtype=torch.float64) * 0.3
            s, outs = s0.clone(), []
            for t in range(time):                                    # S ← S − β (S k − v) kᵀ, then o = S q
                kt, vt, qt, bt = k[:, :, t], v[:, :, t], q[:, :, t], beta[:, :, t, None, None]
                s = s - bt * ((s @ kt[..., None]) - vt[..., None]) @ kt[..., None, :]
                outs.append((s @ qt[..., None])[..., 0])
            n = (time + chunk - 1) // chunk
            pad = n * chunk - time

            def blocks(x):
                return torch.nn.functional.pad(x, [0, 0, 0, pad]).reshape(batch, heads, n, chunk, dh)
            b = torch.nn.functional.pad(beta, [0, pad]).reshape(batch, heads, n, chunk, 1)
            o, s_end = chunk_blocks(blocks(q), blocks(k), blocks(v), b, s0)
            o = o.reshape(batch, heads, n * chunk, dh)[:, :, :time]
            self.assertLessEqual(float((o - torch.stack(outs, 2)).abs().max()), 1e-10, (batch, heads, time, dh, chunk))
            self.assertLessEqual(float((s_end - s).abs().max()), 1e-10)

    def test_reconstruct_dual_form_equals_the_token_rule(self):
        from bitttt.torch import ReconstructTttLayer
        torch.manual_seed(4)
        for time, d, chunk in ((1, 3, 1), (11, 5, 4), (9, 4, 9), (7, 6, 1)):
            layer = ReconstructTttLayer(tf.ModelConfig(vocab_size=5, hidden_dim=4 * d, num_layers=1, inner_lr=0.4, ttt_chunk=chunk))
            layer.inner_lr = 0.4
            k = torch.nn.functional.normalize(torch.randn(2, time, d, dtype=torch.float64), dim=-1)
            pred, _ = layer.dual_form(k, None)
            w, g, rows = torch.zeros(2, d, d, dtype=torch.float64), torch.zeros(2, d, d, dtype=torch.float64), []
            for t in range(time):                                    # pred = (W − ηG) k; G += (W k − k) kᵀ; full chunk: W −= ηG
                kt = k[:, t, :, None]
                rows.append(((w - 0.4 * g) @ kt)[..., 0])
                g = g + (w @ kt - kt) @ kt.transpose(1, 2)
                if (t + 1) % chunk == 0:
                    w, g = w - 0.4 * g, torch.zeros_like(g)
            self.assertLessEqual(float((pred - torch.stack(rows, 1)).abs().max()), 1e-10, (time, d, chunk))


class FileTests(unittest.TestCase):
    def test_files_round_trip_to_the_same_bytes(self):
        directory = tf.scratch(self)
        for ttt_type in ("reconstruct", "delta"):
            model = tf.random_model(ttt_type, seed=5)
            out = os.path.join(directory, ttt_type)
            model.save_directory(out, None)
            model.save_bitt(out + ".bitt")
            for path in (out, out + ".bitt"):
                again = BitLlamaModel.load(path)
                self.assertEqual(again.config.to_dict(), model.config.to_dict())
                for (name, a), (_, b) in zip(model.state_dict().items(), again.state_dict().items()):
                    self.assertTrue(torch.equal(a, b), "%s: %s" % (path, name))

    def test_segments_equal_the_whole_sequence(self):
        for ttt_type in ("reconstruct", "delta"):
            model = tf.random_model(ttt_type, seed=11)
            ids = torch.randint(0, model.config.vocab_size, (2, 23))
            with torch.no_grad():
                whole = model(ids)
                state, parts = None, []
                for a, b in ((0, 3), (3, 4), (4, 13), (13, 23)):
                    logits, state = model.forward_state(ids[:, a:b], state)
                    parts.append(logits)
            self.assertLessEqual(tf.relative(torch.cat(parts, 1), whole), 1e-5, ttt_type)

    def test_a_config_that_does_not_match_the_weights_names_the_tensor(self):
        directory = tf.scratch(self)
        model = tf.random_model("delta", seed=1)
        model.save_directory(directory, None)
        config = model.config.to_dict()
        config["hidden_dim"] = 48
        with open(os.path.join(directory, "config.json"), "w") as f:
            import json
            json.dump(config, f)
        with self.assertRaises(ValueError) as e:
            BitLlamaModel.load(directory)
        self.assertIn("embed.weight", str(e.exception))
        self.assertIn("[97, 48]", str(e.exception))


if __name__ == "__main__":
    unittest.main()
