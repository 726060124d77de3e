// The package in headless Chromium (Debian's, driven by playwright-core), served from 127.0.0.1:
// build choice by crossOriginIsolated, browser image inputs, the Cache API with ETag
// revalidation, and the worker-hosted form.

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { extname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { chromium } from 'playwright-core';

import { FIXTURES, REFERENCE, ROOT, recordFigure } from './helpers.mjs';

const TYPES = { '.mjs': 'text/javascript', '.js': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html', '.json': 'application/json' };
const PAGE = '<!doctype html><meta charset="utf-8"><title>clip-wasm test</title><body></body>';

// /iso/... is served cross-origin isolated (COOP + COEP), /plain/... is not. Below either:
// js/... from the repository, fixtures/... from FIXTURES, page.html.
function startServer() {
  const requests = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    const [, mode, ...rest] = decodeURIComponent(url.pathname).split('/');
    const path = rest.join('/');
    requests.push({ path, ifNoneMatch: req.headers['if-none-match'] });
    const headers = mode === 'iso'
      ? { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' }
      : {};
    let file = null;
    if (path.startsWith('js/')) file = join(ROOT, path);
    else if (path.startsWith('fixtures/')) file = join(FIXTURES, path.slice('fixtures/'.length));
    if (path === 'page.html') {
      res.writeHead(200, { ...headers, 'Content-Type': 'text/html' }).end(PAGE);
      return;
    }
    if (!file || !existsSync(file) || file.endsWith('/')) {
      res.writeHead(404, headers).end();
      return;
    }
    const body = readFileSync(file);
    const etag = `"${body.length}"`;
    if (req.headers['if-none-match'] === etag) {
      res.writeHead(304, { ...headers, ETag: etag }).end();
      return;
    }
    res.writeHead(200, { ...headers, ETag: etag, 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream', 'Content-Length': body.length });
    res.end(body);
  });
  return new Promise((done) => server.listen(0, '127.0.0.1', () => done({ server, requests, port: server.address().port })));
}

describe('browser (headless Chromium)', () => {
  let server;
  let browser;
  let base;
  const ref = REFERENCE.models['tiny-hf'];

  before(async () => {
    server = await startServer();
    base = `http://127.0.0.1:${server.port}`;
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync'],
    });
  });
  after(async () => {
    await browser?.close();
    await new Promise((done) => server.server.close(done));
  });

  async function openPage(mode) {
    const page = await browser.newPage();
    const messages = [];
    page.on('console', (m) => messages.push(m.text()));
    page.on('pageerror', (e) => messages.push(`pageerror: ${e.message}`));
    await page.goto(`${base}/${mode}/page.html`);
    return { page, messages };
  }

  test('isolated page: threads build, every browser image input equals the reference', async () => {
    const { page, messages } = await openPage('iso');
    const result = await page.evaluate(async ({ reference }) => {
      const { load } = await import('/iso/js/src/index.mjs');
      const cosine = (a, b) => a.reduce((s, x, i) => s + x * b[i], 0);
      const clip = await load('/iso/fixtures/tiny-hf/', { threads: 2, cache: false });
      const blob = await (await fetch('/iso/fixtures/images/photo.png')).blob();
      const bitmap = await createImageBitmap(blob);
      const canvas = document.createElement('canvas');
      canvas.width = bitmap.width;
      canvas.height = bitmap.height;
      const context = canvas.getContext('2d');
      context.drawImage(bitmap, 0, 0);
      const imageData = context.getImageData(0, 0, canvas.width, canvas.height);
      const img = new Image();
      img.src = URL.createObjectURL(blob);
      await img.decode();
      const offscreen = new OffscreenCanvas(bitmap.width, bitmap.height);
      offscreen.getContext('2d').drawImage(bitmap, 0, 0);
      const inputs = { blob, file: new File([blob], 'photo.png'), bitmap, canvas, imageData, img, offscreen };
      const cosines = {};
      for (const [name, input] of Object.entries(inputs)) cosines[name] = cosine(await clip.embedImage(input), reference.images['photo.png']);
      const text = cosine(await clip.embedText('café crème brûlée'.normalize('NFD')), reference.texts['café crème brûlée']);
      let error = null;
      try {
        await clip.embedImage(new Blob(['not an image']));
      } catch (e) {
        error = e instanceof Error ? e.message : `not an Error: ${e}`;
      }
      const after = cosine(await clip.embedImage(blob), reference.images['photo.png']);
      const ranked = await clip.classify(img, reference.zeroShot.labels, { templates: reference.zeroShot.templates });
      const info = clip.info;
      await clip.dispose();
      return { isolated: crossOriginIsolated, build: info.build, relaxedSimd: info.relaxedSimd, threads: info.threads, cosines, text, error, after, ranked };
    }, { reference: ref });
    assert.equal(result.isolated, true);
    assert.equal(result.build, 'clip-wasm-threads');
    assert.equal(result.relaxedSimd, true, 'Chromium runs the relaxed-SIMD kernels');
    assert.equal(result.threads, 2);
    for (const [name, c] of Object.entries(result.cosines)) assert.ok(c >= 0.99999, `${name}: cosine ${c}`);
    recordFigure('js-browser', 'min-input-cosine', Math.min(...Object.values(result.cosines)).toFixed(8));
    assert.ok(result.text >= 0.99999, 'NFD text');
    assert.match(result.error, /embedImage: .*(not a JPEG|unrecognized)/i);
    assert.ok(result.after >= 0.99999, 'usable after an error');
    const { labels, probs } = ref.zeroShot;
    for (const { label, score } of result.ranked) assert.ok(Math.abs(score - probs[labels.indexOf(label)]) < 1e-5);
    assert.deepEqual(messages.filter((m) => /error/i.test(m)), []);
    await page.close();
  });

  test('page without isolation: single-thread build, with a warning when threads are asked for', async () => {
    const { page, messages } = await openPage('plain');
    const result = await page.evaluate(async () => {
      const { load } = await import('/plain/js/src/index.mjs');
      const auto = await load('/plain/fixtures/tiny-openclip/', { cache: false });
      const asked = await load('/plain/fixtures/tiny-openclip/', { threads: 4, cache: false });
      const embedding = await asked.embedText('a photo of a cat');
      const out = { isolated: crossOriginIsolated, auto: auto.info.build, asked: asked.info.build, threads: asked.info.threads, embedding: Array.from(embedding) };
      await auto.dispose();
      await asked.dispose();
      return out;
    });
    assert.equal(result.isolated, false);
    assert.equal(result.auto, 'clip-wasm-simd');
    assert.equal(result.asked, 'clip-wasm-simd');
    assert.equal(result.threads, 1);
    assert.ok(messages.some((m) => /crossOriginIsolated/.test(m)), 'a warning names crossOriginIsolated');
    const expected = REFERENCE.models['tiny-openclip'].texts['a photo of a cat'];
    const cos = result.embedding.reduce((s, x, i) => s + x * expected[i], 0);
    assert.ok(cos >= 0.99999);
    await page.close();
  });

  test('Cache API: stored by URL, revalidated by ETag, cleared by clearCache()', async () => {
    const { page } = await openPage('iso');
    const weights = () => server.requests.filter((r) => r.path === 'fixtures/tiny-hf/model.safetensors');
    const before = weights().length;
    const first = await page.evaluate(async () => {
      const { load, clearCache } = await import('/iso/js/src/index.mjs');
      await clearCache();
      const clip = await load('/iso/fixtures/tiny-hf/', { threads: 1 });
      await clip.dispose();
      const store = await caches.open('clip-wasm');
      return (await store.keys()).map((r) => new URL(r.url).pathname).sort();
    });
    assert.ok(first.includes('/iso/fixtures/tiny-hf/model.safetensors'), `cached: ${first}`);
    assert.equal(weights().length - before, 1);
    assert.equal(weights().at(-1).ifNoneMatch, undefined);

    const second = await page.evaluate(async () => {
      const { load, clearCache } = await import('/iso/js/src/index.mjs');
      const clip = await load('/iso/fixtures/tiny-hf/', { threads: 1 });
      const embedding = Array.from(await clip.embedText('a photo of a cat'));
      await clip.dispose();
      const cleared = await clearCache();
      const left = (await caches.keys()).includes('clip-wasm');
      return { embedding, cleared, left };
    });
    assert.equal(weights().length - before, 2);
    assert.ok(weights().at(-1).ifNoneMatch, 'the second load revalidates with If-None-Match (answered 304)');
    const expected = ref.texts['a photo of a cat'];
    assert.ok(second.embedding.reduce((s, x, i) => s + x * expected[i], 0) >= 0.99999, 'model from the cache');
    assert.equal(second.cleared, true);
    assert.equal(second.left, false);
    await page.close();
  });

  test('worker-hosted model: element inputs cross to the worker, results match, errors reject', async () => {
    const { page } = await openPage('iso');
    const result = await page.evaluate(async ({ reference }) => {
      const { createWorkerClip } = await import('/iso/js/src/index.mjs');
      const cosine = (a, b) => a.reduce((s, x, i) => s + x * b[i], 0);
      const events = [];
      const clip = await createWorkerClip('/iso/fixtures/tiny-hf/', { threads: 2, cache: false, onProgress: (e) => events.push(e.status) });
      const blob = await (await fetch('/iso/fixtures/images/photo.png')).blob();
      const img = new Image();
      img.src = URL.createObjectURL(blob);
      await img.decode();
      const embeddings = await clip.embedImage([img, blob, img, blob]);
      const text = await clip.embedText('a photo of a cat');
      let error = null;
      await clip.classify(img, []).catch((e) => { error = e.message; });
      await clip.dispose();
      return {
        build: clip.info.build,
        ready: events.at(-1),
        cosines: embeddings.map((e) => cosine(e, reference.images['photo.png'])),
        text: cosine(text, reference.texts['a photo of a cat']),
        error,
      };
    }, { reference: ref });
    assert.equal(result.build, 'clip-wasm-threads');
    assert.equal(result.ready, 'ready');
    for (const c of result.cosines) assert.ok(c >= 0.99999, `cosine ${c}`);
    assert.ok(result.text >= 0.99999);
    assert.match(result.error, /labels must be a non-empty array/);
    await page.close();
  });
});
