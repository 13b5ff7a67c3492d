"""Golden logits for the CPU reference forward (tests/reference.rs), computed once
with an independent implementation: Hugging Face transformers (PyTorch, float32) on a
converted fixture folder. Run in a throwaway venv (pip install torch transformers):

    python tests/golden/make_logits_golden.py ~/.cache/compact/models/smollm2-135m smollm2-135m

Writes tests/golden/<name>.logits.json: the prompt's token ids, and for every position
the top-8 (id, logit) pairs plus the logits of a fixed probe set of ids. Small on
purpose; the test recomputes the same numbers with our code and compares.
"""
import hashlib
import json
import sys

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

PROMPT = "The capital of France is Paris. In 1889, the Eiffel Tower was built for the World's Fair; it is 330 metres tall."

folder, name = sys.argv[1], sys.argv[2]
tok = AutoTokenizer.from_pretrained(folder)
model = AutoModelForCausalLM.from_pretrained(folder, torch_dtype=torch.float32, attn_implementation="eager")
model.eval()
ids = tok(PROMPT, return_tensors="pt").input_ids
with torch.no_grad():
    out = model(ids)
logits = out.logits[0]
vocab = logits.shape[-1]
probe = sorted({0, 1, 2, 13, 100, 1000, vocab // 2, vocab - 1} | set(ids[0].tolist()[:4]))
positions = []
for p in range(logits.shape[0]):
    top = torch.topk(logits[p], 8)
    positions.append({
        "top": [[int(i), float(v)] for v, i in zip(top.values, top.indices)],
        "probe": [float(logits[p, i]) for i in probe],
    })
with open(f"{folder}/model.safetensors", "rb") as f:
    sha = hashlib.sha256(f.read()).hexdigest()
golden = {
    "model": name,
    "made_with": f"transformers {__import__('transformers').__version__}, torch {torch.__version__}, float32, eager attention",
    "weights_sha256": sha,
    "prompt": PROMPT,
    "ids": ids[0].tolist(),
    "probe_ids": probe,
    "positions": positions,
    "greedy": tok.decode(model.generate(tok("The capital of France is", return_tensors="pt").input_ids, max_new_tokens=6, do_sample=False)[0]),
}
path = f"tests/golden/{name}.logits.json"
with open(path, "w") as f:
    json.dump(golden, f, indent=1)
print("wrote", path, "greedy:", golden["greedy"])
