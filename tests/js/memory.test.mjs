// Repeated calls do not grow the WebAssembly heap, failed calls leak nothing, and concurrent
// calls give exactly the serial results.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { load } from '../../js/src/index.mjs';
import { REFERENCE, modelDir, readImage, recordFigure } from './helpers.mjs';

for (const threads of [1, 2]) {
  describe(`memory and concurrency, ${threads} thread(s)`, () => {
    let clip;
    before(async () => {
      clip = await load(modelDir('tiny-hf'), { threads });
    });
    after(() => clip.dispose());

    test('200 sequential embeddings without heap growth', async () => {
      const images = ['photo.png', 'photo.jpg', 'rgba.png', 'gray.png'].map(readImage);
      const round = async (i) => {
        await clip.embedImage(images[i % images.length]);
        await clip.embedText(REFERENCE.texts[i % REFERENCE.texts.length]);
      };
      // Warm up until allocations settle: buffers reach their largest size, and each worker
      // thread's scratch space (thread_local in the kernels) its largest size once that thread
      // has run the largest task. A leak never settles, and then the check below fails.
      let last = -1;
      for (let i = 0, steady = 0; i < 1000 && steady < 40; i++) {
        await round(i);
        const used = clip.memory().usedBytes;
        steady = used === last ? steady + 1 : 0;
        last = used;
      }
      const start = clip.memory();
      for (let i = 0; i < 200; i++) await round(i);
      const end = clip.memory();
      recordFigure('js-memory', `heap-bytes-t${threads}`, end.heapBytes);
      recordFigure('js-memory', `used-bytes-t${threads}`, end.usedBytes);
      assert.equal(end.heapBytes, start.heapBytes, 'the heap grew over 200 embeddings');
      if (threads === 1) {
        assert.equal(end.usedBytes, start.usedBytes, 'allocated bytes changed over 200 embeddings');
      } else {
        // Which worker runs the largest attention task first is up to the scheduler, so a
        // worker's thread_local scratch (at most 2 x 77 x 32 + 77 x 77 floats here, 43 KB) may
        // still grow once after the warm-up. A leak of 320 bytes per round would exceed this.
        assert.ok(end.usedBytes - start.usedBytes <= 64 << 10, `allocated bytes grew by ${end.usedBytes - start.usedBytes}`);
      }
    });

    test('200 failed calls leak nothing', async () => {
      const bad = readImage('notes.txt');
      for (let i = 0; i < 5; i++) await clip.embedImage(bad).catch(() => {});
      const start = clip.memory();
      for (let i = 0; i < 200; i++) {
        await assert.rejects(clip.embedImage(bad));
        await assert.rejects(clip.classify(readImage('photo.png'), ['x'], { templates: ['no placeholder'] }));
      }
      assert.deepEqual(clip.memory(), start);
    });

    test('concurrent calls equal serial results', async () => {
      const labels = ['cat', 'dog', 'car'];
      const calls = [];
      for (let i = 0; i < 12; i++) {
        const image = readImage(REFERENCE.images[i % REFERENCE.images.length]);
        const text = REFERENCE.texts[i % REFERENCE.texts.length];
        calls.push(() => clip.embedImage(image), () => clip.embedText(text), () => clip.classify(image, labels));
      }
      const serial = [];
      for (const call of calls) serial.push(await call());
      const concurrent = await Promise.all(calls.map((call) => call()));
      assert.deepEqual(concurrent, serial);
      // Failures in the middle of a burst do not disturb the calls around them.
      const mixed = await Promise.allSettled(calls.flatMap((call) => [call(), clip.embedImage(42)]));
      mixed.forEach((result, i) => {
        if (i % 2) assert.equal(result.status, 'rejected');
        else assert.deepEqual(result.value, serial[i / 2]);
      });
    });
  });
}
