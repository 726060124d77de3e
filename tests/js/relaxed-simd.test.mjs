// Relaxed SIMD: the fused multiply-add kernels (patched into the module at load) and the plain
// SIMD128 ones both reproduce the reference, in both builds; the option is checked.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { load } from '../../js/src/index.mjs';
import { nodeModules } from '../../js/src/node.mjs';
import { RELAXED_SIMD_PROBE as RELAXED_PROBE, relaxedSimdAvailable } from '../../js/src/relaxed-simd.mjs';
import { REFERENCE, cosine, modelDir, readImage, recordFigure } from './helpers.mjs';

const MIN_COSINE = 0.99999;
const relaxedByDefault = WebAssembly.validate(RELAXED_PROBE);

describe('relaxed SIMD', () => {
  test('is available in this Node (Node 20: behind a V8 flag the package sets while it compiles)', async () => {
    await nodeModules(); // as load() does first
    assert.equal(relaxedSimdAvailable(), true);
  });

  test("leaves V8's flags as it found them once a model is loaded", async () => {
    const clip = await load(modelDir('tiny-hf'), { threads: 2 });
    try {
      assert.equal(clip.info.relaxedSimd, true);
      assert.equal(WebAssembly.validate(RELAXED_PROBE), relaxedByDefault);
    } finally {
      await clip.dispose();
    }
  });

  for (const threads of [1, 2]) {
    test(`${threads} thread(s): fused and plain kernels both give the reference embeddings`, async () => {
      const ref = REFERENCE.models['tiny-hf'];
      const text = REFERENCE.texts[0];
      const results = {};
      for (const relaxedSimd of [true, false]) {
        const clip = await load(modelDir('tiny-hf'), { threads, relaxedSimd });
        try {
          assert.equal(clip.info.relaxedSimd, relaxedSimd);
          const image = await clip.embedImage(readImage('photo.png'));
          const embedding = await clip.embedText(text);
          for (const [got, want, what] of [[image, ref.images['photo.png'], 'image'], [embedding, ref.texts[text], 'text']]) {
            const c = cosine(got, want);
            assert.ok(c >= MIN_COSINE, `${what}, relaxedSimd ${relaxedSimd}: cosine ${c} < ${MIN_COSINE}`);
          }
          results[relaxedSimd] = image;
        } finally {
          await clip.dispose();
        }
      }
      // Fusing changes the rounding of each product, so the two differ (which shows the fused
      // kernels ran: this machine's CPU has FMA), but only in the last bits.
      let maxDiff = 0;
      for (let i = 0; i < results.true.length; i++) maxDiff = Math.max(maxDiff, Math.abs(results.true[i] - results.false[i]));
      recordFigure('js-relaxed-simd', `t${threads}-image-max-abs-diff-fused-vs-plain`, maxDiff.toExponential(2));
      assert.ok(maxDiff > 0 && maxDiff < 1e-5, `fused vs plain image embeddings differ by ${maxDiff}`);
    });
  }

  test('two builds compiled at the same time both get relaxed SIMD (the flag outlives both compiles)', async () => {
    // A fresh copy of the runtime, so that neither build is compiled yet.
    const runtime = await import(`../../js/src/runtime.mjs?concurrent=${Date.now()}`);
    await runtime.nodeModules();
    const builds = [runtime.chooseBuild(1), runtime.chooseBuild(2)];
    assert.notEqual(builds[0].build, builds[1].build);
    const instances = await Promise.all(builds.map((b) => runtime.createInstance(b.build, b.threads, b.relaxedSimd)));
    for (const instance of instances) instance.endThreads();
    assert.equal(WebAssembly.validate(RELAXED_PROBE), relaxedByDefault);
  });

  test('a relaxedSimd that is not a boolean is refused, naming the option', async () => {
    await assert.rejects(load(modelDir('tiny-hf'), { relaxedSimd: 'yes' }), /relaxedSimd must be true or false/);
  });
});
