/*
 * bitttt.h - C ABI of the BitLlama managed CPU engine (BitTtt.Native, compiled with NativeAOT).
 *
 * Load the shared library (libbitttt.so / bitttt.dll / libbitttt.dylib, published from
 * src/BitTtt.Native) and call these functions; no .NET installation is needed.
 *
 * Conventions
 *  - Every function except bitttt_abi_version and bitttt_last_error returns a bitttt_status:
 *    BITTTT_OK (0) or a BITTTT_E_* code. On failure, bitttt_last_error() returns the message
 *    (UTF-8, thread-local: read it on the same thread, before that thread's next failing call).
 *    No function throws, aborts or unwinds into the caller on bad input.
 *  - Handles (bitttt_model, bitttt_session) are opaque 64-bit values; 0 is never a valid handle.
 *    A freed handle, a handle freed twice, a never-issued value or a session passed as a model is
 *    BITTTT_E_INVALID_HANDLE, never a crash: the library keeps a handle table with a generation
 *    counter per slot, so a stale handle never reaches a new object.
 *  - Freeing a model ends that handle only; sessions created from it keep the weights alive and
 *    keep working until they are freed.
 *  - Strings in are UTF-8: (pointer, length) where a length is given, else NUL-terminated. Invalid
 *    UTF-8 is BITTTT_E_INVALID_ARGUMENT. Paths are NUL-terminated UTF-8.
 *  - Strings out are written into a caller buffer (buffer, capacity) with a NUL, and *length gets
 *    the byte count without the NUL. If capacity is too small (or buffer is NULL) the call returns
 *    BITTTT_E_BUFFER_TOO_SMALL with *length set, so the caller can retry with length + 1 bytes.
 *  - Threads: models may be shared by any number of threads. A session must not be used by two
 *    calls at once (the second returns BITTTT_E_BUSY); use one session per thread.
 *  - Structs carry struct_size, checked against this ABI version; fill them with the _init
 *    function or set struct_size = sizeof(struct).
 */
#ifndef BITTTT_H
#define BITTTT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped when a signature, a struct layout or the meaning of a status changes.
 * 2: bitttt_model_sampling; bitttt_generate with options NULL uses the model's stored defaults. */
#define BITTTT_ABI_VERSION 2

typedef enum bitttt_status {
    BITTTT_OK = 0,
    BITTTT_E_INVALID_ARGUMENT = 1,  /* NULL pointer, bad option, out-of-range token id, invalid UTF-8 */
    BITTTT_E_INVALID_HANDLE = 2,    /* freed, never issued, or the wrong kind of handle */
    BITTTT_E_NOT_FOUND = 3,         /* the model, weights, tokenizer or memory file does not exist */
    BITTTT_E_FORMAT = 4,            /* a file that does not match its format (docs/model.md 4) or this model */
    BITTTT_E_BUSY = 5,              /* the session is in use by another call */
    BITTTT_E_BUFFER_TOO_SMALL = 6,  /* the output buffer is too small; the needed size was written */
    BITTTT_E_IO = 7,                /* a file could not be read or written */
    BITTTT_E_OUT_OF_MEMORY = 8,
    BITTTT_E_UNSUPPORTED = 9,       /* e.g. text generation on a model loaded without a tokenizer */
    BITTTT_E_INTERNAL = 10          /* an unexpected engine error; the message names it */
} bitttt_status;

typedef uint64_t bitttt_model;
typedef uint64_t bitttt_session;

/* Flags of bitttt_model_load / bitttt_model_from_config; 0 = the defaults (int8 LM head, sessions batched). */
#define BITTTT_INT8_LM_HEAD 1u  /* int8 LM head (the default; kept so older callers stay valid) */
#define BITTTT_FP32_LM_HEAD 2u  /* fp32 LM head: logits as the TorchSharp model's, slower decode (docs/inference.md) */
#define BITTTT_NO_BATCHING  4u  /* step each session alone on its calling thread instead of decoding sessions together */

