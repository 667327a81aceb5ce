"""Chat through the native library (bitttt_chat): the model's template, the end-of-turn stop, continuing conversations,
and the same replies as bit-llama chat, the .NET door."""
import os
import unittest

import bitttt
import fixture

QUESTION = "Which plan am I on?"


class ChatTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.path = os.path.join(fixture.tiny_chat_model(), "model.bitt")
        cls.llama = bitttt.Llama.load_auto(cls.path)

    @classmethod
    def tearDownClass(cls):
        cls.llama.close()

    def test_the_model_stores_its_template(self):
        self.assertEqual(self.llama.chat_template,
                         {"system": "<|system|>", "user": "<|user|>", "assistant": "<|assistant|>", "end_of_turn": "<|end|>"})

    def test_replies_are_bit_llama_chats(self):
        system = "Plan: Gold."
        expected = fixture.run_cli_input(QUESTION + "\nThanks\n", "chat", self.path, "--system", system,
                                         "--temperature", "0", "--max-tokens", "12")
        with self.llama.session() as s:
            first = s.chat([{"role": "system", "content": system}, {"role": "user", "content": QUESTION}], max_tokens=12, temperature=0)
            # A continuing conversation passes only its new message: the session's memory holds the rest.
            second = s.chat([{"role": "user", "content": "Thanks"}], max_tokens=12, temperature=0)
        self.assertEqual(expected, first + "\n" + second + "\n")
        # Llama.chat answers the whole conversation in a fresh session.
        self.assertEqual(first, self.llama.chat([{"role": "system", "content": system}, {"role": "user", "content": QUESTION}],
                                                max_tokens=12, temperature=0))

    def test_streamed_pieces_make_the_reply(self):
        pieces = []
        messages = [{"role": "user", "content": QUESTION}]
        text = self.llama.chat(messages, 12, 0.0, pieces.append)
        self.assertEqual("".join(pieces), text)
        self.assertEqual(text, self.llama.chat(messages, max_tokens=12, temperature=0))

    def test_bad_messages_name_the_field(self):
        with self.assertRaises(bitttt.InvalidArgumentError) as e:
            self.llama.chat([{"role": "tool", "content": "x"}])
        self.assertIn("messages[0].role must be \"system\", \"user\" or \"assistant\", got \"tool\"", str(e.exception))
        with self.assertRaises(TypeError):
            self.llama.chat("Which plan?")

    def test_a_model_without_a_template_is_asked_in_plain_text(self):
        with bitttt.Llama.load_auto(os.path.join(fixture.tiny_delta_model(), "model.bitt")) as plain:
            self.assertIsNone(plain.chat_template)
            reply = plain.chat([{"role": "user", "content": "Call me Ishmael."}], max_tokens=12, temperature=0)
            with plain.session() as s:
                self.assertEqual(reply, s.complete("User: Call me Ishmael.\nAssistant:", max_tokens=12, temperature=0, stop=["\nUser:"]))


if __name__ == "__main__":
    unittest.main()
