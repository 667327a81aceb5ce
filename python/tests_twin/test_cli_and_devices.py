"""python3 -m bitttt.train's flags against bit-llama train's, its outputs, and cortex_rust.BitLlama on the twin."""
import json
import os
import re
import subprocess
import sys
import unittest

import torch

import cortex_rust
import fixture
import twin_fixture as tf


def flags_and_defaults(help_text):
    """{flag: default or None} from a --help text (both tools print "[default: X]")."""
    found = {}
    for entry in re.split(r"\n(?=\s+--)", help_text):
        m = re.match(r"\s+(--[a-z0-9-]+)", entry)
        if m and m.group(1) != "--help":
            d = re.search(r"\[default:\s+([^\]]+)\]", entry)
            found[m.group(1)] = d.group(1) if d else None
    return found


class CliTests(unittest.TestCase):
    def test_flags_and_defaults_are_bit_llama_trains(self):
        dotnet = flags_and_defaults(fixture.run_cli("train", "--help"))
        python = flags_and_defaults(subprocess.run([sys.executable, "-m", "bitttt.train", "--help"], capture_output=True,
                                                   text=True, check=True, env=dict(os.environ, COLUMNS="400")).stdout)
        # --log-x draws loss.png, which the .NET trainer draws with Skia; the twin writes metrics.csv only.
        self.assertEqual(sorted(set(dotnet) - {"--log-x"}), sorted(python))
        for flag, default in dotnet.items():
            if flag in python and default is not None:
                self.assertEqual(float(python[flag]) if re.match(r"^[0-9.eE+-]+$", default) else python[flag],
                                 float(default) if re.match(r"^[0-9.eE+-]+$", default) else default, flag)

    def test_a_time_budget_plans_the_run_as_bit_llama_train_does(self):
        root = tf.scratch(self)
        out = os.path.join(root, "budget")
        (code, stdout, stderr), = tf.train(["--data", tf.corpus(root), "--output", out, "--time-budget", "8s", "--context-len", "16",
                                            "--eval-interval", "0"])
        self.assertEqual(code, 0, stderr)
        self.assertIn("time budget: a 512-token vocabulary for ", stderr)
        self.assertRegex(stderr, r"time budget 8s: D=64, 2 layers, batch 8, lr 0\.002, \d+ steps")
        repeat = re.search(r"the same run without the budget: --vocab-size \d+ --dim 64 --layers 2 --batch-size 8 --lr 0\.002 "
                           r"--warmup-steps \d+ --steps (\d+)", stderr)
        self.assertIsNotNone(repeat, stderr)
        with open(os.path.join(out, "metrics.csv")) as f:
            self.assertEqual(len(f.read().splitlines()), int(repeat.group(1)) + 1, "one metrics row per planned step")
        with open(os.path.join(out, "config.json")) as f:
            config = json.load(f)
        self.assertEqual((config["hidden_dim"], config["num_layers"]), (64, 2))
        for extra, message in ((["--time-budget", "10x"], "--time-budget must be a duration such as 10m, 90s, 1h30m or 00:10:00, got '10x'"),
                               (["--time-budget", "1m", "--resume"], "--time-budget plans a new run")):
            (code, _, stderr), = tf.train(["--data", tf.corpus(root), "--output", out] + extra)
            self.assertEqual(code, 1, extra)
            self.assertIn(message, stderr)

    def test_outputs_are_bit_llama_trains(self):
        root = tf.scratch(self)
        out = os.path.join(root, "out")
        (code, stdout, stderr), = tf.train(tf.tiny_flags(tf.corpus(root), out, "--ttt-type", "reconstruct", steps=6))
        self.assertEqual(code, 0, stderr)
        for name in ("tokenizer.json", "tokens.bin", "val.bin", "checkpoint.safetensors", "metrics.csv", "baselines.json",
                     "config.json", "model.safetensors", "model.bitt"):
            self.assertTrue(os.path.isfile(os.path.join(out, name)), name)
        self.assertRegex(stdout, r"step 6/6  train loss \d+\.\d{4}\nvalidation \d+\.\d\d nats: ")
        with open(os.path.join(out, "metrics.csv")) as f:
            rows = f.read().splitlines()
        self.assertEqual(rows[0], "step,lr,train_loss,val_loss,tokens_per_s,elapsed_s")
        self.assertEqual(len(rows), 7)
        self.assertRegex(rows[1], r"^1,\d(\.\d+)?e-0\d,\d+\.\d+,,\d+(\.\d)?,\d+(\.\d+)?$")
        fixture.run_cli("inspect", os.path.join(out, "model.bitt"))

    def test_several_texts_and_a_directory_give_bit_llama_trains_tokens(self):
        root = tf.scratch(self)
        with open(os.path.join(tf.REPO, "data", "moby-dick.txt"), encoding="utf-8") as f:
            text = f.read(90_000)
        books = os.path.join(root, "books")
        os.makedirs(os.path.join(books, "b"))
        for name, part in (("a.txt", text[:30_000]), ("b/c.txt", text[30_000:60_000]), ("notes.md", "not read")):
            with open(os.path.join(books, name), "w", encoding="utf-8") as f:
                f.write(part)
        extra = os.path.join(root, "extra.txt")
        with open(extra, "w", encoding="utf-8") as f:
            f.write(text[60_000:])
        outs = {}
        for who in ("twin", "dotnet"):
            out = os.path.join(root, who)
            flags = tf.tiny_flags(books, out, "--data", extra, steps=1)
            if who == "twin":
                (code, _, stderr), = tf.train(flags)
                self.assertEqual(code, 0, stderr)
            else:
                fixture.run_cli("train", *flags, "--threads", "1")
            outs[who] = out
        for name in ("tokenizer.json", "tokens.bin", "val.bin", "baselines.json"):
            with open(os.path.join(outs["twin"], name), "rb") as f, open(os.path.join(outs["dotnet"], name), "rb") as g:
                self.assertEqual(f.read(), g.read(), name)

    def test_config_json_is_bit_llama_trains(self):
        root = tf.scratch(self)
        data = tf.corpus(root)
        twin, dotnet = os.path.join(root, "twin"), os.path.join(root, "dotnet")
        for ttt in ("delta", "reconstruct"):
            flags = tf.tiny_flags(data, "{out}", "--ttt-type", ttt, "--seed", "7", steps=2)
            (code, _, stderr), = tf.train([f.replace("{out}", twin + ttt) for f in flags])
            self.assertEqual(code, 0, stderr)
            fixture.run_cli("train", *[f.replace("{out}", dotnet + ttt) for f in flags], "--threads", "1")
            with open(os.path.join(twin + ttt, "config.json")) as f, open(os.path.join(dotnet + ttt, "config.json")) as g:
                self.assertEqual(json.load(f), json.load(g), ttt)
            with open(os.path.join(twin + ttt, "tokenizer.json"), "rb") as f, open(os.path.join(dotnet + ttt, "tokenizer.json"), "rb") as g:
                self.assertEqual(f.read(), g.read(), ttt)


