// Shared set-up of the browser tests: the demo server on a free loopback port, Debian's Chromium
// through playwright-core with a new empty profile, and the model and references to test with.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

import { CAMERA_FLAGS, CHROMIUM, CHROMIUM_FLAGS } from '../js/browsers.mjs';

export const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const artifacts = path.join(repo, 'test-artifacts');
const fixtures = path.resolve(repo, process.env.CLIP_FIXTURES ?? 'build/native/fixtures');

function readJson(file, hint) {
  if (!existsSync(file)) throw new Error(`${file} is missing: ${hint}`);
  return JSON.parse(readFileSync(file, 'utf8'));
}

export const samples = readJson(path.join(repo, 'web-demo', 'samples', 'samples.json'), 'run tools/copy_sample_images.py');

// The model the tests load: OpenAI's real ViT-B/32 when scripts/fetch-real-model.sh has produced
// it, else the tiny random-weight fixture with its Python reference scores.
export function testModel() {
  const real = path.join(repo, 'models', 'clip-vit-base-patch32');
  if (existsSync(path.join(real, 'model.safetensors'))) {
    return { real: true, modelsDir: path.join(repo, 'models'), url: '/models/clip-vit-base-patch32/' };
  }
  const hint = 'run scripts/test-browser.sh (it makes the fixtures and the demo reference)';
  return {
    real: false,
    modelsDir: path.join(fixtures, 'js'),
    url: '/models/tiny-hf/',
    demoReference: readJson(path.join(fixtures, 'demo', 'reference.json'), hint),
    jsReference: readJson(path.join(fixtures, 'js', 'reference.json'), hint),
    imagesDir: path.join(fixtures, 'js', 'images'),
  };
}

export const SCORE_TOLERANCE = 1e-4; // observed ~1e-8 against PyTorch; 1e-4 still tells the photos apart
// The demo's "ensemble" preset: the CLIP paper's seven ImageNet templates, written out rather
// than imported from web-demo/zero-shot.mjs, so that the tests check the page's list.
export const ENSEMBLE = [
  'itap of a {}.',
  'a bad photo of the {}.',
  'a origami {}.',
  'a photo of the large {}.',
  'a {} in a video game.',
  'art of the {}.',
  'a photo of the small {}.',
];

// Time allowed for one step (a load, a classification): ViT-B/32 in f32 on two cores, or a 6 MB
// model.
export const stepMs = (model) => (model.real ? 300_000 : 60_000);
// How long a step waits on the page: less than the step's timeout, so that a wait that fails says
// what the page shows.
export const waitMs = (model) => stepMs(model) - 10_000;

// The demo page at `base`, loading `model` (from testModel()).
export const demoUrl = (base, model) => `${base}?model=${encodeURIComponent(model.url)}`;

// The labels to classify with: the reference's for the tiny model; for the real one, what the
// sample photos show and a few more.
export const demoLabels = (model) =>
  model.real ? samples.map((s) => s.label).concat(['dog', 'car', 'bird', 'flower']) : model.demoReference.labels;

// Scores shown for `sampleName` with `kind` templates ('single' | 'ensemble'): they must add up
// to 1, and match the reference (tiny model) or name what the photo shows (real model).
export function checkDemoScores(model, shown, sampleName, kind) {
  const results = shown.results;
  assert.ok(results.length >= 2, 'the page lists the labels with scores');
  const sum = results.reduce((total, r) => total + r.score, 0);
  assert.ok(Math.abs(sum - 1) < 1e-5, `probabilities add up to 1 (got ${sum})`);
  const shownSum = results.reduce((total, r) => total + Number.parseFloat(r.shown), 0);
  assert.ok(Math.abs(shownSum - 100) <= 0.05 * results.length + 1e-9, `percentages add up to ~100 (got ${shownSum})`);
  for (let i = 1; i < results.length; i++) assert.ok(results[i - 1].score >= results[i].score, 'sorted by score');
  assert.ok(results[0].top && !results[1].top, 'the top label is marked');

  const sample = samples.find((s) => s.name === sampleName);
  if (model.real) {
    assert.equal(results[0].label, sample.label, `OpenAI's ViT-B/32 names ${sampleName}`);
    return;
  }
  const reference = model.demoReference;
  const probs = reference.images[sampleName].probs[kind];
  const expectedTop = reference.labels[probs.indexOf(Math.max(...probs))];
  assert.equal(results[0].label, expectedTop, `top label of ${sampleName} as the Python reference has it`);
  assert.equal(results.length, reference.labels.length);
  for (const { label, score } of results) {
    const expected = probs[reference.labels.indexOf(label)];
    assert.ok(Math.abs(score - expected) < SCORE_TOLERANCE, `${sampleName}/${label}: ${score} vs. reference ${expected}`);
  }
}

