// Figures, not a test: the whole browser flow (load → plan → calibrate and prune →
// zip download → compare → save into a folder) in headless Chromium, with its wall time
// by phase and the wasm memory after each step (it only grows, so the last is the peak).
//
// With GGUF_TYPE (e.g. Q4_K_M) the pruned model is then written as a GGUF in the tab
// too: its time, the page's wasm memory and the largest worker's; then the whole again
// at `?workers=1` (the page alone) for the one-thread baseline and the ratio. On the CPU
// device the calibration's tokens/s on every core and at `?workers=1` too.
//
// With REPAIR=residual|sequential|dense in the environment the run repairs down_proj
// (on the CPU device): the page's summary gives the repair's time.
//
//   node tests/web/bench.mjs MODEL VOCAB FFN [SAMPLES] [SEQ_LEN] [DEVICE: webgpu|cpu] [GGUF_TYPE]
//   e.g. node tests/web/bench.mjs qwen2.5-0.5b 49536 3456 4 128   (scripts/bench/bench-web.sh)
import { serve, launch, cleanup, pruneInBrowser } from './flow.mjs';

const [model, vocab, ffn, samples = '4', seqLen = '128', device = 'webgpu', ggufType = ''] = process.argv.slice(2);
if (!ffn) {
  console.error('usage: node tests/web/bench.mjs MODEL VOCAB FFN [SAMPLES] [SEQ_LEN] [DEVICE] [GGUF_TYPE]');
  process.exit(2);
}
const repairMode = process.env.REPAIR ?? '';
const { server, baseUrl } = await serve();
const { context, page, errors } = await launch();
const s = x => (x / 1000).toFixed(1);
// The wasm memory at any moment (Trunk hands the instance's exports to this event), and
// a folder picker answered with a folder of the origin-private file system.
await context.addInitScript(() => {
  addEventListener('TrunkApplicationStarted', e => { window.__wasmMemory = e.detail.wasm.memory; });
  window.showDirectoryPicker = async () => (await navigator.storage.getDirectory()).getDirectoryHandle('bench-saves', { create: true });
});
const wasmMb = () => page.evaluate(() => (window.__wasmMemory.buffer.byteLength / 1e6).toFixed(1));

/** The compare step (one greedy token from each model, on the run's device) and the
 *  save into a folder: their times, and the wasm memory after each. */
async function compareAndSave() {
  await page.locator('#compare-cpu').setChecked(device === 'cpu');
  await page.locator('#new-tokens').fill('1');
  await page.locator('#new-tokens').dispatchEvent('change');
  let t0 = Date.now();
  await page.locator('#generate-button').click();
  const gens = page.locator('#generations'), oops = page.locator('#compare .error');
  await Promise.race([gens.waitFor({ timeout: 3600000 }), oops.waitFor({ timeout: 3600000 })]);
  if (await oops.count()) throw new Error('compare failed: ' + await oops.textContent());
  console.log(`  compare (dense and pruned, one greedy token each on ${device}): ${s(Date.now() - t0)} s, wasm memory ${await wasmMb()} MB`);
  t0 = Date.now();
  await page.locator('#save-folder').click();
  await page.locator('#download-status', { hasText: 'bench-saves/' }).waitFor({ timeout: 3600000 });
  console.log(`  saved into a folder: ${s(Date.now() - t0)} s, wasm memory ${await wasmMb()} MB`);
}

/** The flow at `url`, then (with GGUF_TYPE) the GGUF written in the tab. */
async function run(url, label) {
  const repair = repairMode ? { repair: true, repairMode } : {};
  const r = await pruneInBrowser(page, url, { model, vocab: Number(vocab), ffn: Number(ffn), samples: Number(samples), seqLen: Number(seqLen), device, ...repair });
  const repaired = repairMode ? `, down_proj repaired (${repairMode})` : '';
  console.log(`${model}, V′ ${vocab}, I′ ${ffn}, ${samples} × ${seqLen} tokens in headless Chromium on ${device}${repaired}${label}:`);
  console.log(`  load ${s(r.t.load)} s · calibrate and prune ${s(r.t.prune)} s · zip download ${s(r.t.download)} s · whole flow ${s(r.t.total)} s`);
  console.log(`  peak wasm memory ${r.wasmMb} MB`);
  console.log(`  the page before the run: ${r.estimate}`);
  console.log(`  page: ${r.summary}`);
  if (!label) await compareAndSave();
  if (!ggufType) return { gguf: null, summary: r.summary };
  await page.locator('#gguf-size', { hasText: 'MB' }).waitFor({ timeout: 60000 });
  await page.locator('#gguf-type').selectOption(ggufType);
  const t0 = Date.now();
  await Promise.all([page.waitForEvent('download', { timeout: 3600000 }), page.locator('#gguf-button').click()]);
  const took = Date.now() - t0;
  const status = await page.locator('#gguf-status', { hasText: 'Downloading' }).textContent();
  console.log(`  ${ggufType} GGUF written in the tab in ${s(took)} s: ${status}; wasm memory ${await wasmMb()} MB`);
  return { gguf: took, summary: r.summary };
}

/** Calibration tokens/s as the page's summary gives it. */
const calibRate = summary => Number(summary.match(/Calibration: .*?, (\d+) tokens\/s/)?.[1] ?? NaN);

try {
  const all = await run(baseUrl, '');
  // The same in a page whose pool is capped at one worker: the page alone, the baseline
  // of the GGUF writing and of the CPU device's calibration (the repair runs on the page).
  const cpuCalib = device === 'cpu' && !repairMode;
  const one = all.gguf !== null || cpuCalib ? await run(`${baseUrl}?workers=1`, ' (?workers=1)') : null;
  if (all.gguf !== null) {
    console.log(`  ${ggufType} GGUF: every core ${s(all.gguf)} s, one ${s(one.gguf)} s: ${(one.gguf / all.gguf).toFixed(2)}× faster`);
  }
  if (cpuCalib) {
    const [a, b] = [calibRate(all.summary), calibRate(one.summary)];
    console.log(`  CPU device calibration: every core ${a} tokens/s, one ${b} tokens/s: ${(a / b).toFixed(2)}× faster`);
  }
  if (errors.length) console.log(`  console errors: ${errors.join(' | ')}`);
} finally {
  await context.close();
  server.kill();
  cleanup();
}