class ChatTests(unittest.TestCase):
    def test_fine_tuning_on_conversations_is_bit_llama_trains(self):
        """--init-from a model without chat tokens, on a .jsonl of conversations: the same grown rows, template and
        tokens as bit-llama train, and the same first steps (the weights start equal, the windows are the same)."""
        root = tf.scratch(self)
        base = os.path.join(root, "base")
        # GPT-2's tokenizer has no chat tokens: fine-tuning appends them and grows the model by four rows.
        fixture.run_cli("train", "--data", tf.corpus(root, 20_000), "--tokenizer", "gpt2", "--output", base, "--dim", "16", "--layers", "1",
                        "--context-len", "16", "--batch-size", "4", "--steps", "3", "--warmup-steps", "1", "--eval-interval", "0", "--threads", "1")
        chats = os.path.join(root, "chats.jsonl")
        with open(chats, "w", encoding="utf-8") as f:
            for i in range(60):
                plan = fixture.PLANS[i % 4]
                f.write(json.dumps({"messages": [{"role": "system", "content": "Plan: %s." % plan}, {"role": "user", "content": "Which plan?"},
                                                 {"role": "assistant", "content": "You are on the %s plan." % plan}]}) + "\n")
        flags = ["--data", chats, "--init-from", os.path.join(base, "model.bitt"), "--context-len", "32", "--batch-size", "4",
                 "--steps", "4", "--warmup-steps", "2", "--lr", "1e-3", "--eval-interval", "2", "--eval-batches", "2", "--seed", "3"]
        twin, dotnet = os.path.join(root, "twin"), os.path.join(root, "dotnet")
        (code, stdout, stderr), = tf.train(flags + ["--output", twin])
        self.assertEqual(code, 0, stderr)
        self.assertIn("conversations: 57 of 57 trained on", stdout)
        self.assertRegex(stdout, r"validation loss \d+\.\d{4} nats on the assistant replies \(before fine-tuning: \d+\.\d{4}\)")
        fixture.run_cli("train", *flags, "--output", dotnet, "--threads", "1")
        for name in ("tokenizer.json", "tokens.bin", "val.bin"):
            with open(os.path.join(twin, name), "rb") as f, open(os.path.join(dotnet, name), "rb") as g:
                self.assertEqual(f.read(), g.read(), name)
        with open(os.path.join(twin, "config.json")) as f, open(os.path.join(dotnet, "config.json")) as g:
            twin_config, dotnet_config = json.load(f), json.load(g)
        self.assertEqual(twin_config, dotnet_config)
        self.assertEqual(twin_config["chat"]["end_of_turn"], "<|end|>")
        self.assertEqual(twin_config["vocab_size"], 50257 + 4)
        with open(os.path.join(twin, "metrics.csv")) as f, open(os.path.join(dotnet, "metrics.csv")) as g:
            twin_rows = [r.split(",") for r in f.read().splitlines()[1:]]
            dotnet_rows = [r.split(",") for r in g.read().splitlines()[1:]]
        for a, b in zip(twin_rows, dotnet_rows):
            self.assertAlmostEqual(float(a[2]), float(b[2]), delta=2e-3 * float(b[2]), msg="train loss at step %s" % a[0])


