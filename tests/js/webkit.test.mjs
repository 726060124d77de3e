// The package in WebKitGTK's MiniBrowser (WebKit and JavaScriptCore, the engine of Safari; Debian's
// webkit2gtk-driver, on an Xvfb display; browsers.mjs): the build it picks, browser image inputs
// and text against the reference, an error that leaves the model usable, the Cache API, and the
// worker-hosted form. JavaScriptCore here has SIMD128 but neither relaxed SIMD nor, in WebKitGTK,
// SharedArrayBuffer: the package runs its single-thread build.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { launchWebKit } from './browsers.mjs';
import { REFERENCE, recordFigure, startPageServer } from './helpers.mjs';

const ref = REFERENCE.models['tiny-hf'];

describe('browser (WebKitGTK MiniBrowser, JavaScriptCore)', () => {
  let server;
  let webkit;

  before(async () => {
    server = await startPageServer();
    webkit = await launchWebKit();
    await webkit.page.goto(`http://127.0.0.1:${server.port}/iso/page.html`);
  });
  after(async () => {
    await webkit?.close();
    if (server) await new Promise((done) => server.server.close(done));
  });

  test('single-thread build; every browser image input and the text equal the reference; an error leaves it usable', async () => {
    const result = await webkit.page.evaluate(`async (reference) => {
      const { load } = await import('/iso/js/src/index.mjs');
      const cosine = (a, b) => a.reduce((s, x, i) => s + x * b[i], 0);
      const clip = await load('/iso/fixtures/tiny-hf/', { cache: false });
      const blob = await (await fetch('/iso/fixtures/images/photo.png')).blob();
      const bitmap = await createImageBitmap(blob);
      const canvas = document.createElement('canvas');
      canvas.width = bitmap.width;
      canvas.height = bitmap.height;
      canvas.getContext('2d').drawImage(bitmap, 0, 0);
      const img = new Image();
      img.src = URL.createObjectURL(blob);
      await img.decode();
      const inputs = { blob, bitmap, canvas, imageData: canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height), img };
      const cosines = {};
      for (const [name, input] of Object.entries(inputs)) cosines[name] = cosine(await clip.embedImage(input), reference.images['photo.png']);
      const text = cosine(await clip.embedText('café crème brûlée'.normalize('NFD')), reference.texts['café crème brûlée']);
      let error = null;
      await clip.embedImage(new Blob(['not an image'])).catch((e) => { error = e.message; });
      const after = cosine(await clip.embedImage(blob), reference.images['photo.png']);
      const ranked = await clip.classify(img, reference.zeroShot.labels, { templates: reference.zeroShot.templates });
      const info = clip.info;
      await clip.dispose();
      return { sharedMemory: typeof SharedArrayBuffer === 'function' && crossOriginIsolated, build: info.build, threads: info.threads,
        relaxedSimd: info.relaxedSimd, cosines, text, error, after, ranked };
    }`, ref);
    assert.equal(result.build, result.sharedMemory ? 'clip-wasm-threads' : 'clip-wasm-simd', 'the build follows SharedArrayBuffer');
    assert.equal(result.relaxedSimd, false, 'no relaxed SIMD in JavaScriptCore');
    for (const [name, c] of Object.entries(result.cosines)) assert.ok(c >= 0.99999, `${name}: cosine ${c}`);
    recordFigure('js-browser', 'min-input-cosine(WebKit)', Math.min(...Object.values(result.cosines)).toFixed(8));
    assert.ok(result.text >= 0.99999, `NFD text: cosine ${result.text}`);
    assert.match(result.error, /embedImage: .*(not a JPEG|unrecognized)/i);
    assert.ok(result.after >= 0.99999, 'usable after an error');
    const { labels, probs } = ref.zeroShot;
    assert.equal(result.ranked.length, labels.length);
    for (const { label, score } of result.ranked) assert.ok(Math.abs(score - probs[labels.indexOf(label)]) < 1e-5, label);
  });

  test('Cache API: a second load revalidates and reads the cache; the worker-hosted form matches', async () => {
    const weights = () => server.requests.filter((r) => r.path === 'fixtures/tiny-hf/model.safetensors');
    const before = weights().length;
    const result = await webkit.page.evaluate(`async (reference) => {
      const { clearCache, createWorkerClip, load } = await import('/iso/js/src/index.mjs');
      const cosine = (a, b) => a.reduce((s, x, i) => s + x * b[i], 0);
      await clearCache();
      const texts = [];
      for (let i = 0; i < 2; i++) {
        const clip = await load('/iso/fixtures/tiny-hf/');
        texts.push(cosine(await clip.embedText('a photo of a cat'), reference.texts['a photo of a cat']));
        await clip.dispose();
      }
      const cached = (await (await caches.open('clip-wasm')).keys()).map((r) => new URL(r.url).pathname);
      const worker = await createWorkerClip('/iso/fixtures/tiny-hf/', { cache: false });
      const blob = await (await fetch('/iso/fixtures/images/photo.png')).blob();
      const fromWorker = cosine(await worker.embedImage(blob), reference.images['photo.png']);
      await worker.dispose();
      const cleared = await clearCache();
      return { texts, cached, fromWorker, cleared };
    }`, ref);
    for (const c of result.texts) assert.ok(c >= 0.99999, `cosine ${c}`);
    assert.ok(result.cached.includes('/iso/fixtures/tiny-hf/model.safetensors'), `cached: ${result.cached}`);
    const [first, second] = weights().slice(before);
    assert.equal(first.ifNoneMatch, undefined, 'the first load downloads');
    assert.ok(second.ifNoneMatch, 'the second revalidates with If-None-Match (answered 304)');
    assert.ok(result.fromWorker >= 0.99999, `worker: cosine ${result.fromWorker}`);
    assert.equal(result.cleared, true);
  });
});
