"""bitttt.h as shipped in the wheel compiles, matches the library's struct layouts and works from C."""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import bitttt
import fixture

PROGRAM = r"""
#include <assert.h>
#include <stdio.h>
#include <string.h>
#include "bitttt.h"

_Static_assert(sizeof(bitttt_sampling) == 48, "bitttt_sampling layout");
_Static_assert(offsetof(bitttt_sampling, stop_strings) == 32, "stop_strings offset");
_Static_assert(sizeof(bitttt_model_info) == 28, "bitttt_model_info layout");

static int pieces;
static int32_t on_piece(void *user, const char *piece, size_t length) {
    (void)user;
    if (strlen(piece) != length) return 0;
    return ++pieces < 4;   /* stop after four pieces */
}

int main(int argc, char **argv) {
    bitttt_model model = 0, missing = 0;
    bitttt_session session = 0;
    if (bitttt_abi_version() != BITTTT_ABI_VERSION) return 10;
    if (bitttt_model_load("/nonexistent/model.bitt", 0, &missing) != BITTTT_E_NOT_FOUND || missing != 0) return 11;
    if (strstr(bitttt_last_error(), "no such .bitt file") == NULL) return 12;
    if (bitttt_model_load(argv[1], 0, &model) != BITTTT_OK) { fprintf(stderr, "%s\n", bitttt_last_error()); return 13; }
    bitttt_model_info info = { sizeof info };
    if (bitttt_model_get_info(model, &info) != BITTTT_OK || info.vocab_size != 300 || info.tokenizer_vocab_size <= 0) return 14;
    if (bitttt_session_create(model, &session) != BITTTT_OK) return 15;
    int32_t ids[64]; size_t count = 0;
    if (bitttt_encode(model, "Call me", 7, ids, 0, &count) != BITTTT_E_BUFFER_TOO_SMALL || count == 0) return 16;
    if (bitttt_encode(model, "Call me", 7, ids, 64, &count) != BITTTT_OK) return 17;
    float logits[300];
    if (bitttt_session_feed(session, ids, count, logits, 299) != BITTTT_E_BUFFER_TOO_SMALL) return 18;
    if (bitttt_session_feed(session, ids, count, logits, 300) != BITTTT_OK) return 19;
    const char *stops[] = { "zzzz" };
    bitttt_sampling options;
    if (bitttt_sampling_init(&options) != BITTTT_OK || options.max_tokens != 128) return 20;
    options.temperature = 0; options.stop_strings = stops; options.stop_count = 1;
    if (bitttt_generate(session, " Ishmael", 8, &options, on_piece, NULL) != BITTTT_OK || pieces != 4) return 21;
    options.max_tokens = -1;
    if (bitttt_generate(session, "x", 1, &options, NULL, NULL) != BITTTT_E_INVALID_ARGUMENT) return 22;
    if (strstr(bitttt_last_error(), "max_tokens must be positive") == NULL) return 23;   /* named as the struct field */
    bitttt_sampling stored;   /* the model's own defaults: bit-llama train stores the training seed */
    if (bitttt_model_sampling(model, &stored) != BITTTT_OK || stored.struct_size != sizeof stored || !stored.has_seed) return 29;
    if (bitttt_model_sampling(session, &stored) != BITTTT_E_INVALID_HANDLE) return 30;
    if (bitttt_session_free(model) != BITTTT_E_INVALID_HANDLE) return 24;
    if (bitttt_session_free(session) != BITTTT_OK || bitttt_session_free(session) != BITTTT_E_INVALID_HANDLE) return 25;
    if (bitttt_model_free(model) != BITTTT_OK || bitttt_model_free(model) != BITTTT_E_INVALID_HANDLE) return 26;
    if (bitttt_model_load(NULL, 0, &model) != BITTTT_E_INVALID_ARGUMENT) return 27;
    if (bitttt_model_load(argv[1], 0, NULL) != BITTTT_E_INVALID_ARGUMENT) return 28;
    puts("ok");
    return 0;
}
"""


@unittest.skipUnless(sys.platform.startswith("linux"), "the C check links the Linux library name")
class CAbiTests(unittest.TestCase):
    def test_header_compiles_and_the_abi_works_from_c(self):
        compiler = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
        self.assertIsNotNone(compiler, "a C compiler is needed (NativeAOT needs one to build the library anyway)")
        package = os.path.dirname(bitttt.__file__)
        include = os.path.join(package, "include")
        self.assertTrue(os.path.exists(os.path.join(include, "bitttt.h")), "the wheel ships include/bitttt.h")
        with tempfile.TemporaryDirectory() as temp:
            source, exe = os.path.join(temp, "check.c"), os.path.join(temp, "check")
            with open(source, "w") as f:
                f.write(PROGRAM)
            build = subprocess.run([compiler, "-std=c11", "-Wall", "-Werror", "-I", include, source, "-o", exe,
                                    "-L", package, "-l:libbitttt.so", "-Wl,-rpath," + package],
                                   capture_output=True, text=True)
            self.assertEqual(build.returncode, 0, build.stderr)
            run = subprocess.run([exe, os.path.join(fixture.tiny_model(), "model.bitt")], capture_output=True, text=True)
            self.assertEqual((run.returncode, run.stdout.strip()), (0, "ok"), run.stderr)


if __name__ == "__main__":
    unittest.main()
