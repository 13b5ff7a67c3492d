// Figures, not a test: the whole browser flow (load → plan → calibrate and prune →
// zip download) in headless Chromium on WebGPU, with its wall time by phase and the
// wasm memory at the end (it only grows, so this is the peak).
//
//   node tests/web/bench.mjs MODEL VOCAB FFN [SAMPLES] [SEQ_LEN] [DEVICE: webgpu|cpu]
//   e.g. node tests/web/bench.mjs qwen2.5-0.5b 49536 3456 4 128   (scripts/bench/bench-web.sh)
import { serve, launch, cleanup, pruneInBrowser } from './flow.mjs';

const [model, vocab, ffn, samples = '4', seqLen = '128', device = 'webgpu'] = process.argv.slice(2);
if (!ffn) {
  console.error('usage: node tests/web/bench.mjs MODEL VOCAB FFN [SAMPLES] [SEQ_LEN] [DEVICE]');
  process.exit(2);
}
const { server, baseUrl } = await serve();
const { context, page, errors } = await launch();
try {
  const r = await pruneInBrowser(page, baseUrl, { model, vocab: Number(vocab), ffn: Number(ffn), samples: Number(samples), seqLen: Number(seqLen), device });
  const s = x => (x / 1000).toFixed(1);
  console.log(`${model}, V′ ${vocab}, I′ ${ffn}, ${samples} × ${seqLen} tokens in headless Chromium on ${device}:`);
  console.log(`  load ${s(r.t.load)} s · calibrate and prune ${s(r.t.prune)} s · zip download ${s(r.t.download)} s · whole flow ${s(r.t.total)} s`);
  console.log(`  peak wasm memory ${r.wasmMb} MB`);
  console.log(`  page: ${r.summary}`);
  if (errors.length) console.log(`  console errors: ${errors.join(' | ')}`);
} finally {
  await context.close();
  server.kill();
  cleanup();
}
