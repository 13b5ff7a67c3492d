#!/usr/bin/env python3
"""Golden data for the GGUF importer tests, computed with code independent of ours.

- Weights: gguf-py (llama.cpp's own reader and dequantizers), then transformers' GGUF
  tensor processors for the Hugging Face re-ordering (llama q/k `reverse_permute`,
  Gemma norms − 1). Stats are taken in Hugging Face order, after those fix-ups, of the
  values rounded to bf16 (round to nearest even) the way the importer stores them.
- config values: transformers' `load_gguf_checkpoint` (metadata only).
- Token ids: transformers' GGUF tokenizer conversion for the byte-level BPE models
  (for SmolLM2 with the published pre-tokenizer, Digits then ByteLevel, put back:
  transformers' GGUF path drops the Digits split, which changes e.g. " ½");
  for Gemma-3, SentencePiece itself running a BPE model built from the GGUF's pieces,
  scores and types (transformers builds a Unigram model for Gemma GGUFs, which is not
  the published tokenizer; its ids are recorded too, for information).
- quant_blocks.json: random blocks of every ggml type the importer supports,
  dequantized by gguf-py, checked bit for bit by the unit tests.

Usage (needs numpy gguf "transformers<5" tokenizers sentencepiece protobuf; no torch):
    python3 tests/golden/make_gguf_golden.py [smollm2-135m qwen2.5-0.5b gemma3-270m quant]
The GGUFs are read from $COMPACT_CACHE/gguf/NAME.gguf (scripts/fixtures/fetch-model.sh puts them there).
"""

import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np
import gguf
from gguf import GGUFReader, GGMLQuantizationType as T
from gguf.quants import dequantize

import transformers.modeling_gguf_pytorch_utils as tgguf

# Only metadata and numpy processors are used: torch is not needed for them.
tgguf.is_torch_available = lambda: True

HERE = Path(__file__).resolve().parent
CACHE = Path(os.environ.get("COMPACT_CACHE", Path.home() / ".cache" / "compact"))

PARAGRAPH = (
    "The quick brown fox jumps over the lazy dog. In 2024, the café served 3.14159 pies at 7:30pm "
    "— naïve résumé, ½ price! Ünïcödé: 日本語のテキスト, emoji 🎉🚀, Ελληνικά, русский текст.\n\n"
    "  Indented line\twith tab & \"quotes\" (parens) [brackets] {braces} <b>bold</b> 1,234,567.89 "
    "$100 #tag @user a.b@c.com don't won't it's I'LL"
)
CODE = (
    "def fib(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n    if n < 2:\n        return n\n"
    "    return fib(n - 1) + fib(n - 2)\n\n\nprint([fib(i) for i in range(10)])  # 0 1 1 2 3 5 8 13 21 34\n"
)
CHATML = "<|im_start|>user\nWhat is 12 + 30?<|im_end|>\n<|im_start|>assistant\n42<|im_end|>\n"
GEMMA_CHAT = "<start_of_turn>user\nWhat is 12 + 30?<end_of_turn>\n<start_of_turn>model\n42<end_of_turn>\n"

