// The web demo in Debian's Firefox ESR, driven by puppeteer-core over WebDriver BiDi: the page
// loads the model in its Worker on more than one thread and classifies sample photos like the
// reference. The demo's whole behaviour is tested in Chromium (demo.test.mjs); this is the second
// engine.

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { launchFirefox } from '../js/browsers.mjs';
import {
  ENSEMBLE,
  artifacts,
  checkDemoScores,
  classifyWith,
  demoLabels,
  demoUrl,
  recordFigure,
  startServer,
  stepMs,
  testModel,
  waitForModel,
  waitMs,
} from './harness.mjs';

const model = testModel();
const STEP_MS = stepMs(model);
const WAIT_MS = waitMs(model);

describe('web demo in Firefox, cross-origin isolated', () => {
  let server;
  let browser;
  let page;
  const problems = [];

  before(async () => {
    server = await startServer(['--models', model.modelsDir]);
    browser = await launchFirefox();
    page = await browser.newPage();
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
    });
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('loads the model on more than one thread', { timeout: STEP_MS }, async () => {
    const started = Date.now();
    await page.goto(demoUrl(server.url, model));
    const shown = await waitForModel(page, WAIT_MS);
    recordFigure('demo', `model_load_s(${model.real ? 'ViT-B/32' : 'tiny'},firefox)`, ((Date.now() - started) / 1000).toFixed(2));
    assert.equal(shown.crossOriginIsolated, true, 'COOP/COEP make the page cross-origin isolated');
    assert.ok(shown.threads > 1, `threads > 1 (got ${shown.threads})`);
    assert.equal(shown.facts.build, 'clip-wasm-threads');
    assert.equal(shown.facts.simd, 'yes');
    assert.equal(shown.isolationNote, '', 'no single-thread warning');
  });

  test('classifies sample photos like the reference, with one template and with the ensemble', { timeout: STEP_MS }, async () => {
    await page.locator('#labels').fill(demoLabels(model).join('\n'));
    await page.select('#template-preset', 'single');
    checkDemoScores(model, await classifyWith(page, 'chelsea', () => page.click('.sample[data-name="chelsea"]'), WAIT_MS), 'chelsea', 'single');

    await page.select('#template-preset', 'ensemble');
    assert.deepEqual((await page.$eval('#templates', (field) => field.value)).split('\n'), ENSEMBLE);
    const shown = await classifyWith(page, 'coffee', () => page.click('.sample[data-name="coffee"]'), WAIT_MS);
    checkDemoScores(model, shown, 'coffee', 'ensemble');
    const ms = await page.evaluate(() => document.querySelector('#timings dd[data-step="image"]').dataset.ms);
    recordFigure('demo', `image_ms(${model.real ? 'ViT-B/32' : 'tiny'},firefox,${shown.threads}t)`, ms);
    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: path.join(artifacts, 'demo-firefox.png'), fullPage: true });
  });

  test('nothing went wrong on the page', () => {
    assert.deepEqual(problems, []);
  });
});
