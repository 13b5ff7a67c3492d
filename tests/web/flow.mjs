// The whole browser flow, shared by the end-to-end test and the benchmark: the real
// app served by `compact serve` with the converted fixture models, driven in Debian's
// headless Chromium with WebGPU (SwiftShader) by playwright-core; the download is
// verified natively with the `compact` CLI and Python's zipfile.
//
// Environment: COMPACT_BIN (the native CLI), DIST (built app), MODELS (folder of
// model folders), NODE_TOOLS (where playwright-core is installed).
import { spawn, execFileSync } from 'node:child_process';
import { createReadStream, mkdtempSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const root = join(here, '..', '..');
const require = createRequire(join(process.env.NODE_TOOLS, 'node_modules', 'x.js'));
const { chromium } = require('playwright-core');
export const shots = join(here, 'screenshots');
mkdirSync(shots, { recursive: true });
export const baseFlags = readFileSync(join(root, 'scripts', 'dev', 'chromium-flags.txt'), 'utf8').split('\n').map(s => s.trim()).filter(Boolean);
const temps = [];

/** A fresh temporary folder, removed by cleanup(). */
export function temp(tag) {
  const d = mkdtempSync(join(tmpdir(), `compact-${tag}-`));
  temps.push(d);
  return d;
}

/** Starts `compact serve` on the folder of model folders `models`; resolves to { server, baseUrl }. */
export async function serve(models = process.env.MODELS) {
  const server = spawn(process.env.COMPACT_BIN, ['serve', '--dist', process.env.DIST, '--models', models, '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const baseUrl = await new Promise((resolve, reject) => {
    let out = '';
    server.stdout.on('data', d => {
      out += d;
      const m = out.match(/on (http:\/\/127\.0\.0\.1:\d+\/)/);
      if (m) resolve(m[1]);
    });
    server.on('exit', code => reject(new Error(`compact serve exited with ${code}: ${out}`)));
    setTimeout(() => reject(new Error('compact serve did not start: ' + out)), 20000);
  });
  return { server, baseUrl };
}

export function cleanup() {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
}

/** Headless Chromium with a fresh profile; console errors are collected. */
export async function launch(flags = baseFlags) {
  const context = await chromium.launchPersistentContext(temp('chromium'), {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: flags,
    viewport: { width: 900, height: 1100 },
    acceptDownloads: true,
  });
  const page = context.pages()[0] ?? await context.newPage();
  const errors = [];
  page.on('console', msg => { if (msg.type() === 'error') errors.push(msg.text()); });
  page.on('pageerror', err => errors.push(String(err)));
  return { context, page, errors };
}

/** Runs the CLI; returns stdout. */
export function cli(args) {
  return execFileSync(process.env.COMPACT_BIN, args, { encoding: 'utf8', env: { ...process.env, WGPU_BACKEND: process.env.WGPU_BACKEND ?? 'vulkan' }, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
}

/** Python helper: unzip (checking every CRC) or compare importance files. */
export function python(script, ...args) {
  return execFileSync('python3', ['-c', script, ...args], { encoding: 'utf8' });
}

export const UNZIP = `import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
assert z.testzip() is None, 'bad CRC'
z.extractall(sys.argv[2])
print('\\n'.join(sorted(z.namelist())))`;

// Worst per-layer relative L2 between two importance files (safetensors of F32).
export const IMPORTANCE_DIFF = `import sys, json, struct, array, math
def read(p):
    b = open(p, 'rb').read()
    n = struct.unpack('<Q', b[:8])[0]
    h = json.loads(b[8:8 + n])
    out = {}
    for k, v in h.items():
        if k == '__metadata__': continue
        s, e = v['data_offsets']
        a = array.array('f'); a.frombytes(b[8 + n + s:8 + n + e]); out[k] = a
    return out, h.get('__metadata__', {})
(a, ma), (b, mb) = read(sys.argv[1]), read(sys.argv[2])
assert a.keys() == b.keys(), (sorted(a), sorted(b))
worst = 0.0
for k in a:
    num = math.sqrt(sum((x - y) ** 2 for x, y in zip(a[k], b[k])))
    den = math.sqrt(sum(y * y for y in b[k]))
    worst = max(worst, num / max(den, 1e-30))
print(json.dumps({'layers': len(a), 'worst_rel_l2': worst, 'meta_a': ma, 'meta_b': mb}))`;

/** Compares two safetensors files tensor by tensor: names and shapes must match; prints
 * the tensors whose bytes differ with their relative L2 distance (BF16, F16 or F32), how
 * many elements differ, and how many of those differ by more than rounding would. */
export const TENSOR_DIFF = `import sys, json, struct, array, math
def read(p):
    b = open(p, 'rb').read()
    n = struct.unpack('<Q', b[:8])[0]
    h = json.loads(b[8:8 + n]); h.pop('__metadata__', None)
    return {k: (v['dtype'], v['shape'], b[8 + n + v['data_offsets'][0]:8 + n + v['data_offsets'][1]]) for k, v in h.items()}
def floats(dtype, raw):
    if dtype == 'F32':
        a = array.array('f'); a.frombytes(raw); return a
    h = array.array('H'); h.frombytes(raw)
    if dtype == 'BF16':
        return array.array('f', array.array('I', [x << 16 for x in h]).tobytes())
    return array.array('f', [struct.unpack('<e', struct.pack('<H', x))[0] for x in h])
a, b = read(sys.argv[1]), read(sys.argv[2])
assert a.keys() == b.keys(), (sorted(a), sorted(b))
# Beyond rounding: a differing element farther apart than one step of a 2-byte type at
# its size (2^-7 of it for BF16, 2^-10 for F16), and than 1e-4 of the tensor's RMS.
step = {'BF16': 2.0 ** -7, 'F16': 2.0 ** -10, 'F32': 0.0}
differ, elements, beyond, examples = {}, 0, 0, []
for k in sorted(a):
    (da, sa, ra), (db, sb, rb) = a[k], b[k]
    assert (da, sa) == (db, sb), (k, da, sa, db, sb)
    if ra != rb:
        x, y = floats(da, ra), floats(db, rb)
        num = math.sqrt(sum((p - q) ** 2 for p, q in zip(x, y)))
        den = math.sqrt(sum(q * q for q in y))
        differ[k] = num / max(den, 1e-30)
        rms = den / math.sqrt(max(len(y), 1))
        for p, q in zip(x, y):
            if p != q:
                elements += 1
                if abs(p - q) > max(step[da] * max(abs(p), abs(q)), 1e-4 * rms):
                    beyond += 1
                    if len(examples) < 5: examples.append([k, p, q, rms])
print(json.dumps({'tensors': len(a), 'differ': differ, 'elements_differ': elements, 'beyond_rounding': beyond, 'examples': examples}))`;

/**
 * The flow: demo model → plan (V′, I′) → calibrate and prune (on `device`: 'webgpu'
 * or 'cpu'; `mask`: 'mask' or 'plain'; `score`: 'act2', 'act2-weight' or 'obs'; `repair` with
 * `repairMode` ('residual', 'sequential' or 'dense');
 * or ranked by `importanceFile`) → inspect →
 * download.
 * Returns timings (ms), the wasm memory, and where the downloads were saved.
 */
export async function pruneInBrowser(page, baseUrl, { model, vocab, ffn, samples, seqLen, device = 'webgpu', mask = 'mask', score = 'act2', repair = false, repairMode = 'residual', importanceFile = null, shotPrefix = '' }) {
  const t = {};
  const t0 = Date.now();
  await page.goto(baseUrl);
  await page.locator('#gpu-status .ok').waitFor({ timeout: 120000 });
  await page.locator(`button.demo[data-model="${model}"]`).click();
  await page.locator('#plan').waitFor({ timeout: 120000 });
  t.load = Date.now() - t0;

  await page.locator('#vocab').fill(String(vocab));
  await page.locator('#vocab').dispatchEvent('change');
  await page.locator('#ffn').fill(String(ffn));
  await page.locator('#ffn').dispatchEvent('change');
  await page.locator('#removed-tokens').waitFor({ timeout: 120000 });
  if (shotPrefix) await page.locator('#plan').screenshot({ path: join(shots, `${shotPrefix}plan.png`) });

  await page.locator('#samples').fill(String(samples));
  await page.locator('#samples').dispatchEvent('change');
  await page.locator('#seq-len').fill(String(seqLen));
  await page.locator('#seq-len').dispatchEvent('change');
  await page.locator('#device').selectOption(device);
  await page.locator('#mask').selectOption(mask);
  await page.locator('#score').selectOption(score);
  // The repair is on by default in the app; a run asks for it or for the paper's method.
  await page.locator('#repair').setChecked(repair);
  if (repair) await page.locator('#repair-mode').selectOption(repairMode);
  if (importanceFile) {
    await page.locator('#importance-file').setInputFiles(importanceFile);
    await page.locator('#importance-name').waitFor({ timeout: 60000 });
  }
  // The page's estimate before the run, measured on the chosen device.
  const estimate = await page.locator('#run-estimate', { hasText: device === 'cpu' ? /CPU device|no calibration/ : /WebGPU|no calibration/ })
    .textContent({ timeout: 120000 });
  const t1 = Date.now();
  await page.locator('#run-button').click();
  await page.locator('#run-progress').waitFor({ timeout: 60000 });
  if (shotPrefix) await page.locator('#run').screenshot({ path: join(shots, `${shotPrefix}calibrating.png`) });
  const done = page.locator('#run-done');
  const failed = page.locator('#run-error');
  await Promise.race([done.waitFor({ timeout: 3600000 }), failed.waitFor({ timeout: 3600000 })]);
  if (await failed.count()) throw new Error('the run failed: ' + await failed.textContent());
  t.prune = Date.now() - t1;
  const summary = await done.textContent();
  if (shotPrefix) {
    await page.locator('#run').screenshot({ path: join(shots, `${shotPrefix}pruned.png`) });
    await page.locator('#inspect').screenshot({ path: join(shots, `${shotPrefix}inspect.png`) });
  }

  const dir = temp('download');
  const t2 = Date.now();
  const [zip] = await Promise.all([page.waitForEvent('download', { timeout: 600000 }), page.locator('#save-zip').click()]);
  const zipPath = join(dir, zip.suggestedFilename());
  await zip.saveAs(zipPath);
  t.download = Date.now() - t2;
  // Printed so refactors can show the download is byte-identical before and after.
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(zipPath)) hash.update(chunk);
  console.log(`${zip.suggestedFilename()} sha256 ${hash.digest('hex')}`);
  // Only a run that calibrated offers its importance.
  let impPath = null;
  if (await page.locator('#save-importance').count()) {
    const [imp] = await Promise.all([page.waitForEvent('download'), page.locator('#save-importance').click()]);
    impPath = join(dir, 'browser.importance.safetensors');
    await imp.saveAs(impPath);
  }
  if (shotPrefix) await page.locator('#download').screenshot({ path: join(shots, `${shotPrefix}download.png`) });
  t.total = Date.now() - t0;
  const wasmMb = Number((summary.match(/Wasm memory ([\d.]+) MB/) ?? [])[1]);
  return { t, summary, estimate, wasmMb, dir, zipPath, impPath, zipName: zip.suggestedFilename() };
}