// Starts web-demo/server.mjs; resolves to {url, stop()}.
export async function startServer(args = []) {
  const child = spawn(process.execPath, [path.join(repo, 'web-demo', 'server.mjs'), '--port', '0', '--quiet', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${output}`)), 15000);
    const read = (chunk) => {
      output += chunk;
      const match = /clip-wasm demo: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stdout.on('data', read);
    child.stderr.on('data', read);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${output}`));
    });
  });
  return {
    url,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', resolve);
        child.kill('SIGTERM');
      }),
  };
}

// A fresh Chromium with a new empty profile; close() also removes the profile.
export async function launchBrowser(viewport = { width: 1200, height: 900 }) {
  const profile = mkdtempSync(path.join(tmpdir(), 'clip-demo-profile-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [...CHROMIUM_FLAGS, ...CAMERA_FLAGS],
    viewport,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const problems = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
  });
  const requests = [];
  context.on('request', (request) => requests.push(request.url()));
  return {
    context,
    page,
    problems,
    requests,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

// What the page shows: state, runtime facts and the ranked scores (full precision from data-*).
export function readPage(page) {
  return page.evaluate(() => {
    const text = (id) => document.getElementById(id).textContent.trim();
    return {
      state: document.body.dataset.state,
      image: document.body.dataset.image,
      error: document.getElementById('error').hidden ? '' : text('error'),
      isolationNote: document.getElementById('isolation-note').hidden ? '' : text('isolation-note'),
      crossOriginIsolated: self.crossOriginIsolated,
      threads: Number(text('fact-threads')),
      facts: {
        isolated: text('fact-isolated'),
        simd: text('fact-simd'),
        dtype: text('fact-dtype'),
        build: text('fact-build'),
      },
      cache: document.getElementById('cache-status').dataset.cached,
      timings: Object.fromEntries(
        [...document.querySelectorAll('#timings dd')].map((dd) => [dd.dataset.step, dd.textContent.trim()]),
      ),
      results: [...document.querySelectorAll('#results .result')].map((item) => ({
        label: item.dataset.label,
        score: Number(item.dataset.score),
        shown: item.querySelector('.score').textContent,
        top: item.classList.contains('top'),
      })),
    };
  });
}

// Resolves once predicate(arg) holds on the page. Polled through page.evaluate, which
// playwright-core and puppeteer-core both have (their waitForFunction signatures differ). A
// timeout names the demo's state, image and error box as they were.
export async function waitOnPage(page, predicate, arg, timeout) {
  const end = Date.now() + timeout;
  while (!(await page.evaluate(predicate, arg))) {
    if (Date.now() > end) {
      const shown = await page.evaluate(() =>
        JSON.stringify({ ...document.body.dataset, error: document.querySelector('#error')?.textContent ?? null }),
      );
      throw new Error(`timed out after ${timeout} ms waiting for ${predicate}; the page: ${shown}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

// Runs `action` (which starts a classification) and waits until the page has finished one for
// `image` (it marks both on <body>).
export async function classifyWith(page, image, action, timeout) {
  await page.evaluate(() => {
    document.body.dataset.state = 'test-waiting';
  });
  await action();
  await waitOnPage(
    page,
    (name) =>
      (document.body.dataset.image === name && document.body.dataset.state === 'done') ||
      document.body.dataset.state === 'error',
    image,
    timeout,
  );
  const shown = await readPage(page);
  if (shown.state === 'error') throw new Error(`the page shows an error: ${shown.error}`);
  return shown;
}

// Model ready (or an error shown).
export async function waitForModel(page, timeout) {
  await waitOnPage(page, () => document.body.dataset.model === 'ready' || document.body.dataset.state === 'error', null, timeout);
  const shown = await readPage(page);
  if (shown.state === 'error') throw new Error(`the page shows an error: ${shown.error}`);
  return shown;
}

// Appends "group name=value" to the figures file scripts/test.sh collects, and prints it.
export function recordFigure(group, name, value) {
  const line = `${group} ${name}=${value}`;
  console.log(line);
  if (process.env.CLIP_FIGURES_FILE) appendFileSync(process.env.CLIP_FIGURES_FILE, `${line}\n`);
}