class DeviceTests(unittest.TestCase):
    def test_a_torch_device_runs_the_twin_token_by_token_as_the_engine(self):
        directory = fixture.tiny_delta_model()
        config = cortex_rust.BitLlamaConfig.from_json_file(os.path.join(directory, "config.json"))
        weights = os.path.join(directory, "model.safetensors")
        ids = [5, 17, 42, 3, 99, 7, 250, 1, 64, 8]
        with cortex_rust.BitLlama(config, weights, int8_lm_head=False) as engine, cortex_rust.BitLlama(config, weights, device=torch.device("cpu")) as twin:
            self.assertEqual(engine.device, "cpu")
            self.assertEqual(twin.device, torch.device("cpu"))
            for round in range(2):
                for i in ids:
                    a, b = torch.tensor(engine.forward(i)), torch.tensor(twin.forward(token_id=i))
                    self.assertLessEqual(tf.relative(b, a), 1e-4, "token %d, round %d" % (i, round))
                engine.reset_state()
                twin.reset_state()
            self.assertLessEqual(tf.relative(torch.tensor(twin.forward_tokens(ids)), torch.tensor(engine.forward_tokens(ids))), 1e-4)

    def test_cuda_without_a_gpu_is_a_clear_error(self):
        if torch.cuda.is_available():
            self.fail("this machine has CUDA: run the CUDA checks of docs/distributed.md instead")
        directory = fixture.tiny_model()
        config = cortex_rust.BitLlamaConfig.from_json_file(os.path.join(directory, "config.json"))
        with self.assertRaises(ValueError) as e:
            cortex_rust.BitLlama(config, os.path.join(directory, "model.safetensors"), device="cuda")
        self.assertIn("no CUDA device", str(e.exception))
        (code, _, stderr), = tf.train(["--data", "x", "--output", tf.scratch(self), "--device", "cuda"])
        self.assertEqual(code, 1)
        self.assertIn("--device cuda", stderr)


if __name__ == "__main__":
    unittest.main()


class PackedFileTests(unittest.TestCase):
    def test_a_packed_bitt_is_refused_with_one_clear_error(self):
        # The packed .bitt keeps 2-bit ternary codes and int8 rows, not the fp32 weights training needs: the twin says
        # so (as TorchSharp does), naming the file, instead of failing on the first U8 tensor.
        import tempfile
        from bitttt.torch import BitLlamaModel
        from bitttt._files import FormatError
        packed = os.path.join(tempfile.mkdtemp(prefix="bitttt-twin-packed-"), "packed.bitt")
        fixture.run_cli("export", os.path.join(fixture.tiny_model(), "model.bitt"), "--packed", "--output", packed)
        with self.assertRaises(FormatError) as caught:
            BitLlamaModel.load_with_tokenizer(packed)
        self.assertIn("packed.bitt: a packed .bitt (packing 1)", str(caught.exception))
        self.assertIn("use the fp32 .bitt", str(caught.exception))
