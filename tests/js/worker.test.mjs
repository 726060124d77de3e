// createWorkerClip(): the same API answered from a worker_threads Worker.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { createWorkerClip, load } from '../../js/src/index.mjs';
import { REFERENCE, cosine, memoryFiles, modelDir, readImage } from './helpers.mjs';

const ref = REFERENCE.models['tiny-hf'];

describe('worker-hosted model', () => {
  let clip;
  const events = [];
  before(async () => {
    clip = await createWorkerClip(modelDir('tiny-hf'), { threads: 2, onProgress: (e) => events.push(e) });
  });
  after(() => clip.dispose());

  test('load reports progress and info', () => {
    assert.equal(clip.info.embedDim, 16);
    assert.equal(clip.info.build, 'clip-wasm-threads');
    assert.ok(events.some((e) => e.file === 'model.safetensors' && e.status === 'progress'));
    assert.equal(events.at(-1).status, 'ready');
  });

  test('results equal the reference and the in-thread model', async () => {
    const image = await clip.embedImage(readImage('photo.png'));
    assert.ok(image instanceof Float32Array);
    assert.ok(cosine(image, ref.images['photo.png']) >= 0.99999);
    const texts = await clip.embedText(REFERENCE.texts);
    texts.forEach((e, i) => assert.ok(cosine(e, ref.texts[REFERENCE.texts[i]]) >= 0.99999));
    assert.deepEqual(Array.from(await clip.tokenize('a photo of a cat')), ref.tokens['a photo of a cat']);
    const local = await load(modelDir('tiny-hf'), { threads: 2 });
    const labels = ['cat', 'dog'];
    assert.deepEqual(await clip.classify(readImage('photo.jpg'), labels), await local.classify(readImage('photo.jpg'), labels));
    assert.equal(await clip.similarity('cat', readImage('gray.png')), await local.similarity('cat', readImage('gray.png')));
    await local.dispose();
  });

  test('errors come back as rejected Errors and the model stays usable', async () => {
    await assert.rejects(clip.embedImage(readImage('notes.txt')), /embedImage: .*(not a JPEG|unrecognized)/i);
    await assert.rejects(clip.classify(readImage('photo.png'), []), /labels must be a non-empty array/);
    const image = await clip.embedImage({ data: new Uint8Array(16 * 16 * 3).fill(128), width: 16, height: 16 });
    assert.equal(image.length, 16);
  });

  test('concurrent calls equal serial results', async () => {
    const inputs = REFERENCE.images.map(readImage);
    const serial = [];
    for (const input of inputs) serial.push(await clip.embedImage(input));
    assert.deepEqual(await Promise.all(inputs.map((input) => clip.embedImage(input))), serial);
  });
});

describe('worker-hosted load failures', () => {
  test('a bad model rejects and the worker ends', async () => {
    await assert.rejects(createWorkerClip(modelDir('tiny-missing'), { threads: 1 }), /text_projection\.weight/);
  });

  test('in-memory files and dispose', async () => {
    const clip = await createWorkerClip(memoryFiles('tiny-openclip'), { threads: 1 });
    const text = await clip.embedText('a photo of a cat');
    assert.ok(cosine(text, REFERENCE.models['tiny-openclip'].texts['a photo of a cat']) >= 0.99999);
    await clip.dispose();
    await assert.rejects(clip.embedText('x'), /disposed/);
  });
});
