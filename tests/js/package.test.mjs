// `npm pack` of js/: size budget, install into an empty directory (offline), then the CLI, a
// Node example and the types (tsc --strict) from there.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { REFERENCE, ROOT, cosine, imagePath, modelDir, recordFigure } from './helpers.mjs';

const MAX_PACKAGE_BYTES = 2 * 1024 * 1024;
const npm = (args, cwd) => execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

describe('npm package', () => {
  let dir;
  let pack;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'clip-wasm-pack-'));
    [pack] = JSON.parse(npm(['pack', join(ROOT, 'js'), '--pack-destination', dir, '--json', '--silent'], dir));
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    npm(['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', join(dir, pack.filename)], dir);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('holds the entry, both builds, the CLI and types, within the size budget', () => {
    const files = pack.files.map((f) => f.path).sort();
    for (const needed of ['src/index.mjs', 'src/worker.mjs', 'bin/clip-wasm.mjs', 'index.d.ts', 'README.md', 'LICENSE',
      'dist/clip-wasm-simd.wasm', 'dist/clip-wasm-threads.wasm', 'dist/clip-wasm-threads.worker.js']) {
      assert.ok(files.includes(needed), `${needed} in the package`);
    }
    const wasm = pack.files.filter((f) => f.path.endsWith('.wasm'));
    for (const f of wasm) recordFigure('js-package', `${f.path.slice(5)}-bytes`, f.size);
    recordFigure('js-package', 'unpacked-bytes', pack.unpackedSize);
    recordFigure('js-package', 'tarball-bytes', pack.size);
    for (const f of wasm) assert.ok(f.size <= 1.5 * 1024 * 1024, `${f.path}: ${f.size} bytes > 1.5 MB`);
    assert.ok(pack.unpackedSize <= MAX_PACKAGE_BYTES, `package unpacks to ${pack.unpackedSize} bytes > 2 MB`);
  });

  test('the installed CLI runs', () => {
    const bin = join(dir, 'node_modules/.bin/clip-wasm');
    const run = spawnSync(bin, ['classify', '--model', modelDir('tiny-hf'), imagePath('photo.png'), '--labels', 'cat,dog', '--json', '--quiet'], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    const [result] = JSON.parse(run.stdout);
    assert.equal(result.labels.length, 2);
  });

  test('a Node example using the installed package', () => {
    writeFileSync(join(dir, 'example.mjs'), `
import { readFileSync } from 'node:fs';
import { load, createWorkerClip } from 'clip-wasm';
const clip = await load(process.argv[2]);
const image = await clip.embedImage(readFileSync(process.argv[3]));
const ranked = await clip.classify(readFileSync(process.argv[3]), ['cat', 'dog']);
await clip.dispose();
const worker = await createWorkerClip(process.argv[2], { threads: 1 });
const text = await worker.embedText('a photo of a cat');
await worker.dispose();
console.log(JSON.stringify({ image: Array.from(image), text: Array.from(text), ranked }));
`);
    const run = spawnSync(process.execPath, ['example.mjs', modelDir('tiny-hf'), imagePath('photo.png')], { cwd: dir, encoding: 'utf8', timeout: 60000 });
    assert.equal(run.status, 0, run.stderr);
    const out = JSON.parse(run.stdout);
    const ref = REFERENCE.models['tiny-hf'];
    assert.ok(cosine(out.image, ref.images['photo.png']) >= 0.99999);
    assert.ok(cosine(out.text, ref.texts['a photo of a cat']) >= 0.99999);
    assert.equal(out.ranked.length, 2);
  });

  test('the types compile under strict mode', () => {
    writeFileSync(join(dir, 'usage.ts'), `
import { load, createWorkerClip, clearCache, DEFAULT_MODEL, type ProgressEvent, type LabelScore } from 'clip-wasm';
async function main(): Promise<void> {
  const clip = await load(DEFAULT_MODEL, { dtype: 'q8', threads: 2, cache: false, onProgress: (e: ProgressEvent) => {
    if (e.status === 'progress') console.log(e.loaded / e.total);
  } });
  const one: Float32Array = await clip.embedImage(new Uint8Array(4));
  const many: Float32Array[] = await clip.embedImage([{ data: new Uint8Array(12), width: 2, height: 2, channels: 3 }]);
  const ranked: LabelScore[] = await clip.classify(one, ['a', 'b'], { templates: 'ensemble' });
  const s: number = await clip.similarity('a cat', many[0]);
  const ids: Int32Array = await clip.tokenize('a cat');
  const bytes: number = clip.memory().heapBytes + clip.info.embedDim;
  await clip.dispose();
  const worker = await createWorkerClip({ 'model.safetensors': new Uint8Array(0) });
  await worker.memory();
  const cleared: boolean = await clearCache();
  console.log(ranked, s, ids, bytes, cleared);
}
void main();
`);
    const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
    const run = spawnSync(process.execPath, [tsc, '--strict', '--noEmit', '--target', 'es2022', '--module', 'nodenext',
      '--moduleResolution', 'nodenext', '--lib', 'es2022,dom', 'usage.ts'],
    { cwd: dir, encoding: 'utf8' });
    assert.equal(run.status, 0, run.stdout + run.stderr);
  });
});