MODELS = {
    "smollm2-135m": {
        "tensors": [
            ("token_embd.weight", "model.embed_tokens.weight"),
            ("blk.0.attn_q.weight", "model.layers.0.self_attn.q_proj.weight"),
            ("blk.0.attn_k.weight", "model.layers.0.self_attn.k_proj.weight"),
            ("blk.29.attn_k.weight", "model.layers.29.self_attn.k_proj.weight"),
            ("blk.0.attn_v.weight", "model.layers.0.self_attn.v_proj.weight"),
            ("blk.5.ffn_down.weight", "model.layers.5.mlp.down_proj.weight"),
            ("blk.0.attn_norm.weight", "model.layers.0.input_layernorm.weight"),
            ("blk.0.ffn_norm.weight", "model.layers.0.post_attention_layernorm.weight"),
            ("output_norm.weight", "model.norm.weight"),
        ],
        "texts": [PARAGRAPH, CODE, CHATML],
    },
    "qwen2.5-0.5b": {
        "tensors": [
            ("token_embd.weight", "model.embed_tokens.weight"),
            ("blk.0.attn_q.weight", "model.layers.0.self_attn.q_proj.weight"),
            ("blk.0.attn_q.bias", "model.layers.0.self_attn.q_proj.bias"),
            ("blk.0.attn_k.weight", "model.layers.0.self_attn.k_proj.weight"),
            ("blk.0.attn_v.weight", "model.layers.0.self_attn.v_proj.weight"),
            ("blk.0.ffn_down.weight", "model.layers.0.mlp.down_proj.weight"),
            ("blk.0.ffn_gate.weight", "model.layers.0.mlp.gate_proj.weight"),
            ("blk.11.ffn_down.weight", "model.layers.11.mlp.down_proj.weight"),
            ("output_norm.weight", "model.norm.weight"),
        ],
        "texts": [PARAGRAPH, CODE, CHATML],
    },
    "gemma3-270m": {
        "tensors": [
            ("token_embd.weight", "model.embed_tokens.weight"),
            ("blk.0.attn_q.weight", "model.layers.0.self_attn.q_proj.weight"),
            ("blk.0.attn_v.weight", "model.layers.0.self_attn.v_proj.weight"),
            ("blk.0.attn_output.weight", "model.layers.0.self_attn.o_proj.weight"),
            ("blk.0.ffn_down.weight", "model.layers.0.mlp.down_proj.weight"),
            ("blk.2.ffn_down.weight", "model.layers.2.mlp.down_proj.weight"),
            ("blk.0.attn_q_norm.weight", "model.layers.0.self_attn.q_norm.weight"),
            ("blk.0.post_ffw_norm.weight", "model.layers.0.post_feedforward_layernorm.weight"),
            ("blk.0.ffn_norm.weight", "model.layers.0.pre_feedforward_layernorm.weight"),
            ("output_norm.weight", "model.norm.weight"),
        ],
        "texts": [PARAGRAPH, CODE, GEMMA_CHAT],
    },
}


