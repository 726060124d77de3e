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

test('the worker model, null options and union arguments type-check', () => {
  const dir = mkdtempSync(join(tmpdir(), 'clip-wasm-types-'));
  try {
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    mkdirSync(join(dir, 'node_modules'));
    symlinkSync(join(ROOT, 'js'), join(dir, 'node_modules/clip-wasm'), 'dir');
    writeFileSync(join(dir, 'usage.ts'), `
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
`);
    const run = spawnSync(process.execPath, [tsc, '--strict', '--noEmit', '--target', 'es2022', '--module', 'nodenext',
      '--moduleResolution', 'nodenext', '--lib', 'es2022,dom', 'usage.ts'], { cwd: dir, encoding: 'utf8' });
    assert.equal(run.status, 0, run.stdout + run.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
