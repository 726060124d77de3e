// The package in headless Chromium and Firefox (Debian's; browsers.mjs), served from 127.0.0.1:
// build choice by crossOriginIsolated, browser image inputs, the Cache API with ETag
// revalidation, and the worker-hosted form. Then the web demo's page in Chromium with the tiny
// test model: what it shows when models and images change, fail or are too large, and its URL
// parameters.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { crc32, deflateSync } from 'node:zlib';

import { startServer as startDemoServer } from '../../web-demo/server.mjs';
import { BROWSERS, CAMERA_FLAGS, launchChromium } from './browsers.mjs';
import { FIXTURES, REFERENCE, imagePath, recordFigure, startPageServer } from './helpers.mjs';

for (const engine of BROWSERS) describe(`browser (headless ${engine.name})`, () => {
  let server;
  let browser;
  let base;
  const ref = REFERENCE.models['tiny-hf'];

  before(async () => {
    server = await startPageServer();
    base = `http://127.0.0.1:${server.port}`;
    browser = await engine.launch();
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
      // The other kernels, asked for by name.
      const other = await load('/iso/fixtures/tiny-hf/', { threads: 1, cache: false, relaxedSimd: !info.relaxedSimd });
      const otherImage = cosine(await other.embedImage(blob), reference.images['photo.png']);
      const otherRelaxedSimd = other.info.relaxedSimd;
      await other.dispose();
      return {
        isolated: crossOriginIsolated, build: info.build, relaxedSimd: info.relaxedSimd, threads: info.threads, cosines, text, error, after, ranked,
        otherRelaxedSimd, otherImage,
      };
    }, { reference: ref });
    assert.equal(result.isolated, true);
    assert.equal(result.build, 'clip-wasm-threads');
    assert.equal(result.relaxedSimd, engine.relaxedSimdByDefault, `${engine.name}: relaxed-SIMD kernels by default`);
    assert.equal(result.otherRelaxedSimd, !engine.relaxedSimdByDefault, 'relaxedSimd chooses the kernels');
    assert.ok(result.otherImage >= 0.99999, `other kernels: cosine ${result.otherImage}`);
    assert.equal(result.threads, 2);
    for (const [name, c] of Object.entries(result.cosines)) assert.ok(c >= 0.99999, `${name}: cosine ${c}`);
    recordFigure('js-browser', `min-input-cosine(${engine.name})`, Math.min(...Object.values(result.cosines)).toFixed(8));
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

  test('a worker thread that cannot load the module fails the load, naming it; the next load works', async () => {
    const { page } = await openPage('iso');
    const glue = 'js/dist/clip-wasm-threads.mjs';
    // Once the page holds the glue, only the worker threads ask the server for it again.
    await page.evaluate((url) => import(url), `/iso/${glue}`);
    server.refused.add(glue);
    const failed = await page.evaluate(async () => {
      const { load } = await import('/iso/js/src/index.mjs');
      return load('/iso/fixtures/tiny-hf/', { threads: 2, cache: false }).then(
        (clip) => clip.dispose().then(() => 'loaded'),
        (e) => e.message,
      );
    });
    server.refused.delete(glue);
    const cosine = await page.evaluate(async ({ reference }) => {
      const { load } = await import('/iso/js/src/index.mjs');
      const clip = await load('/iso/fixtures/tiny-hf/', { threads: 2, cache: false });
      const text = await clip.embedText('a photo of a cat');
      await clip.dispose();
      return text.reduce((s, x, i) => s + x * reference.texts['a photo of a cat'][i], 0);
    }, { reference: ref });
    assert.match(failed, /worker thread failed to start: .*clip-wasm-threads\.mjs/);
    assert.ok(cosine >= 0.99999, `cosine ${cosine}`);
    await page.close();
  });
});

