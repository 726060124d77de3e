#!/usr/bin/env node
// How often Firefox leaves a worker-hosted model stuck in the `new Worker()` that makes its
// threads (js/src/worker-client.mjs), with and without automation attached. One cross-origin
// isolated page makes N worker-hosted loads of the tiny test model at 2 threads, one after the
// other, each given 30 s (a stuck one is left behind), and reports each outcome to this
// script's loopback server.
//
//   --driver puppeteer   Firefox driven by puppeteer over WebDriver BiDi, as the tests drive it
//   --driver none        Firefox started with the page's URL and nothing attached
//   --raw                loads that never replace a stuck worker (WorkerClip's limit at 1 hour)
//                        instead of createWorkerClip() as it ships
//
// usage: node bench/browser/worker-stalls.mjs [--driver puppeteer|none] [--raw] [--loads N]
// The fixtures come from scripts/make-fixtures.sh (CLIP_FIXTURES, as in tests/js).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { parseArgs } from 'node:util';

import { FIREFOX, launchFirefox } from '../../tests/js/browsers.mjs';
import { FIXTURES, ROOT } from '../../tests/js/helpers.mjs';

const { values: args } = parseArgs({
  options: { driver: { type: 'string', default: 'puppeteer' }, raw: { type: 'boolean', default: false }, loads: { type: 'string', default: '200' } },
});
const loads = Number(args.loads);
if (!['puppeteer', 'none'].includes(args.driver) || !(loads > 0)) throw new Error('usage: worker-stalls.mjs [--driver puppeteer|none] [--raw] [--loads N]');

const PAGE = `<!doctype html><meta charset="utf-8"><body><script type="module">
import { createWorkerClip } from '/js/src/index.mjs';
import { WorkerClip } from '/js/src/worker-client.mjs';
const start = async (source, options) => {
  if (!${args.raw}) return createWorkerClip(source, options);
  const worker = new Worker(new URL('/js/src/worker.mjs', location.href), { type: 'module' });
  const clip = new WorkerClip(worker, undefined, 3_600_000);
  await clip._load(source, options);
  return clip;
};
for (let i = 0; i < ${loads}; i++) {
  const once = (async () => {
    const clip = await start('/fixtures/tiny-hf/', { threads: 2, cache: false });
    await clip.embedText('a photo of a cat');
    await clip.dispose();
    return 'ok';
  })().catch((e) => 'error: ' + e.message);
  const outcome = await Promise.race([once, new Promise((done) => setTimeout(() => done('stuck'), 30_000))]);
  await fetch('/outcome/' + encodeURIComponent(outcome));
}
await fetch('/finished');
</script>`;

const TYPES = { '.mjs': 'text/javascript', '.js': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json' };
const outcomes = [];
let finish;
const finished = new Promise((done) => (finish = done));
const server = createServer((req, res) => {
  const path = decodeURIComponent(new URL(req.url, 'http://x').pathname).slice(1);
  const headers = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp', 'Cache-Control': 'no-store' };
  if (path.startsWith('outcome/')) outcomes.push(path.slice('outcome/'.length));
  if (path === 'finished') finish();
  if (path === 'page.html') return res.writeHead(200, { ...headers, 'Content-Type': 'text/html' }).end(PAGE);
  const file = path.startsWith('fixtures/') ? join(FIXTURES, path.slice('fixtures/'.length)) : join(ROOT, path);
  if (!path.startsWith('js/') && !path.startsWith('fixtures/')) return res.writeHead(200, headers).end();
  if (!existsSync(file)) return res.writeHead(404, headers).end();
  res.writeHead(200, { ...headers, 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
});
await new Promise((done) => server.listen(0, '127.0.0.1', done));
const url = `http://127.0.0.1:${server.address().port}/page.html`;

let close;
if (args.driver === 'puppeteer') {
  const browser = await launchFirefox();
  await (await browser.newPage()).goto(url);
  close = () => browser.close();
} else {
  const profile = mkdtempSync(join(tmpdir(), 'clip-firefox-'));
  const firefox = spawn(FIREFOX, ['--headless', '--no-remote', '--profile', profile, url], { stdio: 'ignore' });
  close = () => {
    firefox.kill('SIGKILL');
    rmSync(profile, { recursive: true, force: true });
  };
}
const limit = setTimeout(finish, loads * 35_000 + 60_000);
await finished;
clearTimeout(limit);
await close();
server.close();
const count = (outcome) => outcomes.filter((o) => o === outcome).length;
const errors = outcomes.filter((o) => o.startsWith('error'));
console.log(`Firefox, driver ${args.driver}, ${args.raw ? 'no replacement' : 'createWorkerClip'}: ${count('ok')} of ${loads} loads completed, ${count('stuck')} stuck, ${errors.length} failed${errors.length ? ` (${decodeURIComponent(errors[0])})` : ''}`);
process.exit(0);
