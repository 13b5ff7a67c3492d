#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpus into fuzz/seeds/TARGET/: small valid inputs of
each format (tiny GGUF models of each supported family, safetensors files, a
SentencePiece model, tokenizer.json files) from which libFuzzer mutates. The seeds are
checked in; this script says how they were made and remakes them byte for byte."""

import json
import os
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds")


def write(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# safetensors --------------------------------------------------------------------

def safetensors(tensors, metadata=None):
    """tensors: [(name, dtype, shape, bytes)] laid out in order."""
    header, data = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


def f32s(values):
    return struct.pack(f"<{len(values)}f", *values)


write("safetensors_header", "two-tensors", safetensors(
    [("model.embed_tokens.weight", "BF16", [4, 2], b"\x80\x3f" * 8), ("model.norm.weight", "F32", [2], f32s([1.0, 1.0]))],
    {"format": "pt"}))
write("safetensors_header", "empty-and-scalar", safetensors(
    [("a", "F16", [0, 3], b""), ("b", "I64", [], struct.pack("<q", 7)), ("c", "U8", [1, 1, 1, 2], b"\x01\x02")]))
write("safetensors_header", "importance", safetensors(
    [(f"model.layers.{i}.mlp.importance", "F32", [4], f32s([0.5, 1.5, 0.0, 2.0])) for i in range(2)]))

# GGUF ---------------------------------------------------------------------------

U32, F32, STR, ARR, BOOL = 4, 6, 8, 9, 7


def gstr(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def kv(key, ty, value):
    out = gstr(key) + struct.pack("<I", ty)
    if ty == U32:
        return out + struct.pack("<I", value)
    if ty == F32:
        return out + struct.pack("<f", value)
    if ty == BOOL:
        return out + struct.pack("<B", value)
    if ty == STR:
        return out + gstr(value)
    elem, items = value
    out += struct.pack("<IQ", elem, len(items))
    for x in items:
        out += gstr(x) if elem == STR else struct.pack({U32: "<I", F32: "<f", 5: "<i"}[elem], x)
    return out


def gguf(kvs, tensors):
    """tensors: [(name, dims innermost first)] of F32 zeros."""
    infos, data = b"", b""
    for name, dims in tensors:
        data += b"\0" * (-len(data) % 32)
        infos += gstr(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        infos += struct.pack("<IQ", 0, len(data))
        n = 1
        for d in dims:
            n *= d
        data += b"\0" * (4 * n)
    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs)) + b"".join(kvs) + infos
    return out + b"\0" * (-len(out) % 32) + data


def layer_tensors(hidden, ffn, q, kv_dim, gemma):
    ts = [("token_embd.weight", [hidden, 6]), ("output_norm.weight", [hidden])]
    for name, dims in [("attn_q", [hidden, q]), ("attn_k", [hidden, kv_dim]), ("attn_v", [hidden, kv_dim]),
                       ("attn_output", [q, hidden]), ("ffn_gate", [hidden, ffn]), ("ffn_up", [hidden, ffn]),
                       ("ffn_down", [ffn, hidden]), ("attn_norm", [hidden]), ("ffn_norm", [hidden])]:
        ts.append((f"blk.0.{name}.weight", dims))
    if gemma:
        ts += [("blk.0.attn_q_norm.weight", [4]), ("blk.0.attn_k_norm.weight", [4]),
               ("blk.0.post_attention_norm.weight", [hidden]), ("blk.0.post_ffw_norm.weight", [hidden])]
    return ts


def hparams(arch, hidden=8, ffn=8):
    return [kv("general.architecture", STR, arch), kv(f"{arch}.block_count", U32, 1), kv(f"{arch}.context_length", U32, 64),
            kv(f"{arch}.embedding_length", U32, hidden), kv(f"{arch}.feed_forward_length", U32, ffn),
            kv(f"{arch}.attention.head_count", U32, 2), kv(f"{arch}.attention.head_count_kv", U32, 1),
            kv(f"{arch}.rope.freq_base", F32, 10000.0), kv(f"{arch}.attention.layer_norm_rms_epsilon", F32, 1e-5)]


bpe_tokens = ["<|endoftext|>", "a", "b", "ab", "\u0120", "\u0120a"]
bpe = [kv("tokenizer.ggml.model", STR, "gpt2"), kv("tokenizer.ggml.tokens", ARR, (STR, bpe_tokens)),
       kv("tokenizer.ggml.token_type", ARR, (5, [3, 1, 1, 1, 1, 1])), kv("tokenizer.ggml.merges", ARR, (STR, ["a b", "\u0120 a"])),
       kv("tokenizer.ggml.eos_token_id", U32, 0)]
write("gguf_header", "llama-smollm", gguf(hparams("llama") + bpe + [kv("tokenizer.ggml.pre", STR, "smollm")],
                                          layer_tensors(8, 8, 8, 4, False)))
write("gguf_header", "qwen2", gguf(hparams("qwen2") + bpe + [kv("tokenizer.ggml.pre", STR, "qwen2")],
                                   layer_tensors(8, 8, 8, 4, False) + [("blk.0.attn_q.bias", [8]), ("blk.0.attn_k.bias", [4]),
                                                                       ("blk.0.attn_v.bias", [4])]))
sp_tokens = ["<pad>", "<eos>", "<bos>", "<unk>", "\u2581a", "b"]
write("gguf_header", "gemma3", gguf(
    hparams("gemma3") + [kv("gemma3.attention.key_length", U32, 4), kv("gemma3.attention.sliding_window", U32, 16),
                         kv("tokenizer.ggml.model", STR, "llama"), kv("tokenizer.ggml.tokens", ARR, (STR, sp_tokens)),
                         kv("tokenizer.ggml.scores", ARR, (F32, [0.0, 0.0, 0.0, 0.0, -1.0, -2.0])),
                         kv("tokenizer.ggml.token_type", ARR, (5, [3, 3, 3, 2, 1, 1])),
                         kv("tokenizer.ggml.bos_token_id", U32, 2), kv("tokenizer.ggml.eos_token_id", U32, 1),
                         kv("tokenizer.ggml.unknown_token_id", U32, 3), kv("tokenizer.ggml.add_bos_token", BOOL, 1)],
    layer_tensors(8, 8, 8, 4, True)))

# SentencePiece ------------------------------------------------------------------


def varint(v):
    out = b""
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def field_len(number, payload):
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def field_varint(number, v):
    return varint(number << 3) + varint(v & 0xFFFFFFFFFFFFFFFF)


def piece(s, score, ty):
    return field_len(1, s.encode()) + varint(2 << 3 | 5) + struct.pack("<f", score) + field_varint(3, ty)


pieces = [("<unk>", 0.0, 2), ("<s>", 0.0, 3), ("</s>", 0.0, 3), ("<0x41>", 0.0, 6), ("\u2581a", -1.0, 1), ("b", -2.0, 1), ("\u2581ab", -3.0, 1)]
trainer = field_varint(3, 2) + field_varint(4, len(pieces)) + field_varint(40, 0) + field_varint(41, 1) + field_varint(42, 2) + field_varint(43, (1 << 64) - 1)
normalizer = field_len(1, b"identity") + field_varint(3, 1)
model = b"".join(field_len(1, piece(*p)) for p in pieces) + field_len(2, trainer) + field_len(3, normalizer)
write("sentencepiece_model", "bpe-byte-fallback", model)

# tokenizer.json -----------------------------------------------------------------

byte_level = {
    "version": "1.0", "truncation": None, "padding": None,
    "added_tokens": [{"id": 0, "content": "<|endoftext|>", "single_word": False, "lstrip": False, "rstrip": False,
                      "normalized": False, "special": True}],
    "normalizer": None,
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
    "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
    "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
    "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None, "end_of_word_suffix": None,
              "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
              "vocab": {"<|endoftext|>": 0, "a": 1, "b": 2, "\u0120": 3, "ab": 4, "\u0120a": 5, "\u0120ab": 6, "ba": 7},
              "merges": ["a b", "\u0120 a", "\u0120a b", "b a"]},
}
sp_style = {
    "version": "1.0", "truncation": None, "padding": None,
    "added_tokens": [{"id": i, "content": c, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False,
                      "special": True} for i, c in [(0, "<pad>"), (1, "<eos>"), (2, "<bos>")]],
    "normalizer": {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"},
    "pre_tokenizer": None,
    "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<bos>", "type_id": 0}},
                                                                {"Sequence": {"id": "A", "type_id": 0}}],
                       "pair": [{"SpecialToken": {"id": "<bos>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                                {"Sequence": {"id": "B", "type_id": 1}}],
                       "special_tokens": {"<bos>": {"id": "<bos>", "ids": [2], "tokens": ["<bos>"]}}},
    "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
                                                 {"type": "ByteFallback"}, {"type": "Fuse"}]},
    "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None, "end_of_word_suffix": None,
              "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
              "vocab": {"<pad>": 0, "<eos>": 1, "<bos>": 2, "<unk>": 3, "<0x41>": 4, "\u2581": 5, "a": 6, "\u2581a": 7, "b": 8,
                        "\u2581ab": 9},
              "merges": [["\u2581", "a"], ["\u2581a", "b"]]},
}
# The first two bytes choose the rows and V' (see compact::fuzzing::tokenizer_surgery).
write("tokenizer_surgery", "byte-level", bytes([7, 6]) + json.dumps(byte_level).encode())
write("tokenizer_surgery", "sentencepiece-style", bytes([9, 8]) + json.dumps(sp_style).encode())