// A PNG of black pixels, 1 bit each: a few kilobytes however many pixels it decodes to.
function blankPng(width, height) {
  const chunk = (type, data) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 1; // bit depth
  header[9] = 0; // grayscale
  const rows = Buffer.alloc((1 + Math.ceil(width / 8)) * height); // filter 0, all zero
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(rows, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

// What the demo page shows: its state, error, runtime facts and scores.
function shownOn(page) {
  return page.evaluate(() => {
    const text = (id) => document.getElementById(id).textContent.trim();
    return {
      state: document.body.dataset.state,
      model: document.body.dataset.model,
      image: document.body.dataset.image,
      error: document.getElementById('error').hidden ? '' : text('error'),
      facts: Object.fromEntries(['threads', 'dtype', 'build', 'model'].map((name) => [name, text(`fact-${name}`)])),
      results: [...document.querySelectorAll('#results .result')].map((item) => ({
        label: item.dataset.label,
        score: Number(item.dataset.score),
        title: item.title,
        name: item.querySelector('.name').textContent,
      })),
    };
  });
}

// The web demo (web-demo/server.mjs, in this process) with the tiny fixture models. These tests
// use the fixture images, not the demo's sample photos (made later, by scripts/test-browser.sh).
describe('web demo page (headless Chromium, tiny test model)', () => {
  const STEP_MS = 60_000;
  let models; // a folder of model folders for the demo server
  let isolated; // {server, url}
  let plain; // the same, served with --no-isolation
  let browser;
  let context;
  let page;
  const problems = [];
  const pageUrl = (base, query = '') => `${base}?model=${encodeURIComponent('/models/tiny-hf/')}${query}`;
  const chooseFile = (file) => page.setInputFiles('#file', file);
  const waitForState = (name) => page.waitForFunction((s) => document.body.dataset.state === s, name, { timeout: STEP_MS });

  // Resolves once the model is loaded; fails when the page shows an error instead.
  async function modelReady() {
    await page.waitForFunction(() => document.body.dataset.model === 'ready' || document.body.dataset.state === 'error', undefined, {
      timeout: STEP_MS,
    });
    const shown = await shownOn(page);
    assert.equal(shown.error, '', 'no error while loading the model');
    return shown;
  }

  // Runs `action` and waits until the page has shown the scores of `image` (or an error).
  async function scored(image, action) {
    await page.evaluate(() => {
      document.body.dataset.state = 'test-waiting';
    });
    await action();
    await page.waitForFunction(
      (name) => (document.body.dataset.image === name && document.body.dataset.state === 'done') || document.body.dataset.state === 'error',
      image,
      { timeout: STEP_MS },
    );
    const shown = await shownOn(page);
    assert.equal(shown.error, '', `no error while classifying ${image}`);
    return shown;
  }

  // Back to the tiny model in f32, for the tests that follow one that loads another.
  async function restoreModel() {
    await page.fill('#model-url', '/models/tiny-hf/');
    await page.selectOption('#dtype', 'f32');
    await page.click('#load');
    await modelReady();
  }

  before(async () => {
    models = mkdtempSync(join(tmpdir(), 'clip-demo-models-'));
    symlinkSync(join(FIXTURES, 'tiny-hf'), join(models, 'tiny-hf'));
    symlinkSync(join(FIXTURES, 'tiny-hf-converted'), join(models, 'tiny-hf-converted'));
    // The same model without its tokenizer files (vocab.json, merges.txt).
    mkdirSync(join(models, 'no-tokenizer'));
    for (const file of ['config.json', 'preprocessor_config.json', 'model.safetensors']) {
      symlinkSync(join(FIXTURES, 'tiny-hf', file), join(models, 'no-tokenizer', file));
    }
    isolated = await startDemoServer({ port: 0, models, quiet: true });
    plain = await startDemoServer({ port: 0, models, isolated: false, quiet: true });
    browser = await launchChromium(CAMERA_FLAGS);
    context = await browser.newContext();
    // Records the prompts the page sends to its model's Worker.
    await context.addInitScript(() => {
      const post = Worker.prototype.postMessage;
      self.sentPrompts = [];
      Worker.prototype.postMessage = function postMessage(message, ...rest) {
        if (message?.method === 'embedText') self.sentPrompts.push(...[].concat(message.args[0]));
        return post.call(this, message, ...rest);
      };
    });
    page = await context.newPage();
    // Playwright intercepts file choosers only while someone listens; a listener for the whole run
    // keeps that on, where one per waitForEvent() races the click that opens the next chooser.
    page.on('filechooser', () => {});
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
    });
    await page.goto(pageUrl(isolated.url));
    await modelReady();
  });

  after(async () => {
    await browser?.close();
    for (const { server } of [isolated, plain].filter(Boolean)) {
      server.closeAllConnections();
      await new Promise((done) => server.close(done));
    }
    if (models) rmSync(models, { recursive: true, force: true });
  });

  test('demo: a failed model load clears the old results and facts; its error outlives a new image', { timeout: STEP_MS * 3 }, async () => {
    const before = await scored('photo.jpg', () => chooseFile(imagePath('photo.jpg')));
    assert.ok(before.results.length > 0);
    assert.equal(await page.isVisible('#test-model-note'), true, 'the tiny model is marked as such');
    try {
      await page.fill('#model-url', '/models/no-such-model/');
      await page.click('#load');
      await waitForState('error');
      const failed = await shownOn(page);
      assert.match(failed.error, /no-such-model/);
      assert.deepEqual(failed.results, [], 'no scores of the model that was replaced');
      assert.equal(failed.image, undefined);
      assert.equal(await page.isVisible('#results-empty'), true);
      assert.deepEqual(failed.facts, { threads: '–', dtype: '–', build: '–', model: '–' });
      assert.equal(await page.isVisible('#test-model-note'), false);
      assert.equal(await page.evaluate(() => document.getElementById('load-progress').value), 0);
      assert.equal(await page.textContent('#load-bytes'), '');

      // A new image while no model is loaded: the model's error stays.
      await chooseFile(imagePath('photo.png'));
      await page.waitForFunction(() => document.getElementById('preview').alt.endsWith('photo.png'), undefined, { timeout: STEP_MS });
      await page.press('#labels', 'Control+Enter'); // asks for a classification, with no model to run it
      await page.evaluate(() => new Promise((resolve) => setTimeout(resolve, 0))); // its timer has run
      const after = await shownOn(page);
      assert.match(after.error, /Loading the model from .*no-such-model.* failed/);
      assert.deepEqual(after.results, []);

      await page.fill('#model-url', '/models/tiny-hf/');
      const shown = await scored('photo.png', () => page.click('#load'));
      assert.equal(shown.facts.build, 'clip-wasm-threads');
    } finally {
      problems.length = 0; // the failed load is logged to the console on purpose
      await restoreModel();
    }
  });

  test('demo: a model without tokenizer files fails to load, with a message that says so', { timeout: STEP_MS * 2 }, async () => {
    try {
      await page.fill('#model-url', '/models/no-tokenizer/');
      await page.click('#load');
      await waitForState('error');
      const shown = await shownOn(page);
      assert.match(shown.error, /Loading the model from .*no-tokenizer.* failed: .*tokenizer files/);
      assert.equal(shown.model, 'failed');
      assert.equal(await page.textContent('#load-status'), 'Not loaded');
      assert.equal(await page.isDisabled('#classify'), true);
      assert.deepEqual(shown.results, []);
    } finally {
      problems.length = 0;
      await restoreModel();
    }
  });

  test('demo: a too large image is refused with its size and the limit, the shown one kept', { timeout: STEP_MS * 2 }, async () => {
    await scored('gray.png', () => chooseFile(imagePath('gray.png')));
    for (const [width, height, limit] of [[16385, 2, /16,384 pixels on a side/], [8193, 8193, /67,108,864 in all/]]) {
      const name = `huge-${width}x${height}.png`;
      await page.evaluate(() => {
        document.body.dataset.state = 'test-waiting';
      });
      await chooseFile({ name, mimeType: 'image/png', buffer: blankPng(width, height) });
      await waitForState('error');
      const shown = await shownOn(page);
      assert.ok(shown.error.startsWith(`${name}: the image is ${width} × ${height} pixels`), shown.error);
      assert.match(shown.error, limit);
      assert.equal(shown.image, 'gray.png', 'the results of the image still shown stay');
      assert.ok(shown.results.length > 0);
    }
    problems.length = 0;
  });

  test('demo: the same file picked twice is used twice', { timeout: STEP_MS * 2 }, async () => {
    const pick = async () => {
      const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.click('label[for="file"]')]);
      await chooser.setFiles(imagePath('rgba.png'));
    };
    await scored('rgba.png', pick);
    await scored('rgba.png', pick);
  });

  test('demo: keyboard focus on the file input shows on "Choose a file…"; Enter and Space open the picker', { timeout: STEP_MS }, async () => {
    await page.focus('#dropzone');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'file');
    const outline = (selector) => page.$eval(selector, (el) => getComputedStyle(el).outlineStyle);
    assert.equal(await outline('label[for="file"]'), 'solid', 'the ring is on the label');
    assert.equal(await outline('#camera-start'), 'none');
    for (const key of ['Enter', 'Space']) {
      const [chooser] = await Promise.all([page.waitForEvent('filechooser', { timeout: 10_000 }), page.keyboard.press(key)]);
      assert.equal(await chooser.element().evaluate((el) => el.id), 'file', `${key} opens the picker`);
    }
  });

  test('demo: labels are put into the prompts as written ($& and $$ included), each row titled', { timeout: STEP_MS }, async () => {
    const labels = ['cat', 'x $& y', "x $' y", 'x $$ y', 'x {} y'];
    await page.evaluate(() => {
      self.sentPrompts.length = 0;
    });
    await page.fill('#labels', labels.join('\n'));
    await page.selectOption('#template-preset', 'single');
    const shown = await scored('photo.png', () => chooseFile(imagePath('photo.png')));
    assert.deepEqual(await page.evaluate(() => self.sentPrompts), labels.map((label) => `a photo of a ${label}.`));
    assert.deepEqual(shown.results.map((r) => r.name).sort(), [...labels].sort());
    for (const { title, name } of shown.results) assert.equal(title, name);
    assert.equal(await page.isVisible('#labels-warning'), false);
  });

  test('demo: prompts past the 77-token context bring a warning under the labels', { timeout: STEP_MS }, async () => {
    const long = Array.from({ length: 80 }, (_, i) => `word${i % 10}`).join(' ');
    await page.fill('#labels', ['cat', `${long} cat`, `${long} dog`, `${long.slice(0, 200)}`].join('\n'));
    const shown = await scored('photo.jpg', () => chooseFile(imagePath('photo.jpg')));
    // The two labels that differ only past the context read the same: scored once.
    assert.deepEqual(shown.results.map((r) => r.title).sort(), ['cat', `${long} cat`, long.slice(0, 200)].sort());
    assert.equal(await page.isVisible('#labels-warning'), true);
    const warning = await page.textContent('#labels-warning');
    assert.match(warning, /77-token/);
    assert.match(warning, /"word0 word1/);
    assert.match(warning, /CLIP reads "word0 .*…" as "word0 .*…": each is scored once/);

    await page.fill('#labels', 'cat\ndog');
    await scored('photo.jpg', () => page.click('#classify'));
    assert.equal(await page.isVisible('#labels-warning'), false);
  });

  test('demo: labels CLIP reads the same (case, spacing, Unicode form) are scored once, with a note', { timeout: STEP_MS }, async () => {
    const nfc = 'caf\u00e9';
    const nfd = 'cafe\u0301';
    await page.fill('#labels', ['cat', 'Cat', 'CAT', 'cup of coffee', 'cup   of coffee', nfc, nfd].join('\n'));
    const shown = await scored('photo.jpg', () => chooseFile(imagePath('photo.jpg')));
    assert.deepEqual(shown.results.map((r) => r.label).sort(), ['cat', 'cup of coffee', nfc].sort());
    assert.ok(Math.abs(shown.results.reduce((sum, r) => sum + r.score, 0) - 1) < 1e-6);
    const warning = await page.textContent('#labels-warning');
    assert.match(warning, /CLIP reads "Cat" as "cat", "CAT" as "cat", "cup {3}of coffee" as "cup of coffee" and 1 more: each is scored once/);
    await page.fill('#labels', 'cat\ndog');
    await scored('photo.jpg', () => page.click('#classify'));
    assert.equal(await page.isVisible('#labels-warning'), false);
  });

  test('demo: labels or templates refused clear the scores and notes of the ones before', { timeout: STEP_MS }, async () => {
    const long = Array.from({ length: 80 }, (_, i) => `word${i % 10}`).join(' ');
    await page.fill('#labels', `cat\n${long}`);
    await scored('photo.png', () => chooseFile(imagePath('photo.png')));
    assert.equal(await page.isVisible('#labels-warning'), true);
    for (const [field, value, message] of [['#labels', '  \n ', /at least one label/], ['#templates', 'no label here', /has no \{\}/]]) {
      await page.evaluate(() => {
        document.body.dataset.state = 'test-waiting';
      });
      const previous = await page.inputValue(field);
      await page.fill(field, value);
      await page.click('#classify');
      await waitForState('error');
      const shown = await shownOn(page);
      assert.match(shown.error, message);
      assert.deepEqual(shown.results, [], `no scores left beside the ${field} refused`);
      assert.equal(await page.isVisible('#labels-warning'), false);
      assert.equal(await page.textContent('#results-summary'), '');
      await page.fill(field, previous);
    }
    await page.selectOption('#template-preset', 'single');
    await page.fill('#labels', 'cat\ndog');
    const shown = await scored('photo.png', () => page.click('#classify'));
    assert.equal(await page.textContent('#results-summary'), `Top label: ${shown.results[0].label}, ${(100 * shown.results[0].score).toFixed(1)}%.`);
    assert.match(await page.getAttribute('#dropzone', 'aria-label'), /^Image: photo\.png\./);
    problems.length = 0; // refused input is logged to the console on purpose
  });

  test('demo: typing in the templates of a preset makes them custom; Custom brings them back', { timeout: STEP_MS }, async () => {
    await page.selectOption('#template-preset', 'single');
    await page.focus('#templates');
    await page.keyboard.press('End');
    await page.keyboard.type(' Seen here.');
    assert.equal(await page.inputValue('#template-preset'), 'custom');
    assert.equal(await page.inputValue('#templates'), 'a photo of a {}. Seen here.');
    await page.selectOption('#template-preset', 'ensemble');
    await page.selectOption('#template-preset', 'custom');
    assert.equal(await page.inputValue('#templates'), 'a photo of a {}. Seen here.');
    await page.selectOption('#template-preset', 'single');
  });

  test('demo: a model URL that is not one is refused, and the model in use stays', { timeout: STEP_MS }, async () => {
    const before = await scored('photo.jpg', () => chooseFile(imagePath('photo.jpg')));
    try {
      await page.fill('#model-url', 'http://[bad');
      await page.click('#load');
      await waitForState('error');
      const shown = await shownOn(page);
      assert.equal(shown.error, 'The model URL "http://[bad" is not a valid URL.');
      assert.equal(shown.model, 'ready');
      assert.deepEqual(shown.results, before.results, 'the loaded model and its scores stay');
      assert.equal(await page.isDisabled('#classify'), false);
      await page.selectOption('#dtype', 'q8'); // a reload, refused the same way
      assert.equal((await shownOn(page)).model, 'ready');
    } finally {
      problems.length = 0;
      await page.selectOption('#dtype', 'f32');
      await restoreModel();
    }
  });

  test('demo: after a weights choice that fails, choosing another loads again', { timeout: STEP_MS * 2 }, async () => {
    try {
      await page.selectOption('#dtype', 'f16'); // tiny-hf has no model.fp16.safetensors
      await waitForState('error');
      assert.equal((await shownOn(page)).model, 'failed');
      await page.selectOption('#dtype', 'f32');
      assert.equal((await modelReady()).facts.dtype, 'f32');
    } finally {
      problems.length = 0;
      await restoreModel();
    }
  });

  test('demo: the load progress bar only moves forward', { timeout: STEP_MS }, async () => {
    await page.evaluate(() => {
      const { set } = Object.getOwnPropertyDescriptor(HTMLProgressElement.prototype, 'value');
      self.progressValues = [];
      Object.defineProperty(document.getElementById('load-progress'), 'value', {
        set(value) {
          self.progressValues.push(value);
          set.call(this, value);
        },
        get() {
          return Number(this.getAttribute('value') ?? 0);
        },
        configurable: true,
      });
    });
    await page.click('#load');
    await modelReady();
    const values = await page.evaluate(() => self.progressValues);
    assert.ok(values.length >= 2 && values.at(-1) === 1, `${values}`);
    values.forEach((v, i) => assert.ok(i === 0 || v >= values[i - 1], `went back: ${values}`));
  });

  test('demo: an image file without a type is decoded; an SVG is refused by name', { timeout: STEP_MS }, async () => {
    await scored('untyped', () => chooseFile({ name: 'untyped', mimeType: '', buffer: readFileSync(imagePath('photo.png')) }));
    await page.evaluate(() => {
      document.body.dataset.state = 'test-waiting';
    });
    const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><rect width="4" height="4"/></svg>';
    await chooseFile({ name: 'drawing.svg', mimeType: 'image/svg+xml', buffer: Buffer.from(svg) });
    await waitForState('error');
    assert.equal((await shownOn(page)).error, 'drawing.svg: SVG images are not supported; use PNG, JPEG, GIF, BMP or WebP.');
    problems.length = 0;
  });

  test('demo: any image chosen ends the webcam; after a snapshot the focus goes back to "Use webcam"', { timeout: STEP_MS }, async () => {
    const cameraOn = () => page.evaluate(() => Boolean(document.getElementById('camera').srcObject));
    await page.click('#camera-start');
    await page.waitForSelector('#camera-snap', { state: 'visible' });
    assert.equal(await cameraOn(), true);
    await scored('photo.png', () => chooseFile(imagePath('photo.png')));
    assert.equal(await cameraOn(), false, 'the stream is stopped');
    assert.equal(await page.isVisible('#camera'), false);
    assert.equal(await page.isVisible('#preview'), true);
    assert.equal(await page.isVisible('#camera-start'), true);

    await page.click('#camera-start');
    await page.waitForSelector('#camera-snap', { state: 'visible' });
    await page.waitForFunction(() => document.getElementById('camera').videoWidth > 0);
    await scored('webcam snapshot', () => page.keyboard.press('Enter')); // the snapshot button has the focus
    assert.equal(await page.evaluate(() => document.activeElement.id), 'camera-start');
    assert.equal(await cameraOn(), false);
  });

  test('demo: the Cache Storage status looks for the weights file of the dtype in use', { timeout: STEP_MS * 2 }, async () => {
    const cached = () => page.waitForFunction(() => document.getElementById('cache-status').dataset.cached === 'true', undefined, { timeout: 20_000 });
    try {
      await page.fill('#model-url', '/models/tiny-hf-converted/'); // model.q8.safetensors and model.fp16.safetensors
      await page.selectOption('#dtype', 'q8'); // reloads at once
      assert.equal((await modelReady()).facts.dtype, 'q8');
      await cached();
      await page.selectOption('#dtype', 'f16');
      assert.equal((await modelReady()).facts.dtype, 'f16');
      await cached();
    } finally {
      await restoreModel();
    }
  });

  test('demo: URL parameters the page cannot use are ignored with a note', { timeout: STEP_MS * 2 }, async () => {
    const other = await context.newPage();
    const open = async (url) => {
      await other.goto(url);
      await other.waitForFunction(() => document.getElementById('threads').options.length > 0);
      return (await other.isVisible('#params-note')) ? other.textContent('#params-note') : '';
    };
    try {
      assert.equal(await open(pageUrl(isolated.url, '&dtype=f16&threads=1')), '');
      assert.equal(await other.inputValue('#dtype'), 'f16');
      assert.equal(await other.inputValue('#threads'), '1');

      const note = await open(pageUrl(isolated.url, '&dtype=bf16&threads=999'));
      assert.equal(await other.inputValue('#dtype'), 'f32');
      assert.equal(await other.inputValue('#threads'), 'auto');
      assert.match(note, /dtype=bf16 was ignored \(the weights are f32, f16 or q8\); using f32\./);
      assert.match(note, /threads=999 was ignored/);

      const plainNote = await open(pageUrl(plain.url, '&threads=2'));
      assert.equal(await other.inputValue('#threads'), 'auto');
      assert.match(plainNote, /threads=2 was ignored/);
      if (await other.$('#threads option[value="2"]')) assert.match(plainNote, /cross-origin isolated/);
    } finally {
      await other.close();
    }
  });

  test('demo: nothing went wrong on the page besides what the tests caused', () => {
    assert.deepEqual(problems, []);
  });
});
