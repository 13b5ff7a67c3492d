// Figures, not a test: the whole browser flow (load → plan → calibrate and prune →
// zip download) in headless Chromium on WebGPU, with its wall time by phase and the
// wasm memory at the end (it only grows, so this is the peak).
//
// With GGUF_TYPE (e.g. Q4_K_M) the pruned model is then written as a GGUF in the tab
// too: its time, the page's wasm memory and the largest worker's; then the whole again
// at `?workers=1` (the page alone) for the one-thread baseline and the ratio.
//
//   node tests/web/bench.mjs MODEL VOCAB FFN [SAMPLES] [SEQ_LEN] [DEVICE: webgpu|cpu] [GGUF_TYPE]
//   e.g. node tests/web/bench.mjs qwen2.5-0.5b 49536 3456 4 128   (scripts/bench/bench-web.sh)
import { serve, launch, cleanup, pruneInBrowser } from './flow.mjs';

const [model, vocab, ffn, samples = '4', seqLen = '128', device = 'webgpu', ggufType = ''] = process.argv.slice(2);
if (!ffn) {
  console.error('usage: node tests/web/bench.mjs MODEL VOCAB FFN [SAMPLES] [SEQ_LEN] [DEVICE] [GGUF_TYPE]');
  process.exit(2);
}
const { server, baseUrl } = await serve();
const { context, page, errors } = await launch();
const s = x => (x / 1000).toFixed(1);

/** The flow at `url`, then (with GGUF_TYPE) the GGUF written in the tab. */
async function run(url, label) {
  const r = await pruneInBrowser(page, url, { model, vocab: Number(vocab), ffn: Number(ffn), samples: Number(samples), seqLen: Number(seqLen), device });
  console.log(`${model}, V′ ${vocab}, I′ ${ffn}, ${samples} × ${seqLen} tokens in headless Chromium on ${device}${label}:`);
  console.log(`  load ${s(r.t.load)} s · calibrate and prune ${s(r.t.prune)} s · zip download ${s(r.t.download)} s · whole flow ${s(r.t.total)} s`);
  console.log(`  peak wasm memory ${r.wasmMb} MB`);
  console.log(`  the page before the run: ${r.estimate}`);
  console.log(`  page: ${r.summary}`);
  if (!ggufType) return null;
  await page.locator('#gguf-size', { hasText: 'MB' }).waitFor({ timeout: 60000 });
  await page.locator('#gguf-type').selectOption(ggufType);
  const t0 = Date.now();
  await Promise.all([page.waitForEvent('download', { timeout: 3600000 }), page.locator('#gguf-button').click()]);
  const took = Date.now() - t0;
  const status = await page.locator('#gguf-status', { hasText: 'Downloading' }).textContent();
  console.log(`  ${ggufType} GGUF written in the tab in ${s(took)} s: ${status}`);
  return took;
}

try {
  const all = await run(baseUrl, '');
  // The same in a page whose pool is capped at one worker: the page alone, the baseline.
  if (all !== null) {
    const one = await run(`${baseUrl}?workers=1`, ' (?workers=1)');
    console.log(`  ${ggufType} GGUF: every core ${s(all)} s, one ${s(one)} s: ${(one / all).toFixed(2)}× faster`);
  }
  if (errors.length) console.log(`  console errors: ${errors.join(' | ')}`);
} finally {
  await context.close();
  server.kill();
  cleanup();
}