/* The library's ABI version; compare with BITTTT_ABI_VERSION before any other call. */
uint32_t bitttt_abi_version(void);

/* The message of the last failing call on this thread ("" if none). Owned by the library. */
const char *bitttt_last_error(void);

/* ---- models ------------------------------------------------------------------------------- */

/* A .bitt file or a model directory (config.json + tokenizer.json + model.safetensors), auto-detected. */
int32_t bitttt_model_load(const char *path, uint32_t flags, bitttt_model *model);

/* config.json text (docs/model.md 1) + a bare safetensors file (docs/model.md 2 names) + optionally a tokenizer.json
 * (tokenizer_path NULL: token ids in, logits out; encode/decode/learn/generate are BITTTT_E_UNSUPPORTED). */
int32_t bitttt_model_from_config(const char *config_json, const char *safetensors_path,
                                 const char *tokenizer_path, uint32_t flags, bitttt_model *model);

int32_t bitttt_model_free(bitttt_model model);

typedef struct bitttt_model_info {
    uint32_t struct_size;          /* in: sizeof(bitttt_model_info) */
    int32_t vocab_size;            /* rows of the logits */
    int32_t hidden_dim;
    int32_t num_layers;
    int32_t tokenizer_vocab_size;  /* 0: the model has no tokenizer */
    int32_t bos_id;                /* -1: none */
    int32_t eos_id;                /* -1: none */
} bitttt_model_info;

int32_t bitttt_model_get_info(bitttt_model model, bitttt_model_info *info);

/* The model's config.json (every field, defaults filled in). */
int32_t bitttt_model_config_json(bitttt_model model, char *buffer, size_t capacity, size_t *length);

/* ---- tokenizer ---------------------------------------------------------------------------- */

/* Text -> token ids; *count gets the number of ids (also on BITTTT_E_BUFFER_TOO_SMALL). */
int32_t bitttt_encode(bitttt_model model, const char *text, size_t text_length,
                      int32_t *ids, size_t capacity, size_t *count);

/* Token ids -> text (an id outside the tokenizer is BITTTT_E_INVALID_ARGUMENT). */
int32_t bitttt_decode(bitttt_model model, const int32_t *ids, size_t count,
                      char *buffer, size_t capacity, size_t *length);

/* ---- sessions (one sequence's TTT memory) -------------------------------------------------- */

int32_t bitttt_session_create(bitttt_model model, bitttt_session *session);
int32_t bitttt_session_free(bitttt_session session);

/* Forget everything: TTT state to zero, position 0. */
int32_t bitttt_session_reset(bitttt_session session);

/* Tokens consumed since the last reset or memory load. */
int32_t bitttt_session_position(bitttt_session session, int64_t *position);

/* Feed count token ids (advancing the memory); if logits is not NULL, copy the logits after the last
 * one into it (capacity >= vocab_size, else BITTTT_E_BUFFER_TOO_SMALL before anything is fed).
 * Feeding a sequence at once or token by token gives the same logits. */
int32_t bitttt_session_feed(bitttt_session session, const int32_t *tokens, size_t count,
                            float *logits, size_t capacity);

/* Advance the memory on text without generating. */
int32_t bitttt_session_learn(bitttt_session session, const char *text, size_t length);

/* Save / restore the TTT memory (a "BTTM" file, docs/format.md); loading rejects another model's memory. */
int32_t bitttt_session_save_memory(bitttt_session session, const char *path);
int32_t bitttt_session_load_memory(bitttt_session session, const char *path);

/* ---- generation --------------------------------------------------------------------------- */

/* The generation settings; field names, defaults and rules are those of the .NET SamplingOptions, in snake case
 * (docs/inference.md, "Sampling options"). A value outside its rule is BITTTT_E_INVALID_ARGUMENT naming the field. */
