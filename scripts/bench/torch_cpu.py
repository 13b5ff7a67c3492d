"""The torch f32 baseline of the CPU benchmark (scripts/bench/bench-cpu.sh): Hugging Face
transformers on the same model folder, the same token ids and the same thread count as
`compact`, timed in the same run. Run by the benchmark's throwaway venv, never by tests.

    python torch_cpu.py calibrate FOLDER TOKENS.json THREADS    # windows of token ids
    python torch_cpu.py generate FOLDER PROMPT_IDS.json NEW THREADS
    python torch_cpu.py score FOLDER REQUESTS.jsonl THREADS     # compact eval --save-requests

Prints one JSON object: the figures, in seconds and tokens/s.
"""
import json
import sys
import time

import torch
from transformers import AutoModelForCausalLM


def load(folder):
    start = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    model.eval()
    return model, time.perf_counter() - start


def calibrate(folder, tokens_path):
    """The act² importance of every down_proj input channel over the windows, as
    compact's calibration computes it (no logits: the base model only)."""
    windows = json.load(open(tokens_path))
    model, load_s = load(folder)
    sums = {}

    def hook(name):
        def f(_module, args):
            h = args[0].reshape(-1, args[0].shape[-1])
            s = (h.double() ** 2).sum(0)
            sums[name] = sums.get(name, 0) + s

        return f

    for name, m in model.named_modules():
        if name.endswith("mlp.down_proj"):
            m.register_forward_pre_hook(hook(name))
    ids = torch.tensor(windows)
    batch = 4
    with torch.inference_mode():
        model.model(ids[:1, :8])  # warm-up
        sums.clear()
        start = time.perf_counter()
        for b in range(0, len(windows), batch):
            model.model(ids[b : b + batch])
        secs = time.perf_counter() - start
    return {"tokens": ids.numel(), "seconds": secs, "tokens_per_second": ids.numel() / secs, "load_seconds": load_s}


def generate(folder, prompt_path, new):
    start = time.perf_counter()
    model, load_s = load(folder)
    ids = torch.tensor([json.load(open(prompt_path))])
    with torch.inference_mode():
        t0 = time.perf_counter()
        out = model.generate(ids, max_new_tokens=new, min_new_tokens=new, do_sample=False, attention_mask=torch.ones_like(ids))
        secs = time.perf_counter() - t0
    total = time.perf_counter() - start
    made = out.shape[1] - ids.shape[1]
    return {
        "new_tokens": made,
        "seconds": secs,
        "tokens_per_second": made / secs,
        "with_load_seconds": total,
        "with_load_tokens_per_second": made / total,
        "ids": out[0, ids.shape[1] :].tolist(),
    }


def score(folder, requests_path):
    """lm-eval-harness's loglikelihood scoring at its default batch size (1): every
    request's tokens through the model, the log-probabilities of its targets summed."""
    reqs = [json.loads(line) for line in open(requests_path)]
    start = time.perf_counter()
    model, load_s = load(folder)
    sums = []
    with torch.inference_mode():
        t0 = time.perf_counter()
        for r in reqs:
            a, b = r["targets"]
            ids = torch.tensor([r["tokens"][: b - 1]])
            logp = torch.log_softmax(model(ids).logits[0].float(), -1)
            target = torch.tensor(r["tokens"][a:b])
            sums.append(float(logp[torch.arange(a - 1, b - 1), target].sum()))
        secs = time.perf_counter() - t0
    return {"requests": len(reqs), "seconds": secs, "with_load_seconds": time.perf_counter() - start, "logprob_sums": sums}


def main():
    what, folder = sys.argv[1], sys.argv[2]
    torch.set_num_threads(int(sys.argv[-1]))
    if what == "calibrate":
        out = calibrate(folder, sys.argv[3])
    elif what == "generate":
        out = generate(folder, sys.argv[3], int(sys.argv[4]))
    elif what == "score":
        out = score(folder, sys.argv[3])
    else:
        raise SystemExit(f"unknown command {what!r}")
    out["torch"] = torch.__version__
    out["threads"] = torch.get_num_threads()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
