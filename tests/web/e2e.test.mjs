// Browser end-to-end tests: the real app (Trunk's dist/) served by `compact serve`
// with the converted demo model, driven in Debian's headless Chromium with WebGPU
// (SwiftShader) by playwright-core. Screenshots go to tests/web/screenshots/.
//
// Environment: COMPACT_BIN (the native CLI), DIST (built app), MODELS (folder of
// model folders, with smollm2-135m), NODE_TOOLS (where playwright-core is installed).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const require = createRequire(join(process.env.NODE_TOOLS, 'node_modules', 'x.js'));
const { chromium } = require('playwright-core');
const shots = join(here, 'screenshots');
mkdirSync(shots, { recursive: true });
const baseFlags = readFileSync(join(root, 'scripts', 'chromium-flags.txt'), 'utf8').split('\n').map(s => s.trim()).filter(Boolean);

let server, baseUrl;
const profiles = [];

before(async () => {
  server = spawn(process.env.COMPACT_BIN, ['serve', '--dist', process.env.DIST, '--models', process.env.MODELS, '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  baseUrl = await new Promise((resolve, reject) => {
    let out = '';
    server.stdout.on('data', d => {
      out += d;
      const m = out.match(/on (http:\/\/127\.0\.0\.1:\d+\/)/);
      if (m) resolve(m[1]);
    });
    server.on('exit', code => reject(new Error(`compact serve exited with ${code}: ${out}`)));
    setTimeout(() => reject(new Error('compact serve did not start: ' + out)), 20000);
  });
});

after(() => {
  server?.kill();
  for (const p of profiles) rmSync(p, { recursive: true, force: true });
});

async function launch(flags = baseFlags) {
  const profile = mkdtempSync(join(tmpdir(), 'compact-chromium-'));
  profiles.push(profile);
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: flags,
    viewport: { width: 900, height: 1100 },
  });
  const page = context.pages()[0] ?? await context.newPage();
  const errors = [];
  page.on('console', msg => { if (msg.type() === 'error') errors.push(msg.text()); });
  page.on('pageerror', err => errors.push(String(err)));
  return { context, page, errors };
}

test('demo model: WebGPU status, model card and parameter chart', async () => {
  const { context, page, errors } = await launch();
  const weightRequests = [];
  page.on('request', req => {
    if (req.url().endsWith('/model.safetensors')) weightRequests.push({ method: req.method(), range: req.headers()['range'] });
  });
  let weightBytes = 0;
  page.on('response', async resp => {
    if (resp.url().endsWith('/model.safetensors') && resp.request().method() === 'GET') {
      weightBytes += Number((await resp.allHeaders())['content-length'] ?? 0);
    }
  });
  try {
    await page.goto(baseUrl);
    const status = page.locator('#gpu-status .ok');
    await status.waitFor({ timeout: 60000 });
    const statusText = await status.textContent();
    assert.match(statusText, /GPU: .*\(WebGPU, \w+\) · max storage binding \d+ MiB · max buffer \d+ MiB · \d+ invocations\/workgroup · shader-f16 (yes|no)/);

    await page.locator('button.demo[data-model="smollm2-135m"]').click();
    const card = page.locator('#model-card');
    await card.waitFor({ timeout: 60000 });
    const fact = async k => (await page.locator(`[data-fact="${k}"]`).textContent()).trim();
    assert.equal(await fact('architecture'), 'llama (llama)');
    assert.equal(await fact('layers'), '30');
    assert.equal(await fact('hidden size'), '576');
    assert.equal(await fact('intermediate size'), '1536');
    assert.equal(await fact('vocabulary'), '49152');
    assert.equal(await fact('embeddings'), 'tied');
    assert.equal(await fact('parameters'), '134.5M (134515008)');
    assert.match(await fact('weights'), /^BF16 · 272 tensors · 269\.\d MB$/);

    const count = async part => Number(await page.locator(`#param-chart g[data-part="${part}"]`).getAttribute('data-count'));
    assert.equal(await count('embedding'), 49152 * 576);
    assert.equal(await count('lm_head'), 0);
    assert.equal(await count('FFN'), 3 * 30 * 576 * 1536);
    assert.equal(await count('attention'), 30 * (2 * 576 * 576 + 2 * 576 * 192));
    assert.equal(await count('norms'), 30 * 2 * 576 + 576);
    assert.equal(await page.locator('#param-chart rect.bar').count(), 5);
    assert.match(await card.textContent(), /21\.0% of the parameters are vocabulary/);

    // Only the header of the 270 MB weights file was fetched, by Range requests.
    assert.ok(weightRequests.length > 0);
    for (const r of weightRequests) assert.ok(r.method === 'HEAD' || /^bytes=\d+-\d+$/.test(r.range ?? ''), JSON.stringify(r));
    assert.ok(weightBytes < 64 * 1024, `read ${weightBytes} bytes of model.safetensors`);

    await page.screenshot({ path: join(shots, 'loaded.png'), fullPage: true });
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test('a non-safetensors weights file gives a clear message', async () => {
  const { context, page } = await launch();
  try {
    await page.goto(baseUrl);
    const dir = mkdtempSync(join(tmpdir(), 'compact-bad-'));
    profiles.push(dir);
    const cfg = readFileSync(join(process.env.MODELS, 'smollm2-135m', 'config.json'));
    await page.locator('#pick-files').setInputFiles([
      { name: 'config.json', mimeType: 'application/json', buffer: cfg },
      { name: 'model.safetensors', mimeType: 'application/octet-stream', buffer: Buffer.from('GGUF this is not safetensors') },
    ]);
    const err = page.locator('#error');
    await err.waitFor({ timeout: 30000 });
    assert.match(await err.textContent(), /model\.safetensors: invalid safetensors header/);
    await page.screenshot({ path: join(shots, 'bad-file.png'), fullPage: true });
  } finally {
    await context.close();
  }
});

test('without WebGPU the page says what to do', async () => {
  const { context, page } = await launch(baseFlags.filter(f => f !== '--enable-unsafe-webgpu').concat(['--disable-features=WebGPU']));
  try {
    await page.goto(baseUrl);
    const err = page.locator('#gpu-status .error');
    await err.waitFor({ timeout: 60000 });
    assert.match(await err.textContent(), /WebGPU is not available in this browser\. Use a current Chrome or Edge/);
    await page.screenshot({ path: join(shots, 'no-webgpu.png'), fullPage: true });
  } finally {
    await context.close();
  }
});
