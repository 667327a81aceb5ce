"""python3 -m bitttt.train on one process and on two (DistributedDataParallel over gloo on 127.0.0.1, each rank its
own process with the env:// variables torchrun sets, one thread each): the same steps, resumes across world sizes,
files .NET loads, and bad input refused the same way on every rank."""
import json
import os
import random
import signal
import subprocess
import time
import unittest

import torch

import fixture
import twin_fixture as tf
from bitttt import _files
from bitttt.torch import BitLlamaModel

TOLERANCE = 1e-5


def losses(directory, after=0):
    """train_loss of metrics.csv's steps after `after`, in order."""
    with open(os.path.join(directory, "metrics.csv")) as f:
        rows = [line.split(",") for line in f.read().split()[1:]]
    return [float(r[2]) for r in rows if int(r[0]) > after]


def weights_relative(a, b):
    """The largest ‖a − b‖ / ‖a‖ over the tensors of two model files."""
    sa, sb = BitLlamaModel.load(a).state_dict(), BitLlamaModel.load(b).state_dict()
    return max(float((sa[k] - sb[k]).norm() / sa[k].norm().clamp_min(1e-30)) for k in sa)


class DdpTests(unittest.TestCase):
    def run_ok(self, args, world=1):
        results = tf.train(args, world)
        for rank, (code, out, err) in enumerate(results):
            self.assertEqual(code, 0, "rank %d of %d exited %d:\n%s\n%s" % (rank, world, code, out[-1500:], err[-3000:]))
        return results

    def same_run(self, one, two, label):
        a, b = losses(one), losses(two)
        self.assertEqual(len(a), len(b))
        loss = max(abs(x - y) / abs(x) for x, y in zip(a, b))
        weights = weights_relative(os.path.join(one, "model.bitt"), os.path.join(two, "model.bitt"))
        print("  %s: losses %.1e, weights %.1e relative" % (label, loss, weights))
        self.assertLessEqual(loss, TOLERANCE, label + ": losses")
        self.assertLessEqual(weights, TOLERANCE, label + ": weights")

    def two_vs_one(self, ttt_type):
        root = tf.scratch(self)
        data = tf.corpus(root)
        flags = tf.tiny_flags(data, "{out}", "--ttt-type", ttt_type)
        one, two = os.path.join(root, "one"), os.path.join(root, "two")
        self.run_ok([f.replace("{out}", one) for f in flags])
        results = self.run_ok([f.replace("{out}", two) for f in flags], world=2)
        self.assertIn("DistributedDataParallel over 2 processes (gloo), 2 windows each per step", results[0][2])
        self.assertEqual(results[1][1], "", "rank 1 prints nothing on stdout")
        self.same_run(one, two, ttt_type + " 1 vs 2 processes")
        for name in ("tokenizer.json", "tokens.bin", "val.bin", "baselines.json"):
            with open(os.path.join(one, name), "rb") as f, open(os.path.join(two, name), "rb") as g:
                self.assertEqual(f.read(), g.read(), name)
        return two

    def test_two_processes_equal_one_delta(self):
        self.two_vs_one("delta")

    def test_two_processes_equal_one_reconstruct(self):
        two = self.two_vs_one("reconstruct")
        self.check_dotnet_loads(two)

    def check_dotnet_loads(self, directory):
        """The DDP-trained model and checkpoint in bit-llama (managed and TorchSharp), Llama.LoadAuto and ML.NET LoadBitt."""
        bitt = os.path.join(directory, "model.bitt")
        model = BitLlamaModel.load(bitt)
        ids = random.Random(3).choices(range(model.config.vocab_size), k=24)
        twin = tf.twin_logits(model, ids)
        exported = os.path.join(directory, "exported.bitt")
        fixture.run_cli("export", os.path.join(directory, "checkpoint.safetensors"), "--tokenizer",
                        os.path.join(directory, "tokenizer.json"), "--output", exported)
        for path in (bitt, directory, exported):
            for engine in ("managed", "torch"):
                self.assertLessEqual(tf.relative(twin, tf.cli_logits(path, ids, engine)), 1e-4, "%s --engine %s" % (path, engine))
        out = subprocess.run(["dotnet", "run", os.path.join(tf.REPO, "python", "tests_twin", "dotnet_logits.cs"), "--", bitt,
                              ",".join(map(str, ids))], capture_output=True, text=True, timeout=600)
        self.assertEqual(out.returncode, 0, out.stdout[-2000:] + out.stderr[-2000:])
        rows = json.loads(out.stdout.strip().splitlines()[-1])
        r = tf.relative(twin, torch.tensor(rows["load_auto_fp32"]))
        print("  DDP-trained model: twin vs Llama.LoadAuto (fp32 LM head) %.1e relative" % r)
        self.assertLessEqual(r, 1e-4, "load_auto_fp32")
        # With the default int8 LM head, ML.NET's LoadBitt and Llama.LoadAuto load the same model the same way.
        self.assertEqual(rows["load_bitt"], rows["load_auto"], "ML.NET LoadBitt vs Llama.LoadAuto, default options")

    def test_a_two_process_checkpoint_resumes_on_one_process(self):
        root = tf.scratch(self)
        data = tf.corpus(root)
        whole, split = os.path.join(root, "whole"), os.path.join(root, "split")
        self.run_ok(tf.tiny_flags(data, whole))
        self.run_ok(tf.tiny_flags(data, split, "--stop-after-steps", "10"), world=2)
        meta = _files.read_safetensors(os.path.join(split, "checkpoint.safetensors")).metadata
        self.assertEqual((meta["step"], meta["windows_drawn"]), ("10", "40"))
        results = self.run_ok(tf.tiny_flags(data, split, "--resume"))
        self.assertIn("step 20/20", results[0][1])
        self.same_run(whole, split, "2 processes to step 10, resumed on 1 to 20")

    def test_bit_llama_resumes_a_twin_checkpoint(self):
        root = tf.scratch(self)
        data = tf.corpus(root)
        twin, dotnet = os.path.join(root, "twin"), os.path.join(root, "dotnet")
        self.run_ok(tf.tiny_flags(data, twin, "--stop-after-steps", "10"))
        os.makedirs(dotnet)
        for name in ("tokenizer.json", "tokens.bin", "val.bin", "checkpoint.safetensors"):
            with open(os.path.join(twin, name), "rb") as f, open(os.path.join(dotnet, name), "wb") as g:
                g.write(f.read())
        self.run_ok(tf.tiny_flags(data, twin, "--resume"))
        fixture.run_cli("train", *tf.tiny_flags(data, dotnet, "--resume", "--threads", "1"))
        twin_losses, dotnet_losses = losses(twin, after=10), losses(dotnet, after=10)
        r = max(abs(x - y) / abs(x) for x, y in zip(twin_losses, dotnet_losses))
        print("  steps 11-20 from one checkpoint, PyTorch vs TorchSharp: losses %.1e relative" % r)
        self.assertEqual(len(dotnet_losses), 10)
        self.assertLessEqual(r, 1e-4)

    def test_sigint_to_every_rank_ends_both_after_the_same_step_with_a_checkpoint(self):
        root = tf.scratch(self)
        data, out = tf.corpus(root), os.path.join(root, "out")
        flags = tf.tiny_flags(data, out, "--eval-interval", "0", steps=100000)
        procs = tf.start(flags, world=2)
        metrics = os.path.join(out, "metrics.csv")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (os.path.exists(metrics) and len(open(metrics).read().split()) > 4):
            time.sleep(0.1)
        for p in procs:
            p.send_signal(signal.SIGINT)   # what torchrun does on Ctrl+C: every rank gets the signal
        results = tf.wait(procs, timeout=120)
        self.assertEqual([code for code, _, _ in results], [130, 130], results[0][2][-2000:] + results[1][2][-2000:])
        step = int(_files.read_safetensors(os.path.join(out, "checkpoint.safetensors")).metadata["step"])
        self.assertIn("stopped at step %d of 100000" % step, results[0][1])
        self.assertEqual(int(open(metrics).read().split()[-1].split(",")[0]), step)
        self.run_ok(flags + ["--resume", "--stop-after-steps", "2"])
        self.assertEqual(_files.read_safetensors(os.path.join(out, "checkpoint.safetensors")).metadata["step"], str(step + 2))

    def refused(self, args, world, *expected):
        results = tf.train(args, world)
        for rank, (code, out, err) in enumerate(results):
            lines = [line for line in err.splitlines() if line.startswith("bitttt.train: error:")]
            self.assertNotEqual(code, 0, "rank %d accepted %s" % (rank, args))
            self.assertEqual(len(lines), 1, "rank %d: %s" % (rank, err[-2000:]))
            for text in expected:
                self.assertIn(text, lines[0])
            self.assertNotIn("Traceback", err)
        return results

    def test_a_diverging_run_is_one_error_on_every_rank_and_keeps_the_last_good_checkpoint(self):
        root = tf.scratch(self)
        out = os.path.join(root, "out")
        results = self.refused(tf.tiny_flags(tf.corpus(root), out, "--save-interval", "1", lr="100"), 2, "training diverged", "--lr")
        line = [l for l in results[0][2].splitlines() if l.startswith("bitttt.train: error:")][0]
        checkpoint = os.path.join(out, "checkpoint.safetensors")
        if "No checkpoint was written" in line:
            self.assertFalse(os.path.exists(checkpoint))
        else:
            step = _files.read_safetensors(checkpoint).metadata["step"]
            self.assertIn("%s (step %s)" % (checkpoint, step), line)
        self.assertFalse(os.path.exists(os.path.join(out, "model.bitt")))

    def test_an_earlier_run_is_refused_without_resume_or_force(self):
        root = tf.scratch(self)
        data, out = tf.corpus(root), os.path.join(root, "out")
        self.run_ok(tf.tiny_flags(data, out, steps=2))
        with open(os.path.join(out, "model.bitt"), "rb") as f:
            before = f.read()
        self.refused(tf.tiny_flags(data, out, steps=2), 2, "holds an earlier run", "--resume", "--force")
        with open(os.path.join(out, "model.bitt"), "rb") as f:
            self.assertEqual(f.read(), before)
        self.run_ok(tf.tiny_flags(data, out, "--force", steps=2), world=2)

    def test_missing_data_is_one_error_on_every_rank(self):
        root = tf.scratch(self)
        out = os.path.join(root, "out")
        self.refused(tf.tiny_flags(os.path.join(root, "absent.txt"), out), 2, "absent.txt", "training text not found")
        self.assertFalse(os.path.exists(os.path.join(out, "checkpoint.safetensors")))

    def test_a_batch_the_world_does_not_divide_is_one_error_on_every_rank(self):
        root = tf.scratch(self)
        out = os.path.join(root, "out")
        self.refused(tf.tiny_flags(tf.corpus(root), out, "--batch-size", "3"), 2, "--batch-size 3", "world size 2")
        self.assertFalse(os.path.exists(out))

    def test_a_config_that_does_not_match_the_checkpoint_is_one_error_on_every_rank(self):
        root = tf.scratch(self)
        data, out = tf.corpus(root), os.path.join(root, "out")
        self.run_ok(tf.tiny_flags(data, out, steps=4))
        checkpoint = os.path.join(out, "checkpoint.safetensors")
        with open(checkpoint, "rb") as f:
            before = f.read()
        self.refused(tf.tiny_flags(data, out, "--dim", "32", "--resume", steps=8), 2,
                     "checkpoint is for a different model", "hidden_dim = 16 in the checkpoint, 32 in this run")
        with open(checkpoint, "rb") as f:
            self.assertEqual(f.read(), before, "the checkpoint is untouched")
        self.assertEqual([n for n in os.listdir(out) if n.endswith(".tmp")], [])


if __name__ == "__main__":
    unittest.main()
