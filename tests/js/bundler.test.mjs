// The package bundled into a web app by Vite and by webpack 5, as web developers use it: built
// with no settings for clip-wasm, served with and without cross-origin isolation (and run by
// Vite's dev server), in headless Chromium. Both the in-thread model (threads build, its pthread workers) and
// createWorkerClip must load the model the app serves and give the reference embedding. The
// package also builds for a target without top-level await (Vite 5 and 6's default).

import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { build, createLogger, createServer as createViteServer } from 'vite';
import webpack from 'webpack';

import { launchChromium } from './browsers.mjs';
import { FIXTURES, REFERENCE, ROOT, cosine, imagePath } from './helpers.mjs';

const TYPES = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html',
  '.json': 'application/json', '.png': 'image/png' };

// The app (tests/js/bundler-app) with the package installed as npm would (its published files),
// the tiny model and an image in public/.
function makeApp(dir) {
  cpSync(join(ROOT, 'tests/js/bundler-app'), dir, { recursive: true });
  const installed = join(dir, 'node_modules/clip-wasm');
  const { files } = JSON.parse(readFileSync(join(ROOT, 'js/package.json'), 'utf8'));
  mkdirSync(join(installed, 'src'), { recursive: true });
  mkdirSync(join(installed, 'dist'), { recursive: true });
  for (const pattern of [...files, 'package.json']) {
    if (pattern === 'src/*.mjs') cpSync(join(ROOT, 'js/src'), join(installed, 'src'), { recursive: true });
    else cpSync(join(ROOT, 'js', pattern), join(installed, pattern));
  }
  cpSync(join(FIXTURES, 'tiny-hf'), join(dir, 'public/models/tiny-hf'), { recursive: true });
  cpSync(imagePath('photo.png'), join(dir, 'public/photo.png'));
}

// Builds the app into `outDir`; resolves to the warnings Vite printed.
async function buildApp(root, outDir, target) {
  const warnings = [];
  const logger = createLogger('warn');
  logger.warn = (message) => warnings.push(message);
  logger.warnOnce = logger.warn;
  await build({ root, logLevel: 'warn', customLogger: logger, build: { outDir, emptyOutDir: true, ...(target && { target }) } });
  return warnings;
}

// Builds the app with webpack into `outDir`, with only the settings any webpack app has, and the
// page and public files beside the bundle.
async function buildWithWebpack(root, outDir) {
  const compiler = webpack({
    mode: 'production',
    context: root,
    entry: './main.js',
    output: { path: outDir, clean: true },
    performance: { hints: false }, // the .wasm files are larger than its web-page budget
  });
  const stats = await new Promise((resolve, reject) => compiler.run((error, result) => (error ? reject(error) : resolve(result))));
  await new Promise((resolve) => compiler.close(resolve));
  assert.equal(stats.hasErrors(), false, stats.toString('errors-only'));
  cpSync(join(root, 'public'), outDir, { recursive: true });
  writeFileSync(join(outDir, 'index.html'), '<!doctype html><meta charset="utf-8"><title>webpack</title><script defer src="main.js"></script>');
}

function serve(dir, isolated) {
  const headers = isolated ? { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' } : {};
  const server = createServer((req, res) => {
    let path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    if (path.endsWith('/')) path += 'index.html';
    const file = join(dir, path);
    if (!file.startsWith(dir) || !existsSync(file) || statSync(file).isDirectory()) return res.writeHead(404, headers).end();
    res.writeHead(200, { ...headers, 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
  });
  return new Promise((done) => server.listen(0, '127.0.0.1', () => done({ server, url: `http://127.0.0.1:${server.address().port}/` })));
}

describe('bundled by Vite', () => {
  let dir;
  let browser;
  const expected = REFERENCE.models['tiny-hf'].images['photo.png'];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'clip-wasm-vite-'));
    makeApp(join(dir, 'app'));
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  // Opens the app at `url` and resolves to what it reports (window.outcome).
  async function outcomeAt(url) {
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (error) => errors.push(error.message));
    try {
      await page.goto(url);
      const outcome = await page.evaluate(() =>
        Promise.race([window.outcome, new Promise((resolve) => setTimeout(() => resolve({ error: 'no outcome in 60 s' }), 60_000))]),
      );
      return { ...outcome, errors };
    } finally {
      await page.close();
    }
  }

  // The outcome must be the reference, from `build` on `threads`, in both forms.
  function check(outcome, build, threads) {
    assert.equal(outcome.error, undefined, outcome.error);
    assert.deepEqual(outcome.errors, []);
    for (const form of ['inThread', 'inWorker']) {
      const { info, embedding, ranked } = outcome[form];
      assert.equal(info.build, build, form);
      assert.equal(info.threads, threads, form);
      assert.ok(cosine(embedding, expected) >= 0.99999, `${form}: the reference embedding`);
      assert.deepEqual(ranked.map((r) => r.label).sort(), ['cat', 'dog']);
    }
  }

  // Serves `outDir` isolated and not: the threads build on 2 threads, then one thread.
  async function checkBothWays(outDir) {
    for (const [isolated, build, threads] of [[true, 'clip-wasm-threads', 2], [false, 'clip-wasm-simd', 1]]) {
      const { server, url } = await serve(outDir, isolated);
      try {
        check(await outcomeAt(url), build, threads);
      } finally {
        server.closeAllConnections();
        await new Promise((done) => server.close(done));
      }
    }
  }

  test('a default Vite build runs, with threads where the page is isolated and on one thread where not', { timeout: 240_000 }, async () => {
    const outDir = join(dir, 'dist');
    await buildApp(join(dir, 'app'), outDir);
    await checkBothWays(outDir);
  });

  test('a webpack build runs the same', { timeout: 240_000 }, async () => {
    const outDir = join(dir, 'dist-webpack');
    await buildWithWebpack(join(dir, 'app'), outDir);
    await checkBothWays(outDir);
  });

  test("Vite's dev server runs it", { timeout: 240_000 }, async () => {
    const isolation = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };
    const server = await createViteServer({ root: join(dir, 'app'), logLevel: 'error', server: { host: '127.0.0.1', port: 0, headers: isolation } });
    try {
      await server.listen();
      check(await outcomeAt(server.resolvedUrls.local[0]), 'clip-wasm-threads', 2);
    } finally {
      await server.close();
    }
  });

  test('builds for engines without top-level await', { timeout: 120_000 }, async () => {
    const warnings = await buildApp(join(dir, 'app'), join(dir, 'dist-es2020'), 'es2020');
    assert.deepEqual(warnings.filter((w) => /top-level await/i.test(w)), []);
  });
});
