// Runs a GGUF in llama.cpp (node-llama-cpp's prebuilt CPU binary) and compares, for a few
// prompts, its prompt token ids and greedy continuation with compact's own: the ids of
// the folder's tokenizer.json (the `tokenizers` library, from Python) and
// `compact generate` on the folder the GGUF was converted from.
//
//   NODE_LLAMA_CPP=…/node_modules/node-llama-cpp node scripts/tools/llama-cpp-check.mjs FILE.gguf FOLDER COMPACT_BIN PYTHON
//
// Exits non-zero unless every prompt agrees. Used by scripts/tools/check-llama-cpp.sh.
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const pkg = process.env.NODE_LLAMA_CPP;
const { getLlama, LlamaCompletion } = await import(pkg ? pathToFileURL(join(pkg, "dist/index.js")).href : "node-llama-cpp");

const [gguf, folder, compact, python] = process.argv.slice(2);
const prompts = [
  "The capital of France is",
  "Once upon a time, there was a",
  "def add(a, b):\n    return",
  "Die Hauptstadt von Deutschland ist",
  "Water boils at a temperature of",
];
const tokenize = "import sys; from tokenizers import Tokenizer; "
  + "print(' '.join(map(str, Tokenizer.from_file(sys.argv[1]).encode(sys.argv[2], add_special_tokens=False).ids)))";

const llama = await getLlama({ gpu: false, build: "never" });
const model = await llama.loadModel({ modelPath: gguf });
let sameText = 0, sameIds = 0;
for (const prompt of prompts) {
  const ctx = await model.createContext({ contextSize: 128 });
  const completion = new LlamaCompletion({ contextSequence: ctx.getSequence() });
  const theirs = await completion.generateCompletion(prompt, { maxTokens: 12, temperature: 0 });
  await ctx.dispose();
  const theirIds = Array.from(model.tokenize(prompt)).join(" ");
  const ourIds = execFileSync(python, ["-c", tokenize, `${folder}/tokenizer.json`, prompt]).toString().trim();
  // `compact generate` prints the prompt, then the new text in bold.
  const out = execFileSync(compact, ["generate", "--model", folder, "--prompt", prompt, "--max-tokens", "12"],
    { stdio: ["ignore", "pipe", "ignore"] }).toString();
  const ours = out.slice(out.indexOf("\x1b[1m") + 4, out.indexOf("\x1b[0m"));
  sameText += theirs === ours;
  sameIds += theirIds === ourIds;
  console.log(JSON.stringify({ prompt, ids_equal: theirIds === ourIds, llama_cpp: theirs, compact: ours }));
}
console.log(`${gguf.split("/").pop()}: prompt ids equal ${sameIds}/${prompts.length}, greedy text equal ${sameText}/${prompts.length}`);
await llama.dispose();
process.exit(sameText === prompts.length && sameIds === prompts.length ? 0 : 1);
