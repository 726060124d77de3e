// The declarations (js/index.d.ts) against uses they must allow, under tsc --strict, with the
// package as a consumer sees it (a link to js/ in node_modules).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { ROOT } from './helpers.mjs';

const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');

// A consumer project: the package linked into node_modules, `source` as usage.ts, then tsc with
// `libs` and `extra` arguments; resolves to tsc's output when it fails.
function typeCheck(source, libs, extra = []) {
  const dir = mkdtempSync(join(tmpdir(), 'clip-wasm-types-'));
  try {
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    mkdirSync(join(dir, 'node_modules'));
    symlinkSync(join(ROOT, 'js'), join(dir, 'node_modules/clip-wasm'), 'dir');
    writeFileSync(join(dir, 'usage.ts'), source);
    const run = spawnSync(process.execPath, [tsc, '--strict', '--noEmit', '--target', 'es2022', '--module', 'nodenext',
      '--moduleResolution', 'nodenext', '--lib', libs, ...extra, 'usage.ts'], { cwd: dir, encoding: 'utf8' });
    return run.status === 0 ? null : run.stdout + run.stderr;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('the worker model, null options and union arguments type-check', () => {
  const source = `
import { load, createWorkerClip, type ImageInput, type LabelScore, type MemoryStats } from 'clip-wasm';
export async function main(images: ImageInput | ImageInput[], texts: string | string[]): Promise<void> {
  const clip = await load('./model', null);
  const embedded: Float32Array | Float32Array[] = await clip.embedImage(images);
  const encoded: Float32Array | Float32Array[] = await clip.embedText(texts);
  const ids: Int32Array | Int32Array[] = await clip.tokenize(texts);
  const ranked: LabelScore[] | LabelScore[][] = await clip.classify(images, ['a', 'b'], null);
  const one: Float32Array = await clip.embedImage(new Uint8Array(4));
  await clip.dispose();
  const worker = await createWorkerClip('./model', null);
  await worker.ready;
  const stats: MemoryStats = await worker.memory();
  const viaWorker: Float32Array | Float32Array[] = await worker.embedImage(images);
  const rankedThere: LabelScore[] | LabelScore[][] = await worker.classify(images, ['a'], { templates: 'ensemble' });
  await worker.dispose();
  console.log(embedded, encoded, ids, ranked, one, stats, viaWorker, rankedThere);
}
`;
  assert.equal(typeCheck(source, 'es2022,dom'), null);
});

// A Node project's libs have no DOM: the browser-only image types must not turn the inputs into
// \`any\` (which let the single-image overloads swallow arrays) or fail to resolve.
test('the declarations type-check without the DOM lib, and arrays get the array overloads', () => {
  const source = `
import { load, type LabelScore } from 'clip-wasm';
export async function main(a: Uint8Array, b: Uint8Array): Promise<void> {
  const clip = await load('./model', { threads: 1, signal: undefined });
  const many: Float32Array[] = await clip.embedImage([a, b]);
  const one: Float32Array = await clip.embedImage(a);
  const ranked: LabelScore[][] = await clip.classify([a, b], ['cat', 'dog']);
  const best: LabelScore = ranked[0][0];
  // @ts-expect-error an array of images is not one image
  const wrong: Float32Array = await clip.embedImage([a, b]);
  await clip.dispose();
  void [many, one, best, wrong];
}
`;
  assert.equal(typeCheck(source, 'es2022'), null);
  // With Node's own declarations, a Node Blob is an image and a URL a model source.
  const withNode = `
import { load } from 'clip-wasm';
export async function main(a: ArrayBuffer): Promise<Float32Array> {
  const clip = await load(new URL('file:///model/'), { signal: AbortSignal.timeout(1000) });
  return clip.embedImage(new Blob([a]));
}
`;
  const types = ['--typeRoots', join(ROOT, 'node_modules/@types'), '--types', 'node'];
  assert.equal(typeCheck(withNode, 'es2022', types), null);
});
