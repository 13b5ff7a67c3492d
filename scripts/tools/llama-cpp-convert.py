#!/usr/bin/env python3
"""Convert a folder pruned by compact to GGUF with llama.cpp's own converter.

llama.cpp's `convert_hf_to_gguf.py` names a byte-level BPE tokenizer's pre-tokenizer
(SmolLM2's "smollm", Qwen2.5's "qwen2", Llama-3's "llama-bpe", …) by hashing the token
ids of a test string. Vocabulary pruning renumbers ids and splits rare words
differently, so the hash of a pruned tokenizer is in nobody's table and the converter
stops with "BPE pre-tokenizer was not recognized". Pruning leaves the pre-tokenizer
itself unchanged, so this script runs the converter unmodified except that the name is
looked up with the dense model's tokenizer. Everything else (vocabulary, merges,
tensors) is read from the pruned folder. SentencePiece models (Gemma-3, with its
pruned tokenizer.model) convert without it.

    python3 scripts/tools/llama-cpp-convert.py --llama-cpp ~/llama.cpp --dense DENSE_DIR \\
        PRUNED_DIR [--outfile pruned.gguf] [--outtype bf16 …]

Needs what the converter needs (llama.cpp's requirements/requirements-convert_hf_to_gguf.txt).
"""

import argparse
import json
import sys
from pathlib import Path


def tokenizer_sections(folder: Path) -> dict:
    tok = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    return {k: tok.get(k) for k in ("normalizer", "pre_tokenizer", "decoder")} | {"model.type": tok["model"].get("type")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--llama-cpp", type=Path, required=True, help="a llama.cpp checkout (has convert_hf_to_gguf.py)")
    ap.add_argument("--dense", type=Path, required=True, help="the model folder that was pruned")
    ap.add_argument("pruned", type=Path, help="the folder compact wrote")
    args, rest = ap.parse_known_args()

    converter = args.llama_cpp / "convert_hf_to_gguf.py"
    if not converter.is_file():
        sys.exit(f"{converter} does not exist: --llama-cpp should name a llama.cpp checkout")
    for folder in (args.dense, args.pruned):
        if not (folder / "tokenizer.json").is_file():
            sys.exit(f"{folder} has no tokenizer.json: both --dense and the pruned folder must be Hugging Face model folders")
    if tokenizer_sections(args.dense) != tokenizer_sections(args.pruned):
        sys.exit(f"{args.pruned} and {args.dense} tokenize differently before the vocabulary "
                 "(normalizer, pre-tokenizer or decoder differ): --dense must be the folder that was pruned")

    sys.path[:0] = [str(args.llama_cpp), str(args.llama_cpp / "gguf-py")]
    sys.argv = [str(converter), str(args.pruned), *rest]
    import runpy
    from transformers import AutoTokenizer

    dense = AutoTokenizer.from_pretrained(args.dense)
    try:
        from conversion.base import TextModel  # llama.cpp after the converter was split into modules
    except ImportError:
        TextModel = None
    if TextModel is not None:
        original = TextModel.get_vocab_base_pre
        TextModel.get_vocab_base_pre = lambda self, _pruned: original(self, dense)
        runpy.run_path(str(converter), run_name="__main__")
    else:
        module = runpy.run_path(str(converter), run_name="convert_hf_to_gguf")
        original = module["TextModel"].get_vocab_base_pre
        module["TextModel"].get_vocab_base_pre = lambda self, _pruned: original(self, dense)
        module["main"]()


if __name__ == "__main__":
    main()
