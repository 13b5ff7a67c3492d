#!/usr/bin/env python3
"""Golden outputs of tiny models of every supported family, computed by transformers
(PyTorch, float32, eager attention): the oracle for tests/families.rs.

No weights are downloaded or committed. Each family gets a tiny config (2-3 layers,
hidden 64, vocabulary 256) that exercises what makes the family itself: Llama-3's
rope scaling (with bands inside head_dim 16), Mistral's and Gemma-3's sliding
windows (6 positions, shorter than the 16-token input), Qwen2's q/k/v biases,
Qwen3's per-head q/k norms with heads x head_dim != hidden, Gemma-3's norm offsets,
embedding scale, local RoPE base and query_pre_attn_scalar, Phi-3's fused qkv_proj and
gate_up_proj (and its sliding window). The weights come from a
counter-based generator that tests/common/mod.rs implements the same way (splitmix64
of fnv1a64(name) + index, mapped to [-1, 1) in f32, times a power of two), so both
sides build bit-identical models; the golden records a sha256 of the weights to prove
it.

Recorded per family: the config, the weights' sha256, 16 input ids, every logit at
every position, and per layer the act^2 importance of every FFN channel (the sum over
positions of w_i * h_ij^2, h the input of down_proj, w a fixed 0/1 position mask).

Run in a throwaway venv (pip install torch "transformers==4.57.6" numpy):
    python3 tests/golden/make_family_golden.py    # writes tests/golden/families.json
"""

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import torch
from transformers import AutoConfig, AutoModelForCausalLM

MASK64 = (1 << 64) - 1


def fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & MASK64
    return h


def uniform(name: str, n: int) -> np.ndarray:
    """n values in [-1, 1), exactly representable in f32."""
    with np.errstate(over="ignore"):
        x = np.uint64(fnv1a64(name.encode())) + (np.arange(n, dtype=np.uint64) + np.uint64(1)) * np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    u = (x >> np.uint64(40)).astype(np.float32) * np.float32(2.0**-24)
    return u * np.float32(2.0) - np.float32(1.0)


def weight(name: str, shape, offset: bool) -> np.ndarray:
    """The value of tensor `name` (tests/common/mod.rs `tiny_weight` is the twin)."""
    n = int(np.prod(shape))
    v = uniform(name, n)
    if len(shape) == 1 and name.endswith("norm.weight"):
        # Around 1 (Gemma stores w for a (1 + w) scale: around 0).
        v = v * np.float32(0.25) + (np.float32(0.0) if offset else np.float32(1.0))
    elif len(shape) == 1:
        v = v * np.float32(0.125)  # biases
    elif "embed_tokens" in name or name == "lm_head.weight":
        v = v * np.float32(0.5)
    else:
        # Near 1/sqrt(fan_in), a power of two so the product is exact.
        v = v * np.float32(2.0 ** -round(np.log2(np.sqrt(shape[1]))))
    return v.reshape(shape)


BASE = dict(hidden_size=64, intermediate_size=128, num_attention_heads=4, num_key_value_heads=2, vocab_size=256,
            max_position_embeddings=64, rms_norm_eps=1e-5, torch_dtype="float32")

FAMILIES = {
    "llama": dict(model_type="llama", architectures=["LlamaForCausalLM"], num_hidden_layers=2, tie_word_embeddings=False,
                  rope_theta=10000.0, hidden_act="silu"),
    "llama3-rope": dict(model_type="llama", architectures=["LlamaForCausalLM"], num_hidden_layers=2, tie_word_embeddings=True,
                        rope_theta=10000.0, hidden_act="silu",
                        rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                                          original_max_position_embeddings=32)),
    "mistral": dict(model_type="mistral", architectures=["MistralForCausalLM"], num_hidden_layers=2, tie_word_embeddings=False,
                    rope_theta=10000.0, hidden_act="silu", sliding_window=6, head_dim=16),
    "qwen2": dict(model_type="qwen2", architectures=["Qwen2ForCausalLM"], num_hidden_layers=2, tie_word_embeddings=True,
                  rope_theta=1000000.0, hidden_act="silu", use_sliding_window=False),
    "qwen3": dict(model_type="qwen3", architectures=["Qwen3ForCausalLM"], num_hidden_layers=2, tie_word_embeddings=False,
                  rope_theta=1000000.0, hidden_act="silu", head_dim=32, attention_bias=False, use_sliding_window=False),
    "phi3": dict(model_type="phi3", architectures=["Phi3ForCausalLM"], num_hidden_layers=2, tie_word_embeddings=False,
                 rope_theta=10000.0, hidden_act="silu", sliding_window=6, pad_token_id=0, bos_token_id=1, eos_token_id=2),
    "gemma3": dict(model_type="gemma3_text", architectures=["Gemma3ForCausalLM"], num_hidden_layers=3, tie_word_embeddings=True,
                   head_dim=16, query_pre_attn_scalar=16, sliding_window=6,
                   layer_types=["sliding_attention", "full_attention", "sliding_attention"],
                   rope_theta=1000000.0, rope_local_base_freq=10000.0, hidden_activation="gelu_pytorch_tanh",
                   final_logit_softcapping=None, attn_logit_softcapping=None, rms_norm_eps=1e-6),
}

SEQ = 16


def main():
    torch.manual_seed(0)
    out = {"transformers": __import__("transformers").__version__, "torch": torch.__version__, "families": {}}
    ids = [int(i) for i in (np.abs(uniform("ids", SEQ)) * 255).astype(np.int64)]
    positions = [0.0 if i % 5 == 3 else 1.0 for i in range(SEQ)]
    for name, extra in FAMILIES.items():
        config = {**BASE, **extra}
        cfg = AutoConfig.for_model(**config)
        cfg._attn_implementation = "eager"
        model = AutoModelForCausalLM.from_config(cfg, torch_dtype=torch.float32)
        model.eval()
        offset = config["model_type"].startswith("gemma")
        state = model.state_dict()
        digest = hashlib.sha256()
        with torch.no_grad():
            for key in sorted(state):
                if key == "lm_head.weight" and config["tie_word_embeddings"]:
                    continue
                w = weight(key, tuple(state[key].shape), offset)
                state[key].copy_(torch.from_numpy(w))
                digest.update(key.encode())
                digest.update(w.astype("<f4").tobytes())
        if config["tie_word_embeddings"]:
            assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()

        act2 = []
        hooks = []
        for layer in model.model.layers:
            def hook(_mod, args, store=act2):
                h = args[0][0].double()
                w = torch.tensor(positions, dtype=torch.float64)[:, None]
                store.append((w * h * h).sum(0).tolist())
            hooks.append(layer.mlp.down_proj.register_forward_pre_hook(hook))
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0]
        for h in hooks:
            h.remove()
        out["families"][name] = {
            "config": config,
            "weights_sha256": digest.hexdigest(),
            "ids": ids,
            "position_weights": positions,
            "logits": [[float(f"{x:.7g}") for x in row] for row in logits.tolist()],
            "act2": [[float(f"{x:.9g}") for x in layer] for layer in act2],
        }
        print(f"{name}: top-1 {logits.argmax(-1).tolist()[:8]}", file=sys.stderr)
    path = Path(__file__).with_name("families.json")
    path.write_text(json.dumps(out, separators=(",", ":")) + "\n")
    print(f"wrote {path} ({path.stat().st_size} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