typedef struct bitttt_sampling {
    uint32_t struct_size;              /* sizeof(bitttt_sampling) */
    int32_t max_tokens;                /* > 0 */
    float temperature;                 /* 0 = greedy */
    int32_t top_k;                     /* 0 = off */
    float top_p;                       /* (0, 1]; 1 = off */
    float repetition_penalty;          /* 1 = off */
    int32_t has_seed;                  /* 0: a fresh seed per call */
    int32_t seed;
    const char *const *stop_strings;   /* NUL-terminated UTF-8, none empty; not emitted */
    size_t stop_count;                 /* at most 1024 */
} bitttt_sampling;

/* Fill with the library defaults (what a model that stores none uses; no seed, no stop strings). */
int32_t bitttt_sampling_init(bitttt_sampling *options);

/* Fill with this model's generation defaults: the ones its file stores (docs/model.md 1, config field
 * "generation"), else the library defaults. Start here and change the fields you set; no stop strings. */
int32_t bitttt_model_sampling(bitttt_model model, bitttt_sampling *options);

/* Called with each generated piece: whole UTF-8 characters (never half of one), NUL-terminated,
 * length in bytes without the NUL. Return nonzero to continue, 0 to stop generation. */
typedef int32_t (*bitttt_piece_fn)(void *user_data, const char *piece, size_t length);

/* Complete prompt (fed to the memory first; may be empty when the session already has context),
 * streaming pieces to on_piece (may be NULL). options NULL = the model's defaults (bitttt_model_sampling). Stops at max_tokens, the
 * end-of-sequence token, a stop string, or when on_piece returns 0 (still BITTTT_OK). The generated
 * text is learned by the memory as it passes. */
int32_t bitttt_generate(bitttt_session session, const char *prompt, size_t prompt_length,
                        const bitttt_sampling *options, bitttt_piece_fn on_piece, void *user_data);

/* ---- training data (for trainers outside .NET: python3 -m bitttt.train) ---------------------- */

/* What bit-llama train does before its first step, with the same code. request_json is
 *   {"data": TEXT_PATH or [PATH, ...] (files, or directories of *.txt), "output": DIR,
 *    "tokenizer": PATH | "gpt2" | null, "vocab_size": N | null, "reuse": true | false, "log_prefix": "name: " | null}
 * It writes DIR/tokenizer.json (the given one, or a byte-level BPE of vocab_size ids, default 4096, trained on the
 * texts), DIR/tokens.bin and DIR/val.bin (the last 5% of the text), keeping all three when reuse is true and they
 * exist, and measures the n-gram baselines of that split. Progress lines go to standard error after log_prefix
 * (none without it). The result is JSON:
 *   {"vocab_size": N, "tokenizer_trained": b, "tokenized": b, "train_tokens": N, "validation_tokens": N,
 *    "baselines": {"unigram": x, "bigram": x, "trigram": x} | null}     (nats/token; null below 2 validation tokens)
 * Every file is written atomically. Give a buffer of 4096 bytes: the result is far shorter. */
int32_t bitttt_corpus_prepare(const char *request_json, char *result_json, size_t capacity, size_t *length);

/* ---- chat ---------------------------------------------------------------------------------- */

/* The model's reply to a conversation (docs/model.md 6): messages_json (UTF-8, length bytes) holds the messages as the
 * OpenAI format writes them, [{"role": "system"|"user"|"assistant", "content": "..."}, ...] or {"messages": [...]}.
 * A model with a chat template (config field "chat") gets them as token ids (a message's text is never read as special
 * tokens) and the reply stops at its end-of-turn token; a model without one gets the plain-text format
 * ("User: ...\nAssistant:") and the reply stops at "\nUser:". The session keeps the messages and the reply, so a
 * conversation that continues passes only its new messages. options NULL = the model's defaults. Pieces go to
 * on_piece as with bitttt_generate. A malformed message is BITTTT_E_INVALID_ARGUMENT naming it (messages[1].role). */
int32_t bitttt_chat(bitttt_session session, const char *messages_json, size_t length,
                    const bitttt_sampling *options, bitttt_piece_fn on_piece, void *user_data);

#ifdef __cplusplus
}
#endif

#endif /* BITTTT_H */
