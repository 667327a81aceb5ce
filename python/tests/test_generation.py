"""Generation through the native library: streaming, callbacks, memory files, threads, the model's stored defaults."""
import json
import os
import shutil
import tempfile
import threading
import unittest

import bitttt
import fixture

SAMPLED = dict(temperature=0.8, top_k=40, top_p=0.95, repetition_penalty=1.1, seed=7)


class GenerationTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.llama = bitttt.Llama.load_auto(os.path.join(fixture.tiny_model(), "model.bitt"))
        cls.temp = tempfile.mkdtemp(prefix="bitttt-gen-")

    @classmethod
    def tearDownClass(cls):
        cls.llama.close()
        shutil.rmtree(cls.temp, True)

    def test_stream_pieces_are_whole_utf8_and_concatenate_to_complete(self):
        pieces = []
        with self.llama.session() as a:
            streamed = a.stream_completion("Call me Ishmael", 60, 0.8, pieces.append, seed=7, top_k=40,
                                           top_p=0.95, repetition_penalty=1.1)
        with self.llama.session() as b:
            whole = b.complete("Call me Ishmael", max_tokens=60, **SAMPLED)
        self.assertGreater(len(pieces), 1)
        for p in pieces:
            self.assertIsInstance(p, str)
            self.assertTrue(p)
            self.assertEqual(p.encode("utf-8").decode("utf-8", "strict"), p)   # no lone surrogates
        self.assertEqual("".join(pieces), whole)
        self.assertEqual(streamed, whole)

    def test_a_token_limit_inside_a_character_drops_its_bytes_instead_of_ending_in_u_fffd(self):
        # Temperature 2 on a prompt with accents and CJK picks multi-byte tokens often, so some of these 160 limits fall
        # inside a character. Each text must be free of U+FFFD and a prefix of the next longer one: the old ending
        # ("\ufffd" for the cut character) broke both, where the longer completion had the whole character.
        for seed in range(40):
            previous = None
            for max_tokens in range(1, 5):
                text = self.llama.complete("héllo wörld 你", max_tokens=max_tokens, temperature=2.0, top_k=0, top_p=1.0,
                                           repetition_penalty=1.0, seed=seed)
                self.assertNotIn("\ufffd", text, "seed %d, max_tokens %d" % (seed, max_tokens))
                if previous is not None:
                    self.assertTrue(text.startswith(previous), "seed %d: %r then %r" % (seed, previous, text))
                previous = text

    def test_a_packed_bitt_loads_and_generates_like_the_fp32_file(self):
        # bit-llama export --packed: 2-bit ternary codes and int8 rows (docs/format.md §7); the library reads both forms,
        # and the packed file's logits stay within the documented 2 % of the largest |logit| of the fp32 file's.
        packed = os.path.join(self.temp, "packed.bitt")
        fp32 = os.path.join(fixture.tiny_model(), "model.bitt")
        fixture.run_cli("export", fp32, "--packed", "--output", packed)
        self.assertLess(os.path.getsize(packed), os.path.getsize(fp32))
        ids = self.llama.encode("Call me Ishmael. Some years ago")
        with bitttt.Llama.load_auto(packed) as small:
            self.assertTrue(small.complete("The whale", max_tokens=8, temperature=0.0))
            with small.session() as a, self.llama.session() as b:
                for token in ids:
                    x, y = list(a.forward(token)), list(b.forward(token))
                    scale = max(abs(v) for v in y)
                    self.assertLess(max(abs(p - q) for p, q in zip(x, y)), 0.02 * scale)
        with bitttt.Llama.load_auto(fp32, int8_lm_head=False, batching=False) as exact:   # the other engine options load too
            self.assertTrue(exact.complete("The whale", max_tokens=4, temperature=0.0))

    def test_callback_returning_false_stops(self):
        seen = []

        def take_three(piece):
            seen.append(piece)
            return len(seen) < 3

        with self.llama.session() as s:
            text = s.stream_completion("The whale", 50, 0.0, take_three)
        self.assertEqual(len(seen), 3)
        self.assertEqual(text, "".join(seen))

    def test_callback_exception_propagates_after_generation_stops(self):
        class Boom(Exception):
            pass

        def explode(piece):
            raise Boom("from the callback")

        with self.llama.session() as s:
            with self.assertRaises(Boom):
                s.stream_completion("The whale", 20, 0.8, explode)
            # The engine stopped cleanly: the session is free and still works.
            self.assertTrue(s.complete("The sea", max_tokens=5, temperature=0) is not None)

    def test_reentrant_call_from_callback_is_busy(self):
        with self.llama.session() as s:
            def feed_again(piece):
                s.feed([1])

            with self.assertRaises(bitttt.SessionBusyError) as caught:
                s.stream_completion("The whale", 10, 0.0, feed_again)
            self.assertIn("already in use", str(caught.exception))

    def test_memory_save_load_round_trip(self):
        path = os.path.join(self.temp, "memory.bttm")
        ids = self.llama.encode(" the sea")
        with self.llama.session() as a, self.llama.session() as b:
            a.learn(fixture.corpus_text(8000, 300))
            a.save_memory(path)
            expected = a.feed(ids)
            b.load_memory(path)
            self.assertEqual(b.position, a.position - len(ids))
            actual = b.feed(ids)
            self.assertEqual(list(actual), list(expected))
            b.reset()
            self.assertEqual(b.position, 0)
            self.assertNotEqual(list(b.feed(ids)), list(expected))

    def test_four_threads_with_a_session_each_match_running_alone(self):
        prompts = ["Call me", "The whale", "Ishmael", "The sea was"]

        def run(prompt, seed):
            with self.llama.session() as s:
                return s.complete(prompt, max_tokens=40, temperature=0.8, seed=seed)

        alone = [run(p, i) for i, p in enumerate(prompts)]
        results, errors = [None] * 4, []

        def worker(i):
            try:
                for _ in range(3):
                    results[i] = run(prompts[i], i)
                    if results[i] != alone[i]:
                        return
            except BaseException as e:
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        self.assertEqual(results, alone)

    def test_encode_decode_round_trip_and_stop_strings(self):
        text = "Call me Ishmael. Some years ago — never mind how long precisely — 日本"
        self.assertEqual(self.llama.decode(self.llama.encode(text)), text)
        self.assertEqual(self.llama.encode(""), [])
        self.assertEqual(self.llama.decode([]), "")
        with self.llama.session() as s:
            free = s.complete("Call me", max_tokens=40, temperature=0)
        stop = free[5:8]
        self.assertTrue(stop)
        with self.llama.session() as s:
            stopped = s.complete("Call me", max_tokens=40, temperature=0, stop=[stop])
        self.assertEqual(stopped, free[:free.index(stop)])

    def test_keywords_left_out_take_the_models_stored_defaults_as_every_door_does(self):
        # A copy of the tiny model whose config.json stores generation defaults (docs/model.md §1, "generation").
        source, stored_dir = fixture.tiny_model(), os.path.join(self.temp, "stored")
        os.makedirs(stored_dir)
        for name in ("tokenizer.json", "model.safetensors"):
            shutil.copy(os.path.join(source, name), stored_dir)
        with open(os.path.join(source, "config.json"), encoding="utf-8") as f:
            config = json.load(f)
        stored = dict(max_tokens=9, temperature=1.25, top_k=12, top_p=0.875, repetition_penalty=1.5, seed=5)
        config["generation"] = stored
        with open(os.path.join(stored_dir, "config.json"), "w", encoding="utf-8") as f:
            json.dump(config, f)
        with bitttt.Llama.load_auto(stored_dir) as llama:
            self.assertEqual(llama.sampling_defaults, stored)   # these values are exact in float32
            with llama.session() as s:
                implicit = s.complete("The whale")
            with llama.session() as s:
                explicit = s.complete("The whale", **stored)
            with llama.session() as s:
                library = s.complete("The whale", max_tokens=128, temperature=0.8, top_k=40, top_p=0.95,
                                     repetition_penalty=1.1, seed=5)
            self.assertEqual(implicit, explicit)
            self.assertNotEqual(implicit, library, "the stored defaults made no difference")
            self.assertEqual(llama.complete("The whale"), implicit)
        # The CLI's door gives the same text for the same file.
        self.assertEqual(fixture.run_cli("generate", stored_dir, "--prompt", "The whale"), implicit + "\n")


if __name__ == "__main__":
    unittest.main()