def bf16_bits(x: np.ndarray) -> np.ndarray:
    """f32 → bf16 bit patterns, rounding to nearest even."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def stats(values: np.ndarray) -> dict:
    flat = values.reshape(-1).astype(np.float32)
    n = flat.size
    bits = bf16_bits(flat)
    b = (bits.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    w = (np.arange(n, dtype=np.int64) % 1009 + 1).astype(np.float64)
    row = values.shape[-1]
    picks = sorted({0, 1, 2, 3, row, row + 1, row + 5, n // 2, n // 2 + 7, n - 1} & set(range(n)))
    return {
        "shape": list(values.shape),
        # every stored value, bit for bit: sha256 of the bf16 little-endian bytes
        "bf16_sha256": hashlib.sha256(bits.astype("<u2").tobytes()).hexdigest(),
        # exact f32 values (as produced by gguf-py) at flat indices
        "samples": [[int(i), float(flat[i])] for i in picks],
        "bf16_sum": float(b.sum()),
        "bf16_sumsq": float((b * b).sum()),
        "bf16_wsum": float((b * w).sum()),
        "bf16_abs_wsum": float((np.abs(b) * w).sum()),
        "abs_sum": float(np.abs(b).sum()),
    }


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def field(reader, key):
    f = reader.fields.get(key)
    if f is None:
        return None
    return f.contents()


def sentencepiece_pieces(reader):
    """The GGUF tokens with the "▁" that llama.cpp's converter turns into plain spaces in
    user-defined pieces ("pre-normalize user-defined spaces") put back."""
    tokens = field(reader, "tokenizer.ggml.tokens")
    types = field(reader, "tokenizer.ggml.token_type")
    return [t.replace(" ", "\u2581") if int(k) == 4 else t for t, k in zip(tokens, types)]


def gemma_sentencepiece(reader):
    """A SentencePiece BPE model from the GGUF vocabulary."""
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2 as pb

    tokens = sentencepiece_pieces(reader)
    scores = field(reader, "tokenizer.ggml.scores")
    types = field(reader, "tokenizer.ggml.token_type")
    unk = field(reader, "tokenizer.ggml.unknown_token_id")
    m = pb.ModelProto()
    m.trainer_spec.model_type = pb.TrainerSpec.BPE
    m.trainer_spec.vocab_size = len(tokens)
    m.trainer_spec.byte_fallback = True
    m.trainer_spec.unk_id = unk
    m.trainer_spec.bos_id = field(reader, "tokenizer.ggml.bos_token_id")
    m.trainer_spec.eos_id = field(reader, "tokenizer.ggml.eos_token_id")
    m.trainer_spec.pad_id = field(reader, "tokenizer.ggml.padding_token_id")
    m.normalizer_spec.name = "identity"
    m.normalizer_spec.add_dummy_prefix = bool(field(reader, "tokenizer.ggml.add_space_prefix") or False)
    m.normalizer_spec.remove_extra_whitespaces = False
    m.normalizer_spec.escape_whitespaces = True
    kinds = {1: pb.ModelProto.SentencePiece.NORMAL, 2: pb.ModelProto.SentencePiece.UNKNOWN,
             3: pb.ModelProto.SentencePiece.CONTROL, 4: pb.ModelProto.SentencePiece.USER_DEFINED,
             5: pb.ModelProto.SentencePiece.UNUSED, 6: pb.ModelProto.SentencePiece.BYTE}
    for i, (t, s, k) in enumerate(zip(tokens, scores, types)):
        p = m.pieces.add()
        p.piece, p.score = t, float(s)
        p.type = pb.ModelProto.SentencePiece.UNKNOWN if i == unk else kinds[int(k)]
    sp = spm.SentencePieceProcessor()
    sp.LoadFromSerializedProto(m.SerializeToString())
    controls = {t: i for i, (t, k) in enumerate(zip(tokens, types)) if int(k) == 3}

    def encode(text):
        # SentencePiece never matches control pieces in text; the HF tokenizer does.
        ids, rest = [], text
        while rest:
            hits = [(rest.find(c), c) for c in controls if c in rest]
            if not hits:
                ids += sp.encode(rest)
                break
            at, c = min(hits)
            if at:
                ids += sp.encode(rest[:at])
            ids.append(controls[c])
            rest = rest[at + len(c):]
        return ids

    return encode


def model_golden(name: str) -> dict:
    spec = MODELS[name]
    path = CACHE / "gguf" / f"{name}.gguf"
    reader = GGUFReader(path)
    loaded = tgguf.load_gguf_checkpoint(str(path), return_tensors=False)
    config = dict(loaded["config"])
    config.pop("_model_name_or_path", None)
    arch = field(reader, "general.architecture")
    notes = []
    if name == "qwen2.5-0.5b":
        # The file has output.weight (Q8_0) and token_embd (Q5_0); the released model
        # ties them. Measure how close they are: the importer ties on this evidence.
        out = dequantize(next(t for t in reader.tensors if t.name == "output.weight").data, T.Q8_0)
        emb = dequantize(next(t for t in reader.tensors if t.name == "token_embd.weight").data, T.Q5_0)
        rel = float(np.sqrt(((out.astype(np.float64) - emb) ** 2).sum() / (out.astype(np.float64) ** 2).sum()))
        notes.append(f"output.weight vs token_embd relative RMS difference {rel:.4f}: tied")
        config["tie_word_embeddings"] = True
        del out, emb

    processor = tgguf.TENSOR_PROCESSORS.get(arch, tgguf.TensorProcessor)(config=config)
    by_name = {t.name: t for t in reader.tensors}
    tensors = []
    for gguf_name, hf_name in spec["tensors"]:
        t = by_name[gguf_name]
        values = dequantize(t.data, t.tensor_type)
        values = processor.process(weights=values, name=gguf_name).weights
        entry = {"gguf_name": gguf_name, "hf_name": hf_name, "gguf_type": t.tensor_type.name}
        entry.update(stats(np.asarray(values)))
        tensors.append(entry)
    written = {t.tensor_type.name for t in reader.tensors if t.name != "output.weight" or not config["tie_word_embeddings"]}
    covered = {t["gguf_type"] for t in tensors}
    assert written <= covered, f"quant types not covered: {written - covered}"

    tokens = sentencepiece_pieces(reader) if arch == "gemma3" else field(reader, "tokenizer.ggml.tokens")
    types = field(reader, "tokenizer.ggml.token_type")
    texts = []
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    plain_hf = None
    if field(reader, "tokenizer.ggml.pre") == "smollm":
        from tokenizers import pre_tokenizers as pt

        plain_hf = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        hf.backend_tokenizer.pre_tokenizer = pt.Sequence(
            [pt.Digits(individual_digits=True), pt.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)]
        )
    sp_encode = gemma_sentencepiece(reader) if arch == "gemma3" else None
    for text in spec["texts"]:
        hf_ids = hf(text, add_special_tokens=False)["input_ids"]
        entry = {"text": text}
        if sp_encode:
            entry["ids"] = sp_encode(text)
            entry["transformers_unigram_ids"] = hf_ids
            if hf_ids != entry["ids"]:
                notes.append(f"transformers' Unigram rebuild differs from SentencePiece BPE on {text[:20]!r}")
        else:
            entry["ids"] = hf_ids
            if plain_hf is not None:
                plain = plain_hf(text, add_special_tokens=False)["input_ids"]
                if plain != hf_ids:
                    entry["transformers_gguf_ids_without_digits_split"] = plain
                    notes.append(f"the Digits split changes the ids of {text[:20]!r}")
        texts.append(entry)
    specials = [[i, t] for i, (t, k) in enumerate(zip(tokens, types)) if int(k) in (3, 4)]
    merges = None
    if arch == "gemma3":
        # transformers' own SentencePiece merge reconstruction, on the GGUF pieces with
        # SentencePiece's score 0 for control / user-defined pieces (llama.cpp writes −1000).
        from transformers.convert_slow_tokenizer import generate_merges

        scores = field(reader, "tokenizer.ggml.scores")
        vocab = {t: i for i, t in enumerate(tokens)}
        vocab_scores = [(t, float(s) if int(k) in (1, 6) else 0.0) for t, s, k in zip(tokens, scores, types)]
        pairs = generate_merges(vocab, vocab_scores)
        merges = {
            "count": len(pairs),
            "sha256": hashlib.sha256("\n".join(f"{a}\t{b}" for a, b in pairs).encode()).hexdigest(),
            "first": [list(p) for p in pairs[:5]],
        }
    return {
        "model": name,
        "gguf_sha256": sha256(path),
        "notes": notes,
        "config": config,
        "tensors": tensors,
        "tokenizer": {
            "vocab_entries_in_gguf": len(tokens),
            "added_count": len(specials),
            # the first and last 20 control / user-defined tokens (all of them when few)
            "added_sample": specials if len(specials) <= 40 else specials[:20] + specials[-20:],
            "texts": texts,
            "merges": merges,
        },
    }


def quant_golden() -> dict:
    """Random blocks of each supported type, with gguf-py's dequantization as f32 bits."""
    rng = np.random.RandomState(20250917)
    # byte offsets of the f16 scale fields in each block layout
    layouts = {
        T.Q4_0: (2, 18, [0]), T.Q4_1: (2, 20, [0, 2]), T.Q5_0: (2, 22, [0]), T.Q5_1: (2, 24, [0, 2]),
        T.Q8_0: (2, 34, [0]), T.Q2_K: (1, 84, [80, 82]), T.Q3_K: (1, 110, [108]),
        T.Q4_K: (1, 144, [0, 2]), T.Q5_K: (1, 176, [0, 2]), T.Q6_K: (1, 210, [208]),
    }
    out = {}
    for ty, (n_blocks, size, scales) in layouts.items():
        raw = rng.randint(0, 256, size=(n_blocks, size)).astype(np.uint8)
        for off in scales:
            d = (rng.uniform(0.001, 0.1, size=n_blocks) * rng.choice([-1, 1], size=n_blocks)).astype(np.float16)
            raw[:, off:off + 2] = d.view(np.uint8).reshape(n_blocks, 2)
        y = dequantize(raw, ty).astype(np.float32).reshape(-1)
        out[ty.name] = {"bytes": raw.tobytes().hex(), "f32_le": y.astype("<f4").tobytes().hex()}
    f = rng.standard_normal(64).astype(np.float32)
    for ty, raw in [(T.F16, f.astype(np.float16).view(np.uint8)),
                    (T.BF16, (f.view(np.uint32) >> 16).astype(np.uint16).view(np.uint8))]:
        y = dequantize(raw, ty).astype(np.float32).reshape(-1)
        out[ty.name] = {"bytes": raw.tobytes().hex(), "f32_le": y.astype("<f4").tobytes().hex()}
    return out


def main():
    names = sys.argv[1:] or list(MODELS) + ["quant"]
    for name in names:
        if name == "quant":
            data, dest = quant_golden(), HERE / "quant_blocks.json"
        else:
            data, dest = model_golden(name), HERE / f"{name}.json"
        dest.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n")
        print(f"wrote {dest} ({dest.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
