#!/usr/bin/env node
// How often Firefox leaves a worker-hosted model stuck in the `new Worker()` that makes its
// threads (js/src/worker-client.mjs), with and without automation attached. One cross-origin
// isolated page makes N worker-hosted loads of the tiny test model at 2 threads, one after the
// other, each given 30 s (a stuck one is left behind), and reports each outcome to the tests'
// page server on loopback (tests/js/helpers.mjs).
//
//   --driver puppeteer   Firefox driven by puppeteer over WebDriver BiDi, as the tests drive it
//   --driver none        Firefox started with the page's URL and nothing attached
//   --raw                loads that never replace a stuck worker (WorkerClip's limit at 1 hour)
//                        instead of createWorkerClip() as it ships
//
// usage: node bench/browser/worker-stalls.mjs [--driver puppeteer|none] [--raw] [--loads N]
// The fixtures come from scripts/make-fixtures.sh (CLIP_FIXTURES, as in tests/js).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { FIREFOX, launchFirefox } from '../../tests/js/browsers.mjs';
import { startPageServer } from '../../tests/js/helpers.mjs';

const { values: args } = parseArgs({
  options: { driver: { type: 'string', default: 'puppeteer' }, raw: { type: 'boolean', default: false }, loads: { type: 'string', default: '200' } },
});
const loads = Number(args.loads);
if (!['puppeteer', 'none'].includes(args.driver) || !(loads > 0)) throw new Error('usage: worker-stalls.mjs [--driver puppeteer|none] [--raw] [--loads N]');

const PAGE = `<!doctype html><meta charset="utf-8"><body><script type="module">
import { createWorkerClip } from '/iso/js/src/index.mjs';
import { WorkerClip } from '/iso/js/src/worker-client.mjs';
const start = async (source, options) => {
  if (!${args.raw}) return createWorkerClip(source, options);
  const worker = new Worker(new URL('/iso/js/src/worker.mjs', location.href), { type: 'module' });
  const clip = new WorkerClip(worker, undefined, 3_600_000);
  await clip._load(source, options);
  return clip;
};
for (let i = 0; i < ${loads}; i++) {
  const once = (async () => {
    const clip = await start('/iso/fixtures/tiny-hf/', { threads: 2, cache: false });
    await clip.embedText('a photo of a cat');
    await clip.dispose();
    return 'ok';
  })().catch((e) => 'error: ' + e.message);
  const outcome = await Promise.race([once, new Promise((done) => setTimeout(() => done('stuck'), 30_000))]);
  await fetch('/iso/outcome/' + encodeURIComponent(outcome));
}
await fetch('/iso/finished');
</script>`;

// The page reports by requesting /iso/outcome/... and /iso/finished, which the server records.
const server = await startPageServer({ 'stalls.html': PAGE });
const url = `http://127.0.0.1:${server.port}/iso/stalls.html`;
const requested = (path) => server.requests.some((r) => r.path === path);

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
const deadline = Date.now() + loads * 35_000 + 60_000;
while (!requested('finished') && Date.now() < deadline) await new Promise((done) => setTimeout(done, 200));
await close();
server.server.close();
const outcomes = server.requests.filter((r) => r.path.startsWith('outcome/')).map((r) => r.path.slice('outcome/'.length));
const count = (outcome) => outcomes.filter((o) => o === outcome).length;
const errors = outcomes.filter((o) => o.startsWith('error'));
console.log(`Firefox, driver ${args.driver}, ${args.raw ? 'no replacement' : 'createWorkerClip'}: ${count('ok')} of ${loads} loads completed, ${count('stuck')} stuck, ${errors.length} failed${errors.length ? ` (${errors[0]})` : ''}`);
process.exit(0);
