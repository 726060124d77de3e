// createWorkerClip(): the same API answered from a worker_threads Worker.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';

import { createWorkerClip, load } from '../../js/src/index.mjs';
import { WorkerClip } from '../../js/src/worker-client.mjs';
import { REFERENCE, ROOT, cosine, memoryFiles, modelDir, readImage } from './helpers.mjs';

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
    // A wrong argument is a TypeError on this side too, as with an in-thread model.
    await assert.rejects(clip.embedText(42), (error) => error instanceof TypeError && /expected a string/.test(error.message));
  });

  test('ready resolves once loaded, and still after dispose, as an in-thread model does', async () => {
    const own = await createWorkerClip(modelDir('tiny-hf'), { threads: 1 });
    await own.ready;
    await own.dispose();
    await own.ready;
    const local = await load(modelDir('tiny-hf'), { threads: 1 });
    await local.dispose();
    await local.ready;
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

  test('a load aborted midway rejects with the signal\'s own reason, as load() does', async () => {
    const controller = new AbortController();
    const loading = createWorkerClip(modelDir('tiny-hf'), { threads: 2, signal: controller.signal, onProgress: () => controller.abort() });
    await assert.rejects(loading, (error) => error === controller.signal.reason && error.name === 'AbortError');
  });

  test('in-memory files and dispose', async () => {
    const clip = await createWorkerClip(memoryFiles('tiny-openclip'), { threads: 1 });
    const text = await clip.embedText('a photo of a cat');
    assert.ok(cosine(text, REFERENCE.models['tiny-openclip'].texts['a photo of a cat']) >= 0.99999);
    await clip.dispose();
    await assert.rejects(clip.embedText('x'), /disposed/);
  });
});

describe('worker-hosted calls: order, arguments, options', () => {
  // The worker holds Node's event loop only while a call is out: one whose argument could not be
  // sent must not keep it (the process would never exit).
  test('an argument the worker cannot receive rejects naming it, and Node still exits', () => {
    const script = `
      import { createWorkerClip } from ${JSON.stringify(pathToFileURL(join(ROOT, 'js/src/index.mjs')).href)};
      const clip = await createWorkerClip(${JSON.stringify(modelDir('tiny-hf'))}, { threads: 1 });
      for (const bad of [Symbol('x'), () => 'a cat']) {
        await clip.embedText(bad).then(() => console.log('resolved'), (error) => console.log(\`\${error.name}: \${error.message}\`));
      }
      console.log(Array.from(await clip.tokenize('a photo of a cat')).join(','));
    `; // no dispose()
    const dir = mkdtempSync(join(tmpdir(), 'clip-wasm-worker-'));
    let run;
    try {
      writeFileSync(join(dir, 'unsendable.mjs'), script);
      run = spawnSync(process.execPath, [join(dir, 'unsendable.mjs')], { encoding: 'utf8', timeout: 30000 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    assert.equal(run.signal, null, `the process did not exit by itself: ${run.stdout}${run.stderr}`);
    assert.equal(run.status, 0, run.stderr);
    const lines = run.stdout.trim().split('\n');
    assert.match(lines[0], /^TypeError: embedText: argument 1 \(symbol\) cannot be sent to the worker: /);
    assert.match(lines[1], /^TypeError: embedText: argument 1 \(function\) cannot be sent to the worker: /);
    assert.equal(lines[2], ref.tokens['a photo of a cat'].join(','), 'the model stays usable');
  });

  test('dispose() runs after the calls made before it', async () => {
    const clip = await createWorkerClip(modelDir('tiny-hf'), { threads: 1 });
    const image = readImage('photo.png');
    const calls = [
      clip.embedText('a photo of a cat'),
      clip.embedImage(image),
      clip.classify(image, ['cat', 'dog']),
      clip.tokenize('a photo of a cat'),
    ];
    const disposed = clip.dispose();
    const later = assert.rejects(clip.embedText('a photo of a cat'), /^Error: embedText: this Clip was disposed$/);
    const settled = await Promise.allSettled(calls);
    assert.deepEqual(settled.map((s) => s.status), ['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled'],
      settled.map((s) => s.reason?.message).join('; '));
    const [text, embedding, ranked, tokens] = settled.map((s) => s.value);
    assert.ok(cosine(text, ref.texts['a photo of a cat']) >= 0.99999);
    assert.ok(cosine(embedding, ref.images['photo.png']) >= 0.99999);
    assert.equal(ranked.length, 2);
    assert.deepEqual(Array.from(tokens), ref.tokens['a photo of a cat']);
    await disposed;
    await later;
  });

  test('memory() after dispose resolves to zeros, as Clip.memory() gives', async () => {
    const clip = await createWorkerClip(modelDir('tiny-hf'), { threads: 1 });
    assert.ok((await clip.memory()).heapBytes > 0);
    await clip.dispose();
    assert.deepEqual(await clip.memory(), { heapBytes: 0, usedBytes: 0 });
  });

  test('null options are no options; unknown option names are refused', async () => {
    const clip = await createWorkerClip(modelDir('tiny-hf'), null);
    const local = await load(modelDir('tiny-hf'), { threads: 1 });
    const image = readImage('photo.png');
    assert.deepEqual(await clip.classify(image, ['cat', 'dog'], null), await local.classify(image, ['cat', 'dog']));
    await assert.rejects(clip.classify(image, ['cat', 'dog'], { topK: 1 }), /classify: unknown option 'topK' \(the options are templates\)$/);
    await clip.dispose();
    await local.dispose();
    // Checked on the calling side: the error names the function called.
    await assert.rejects(createWorkerClip(modelDir('tiny-hf'), { thread: 1 }), /^TypeError: createWorkerClip: unknown option 'thread'/);
  });
});

// A worker as Firefox leaves one stuck in `new Worker()` under automation (worker-client.mjs):
// asked to load, it says it is creating its threads, then nothing more.
function stuckWorker() {
  const worker = new EventEmitter();
  worker.messages = [];
  worker.terminated = false;
  worker.ref = worker.unref = () => {};
  worker.postMessage = (message) => {
    worker.messages.push(message);
    if (message.method === 'load') setImmediate(() => worker.emit('message', { threads: 'creating' }));
  };
  worker.terminate = () => {
    worker.terminated = true;
    return Promise.resolve(0);
  };
  return worker;
}

describe('worker-hosted model: a worker stuck creating its threads', () => {
  test('is replaced, and the load completes in the new one', async () => {
    const stuck = stuckWorker();
    const events = [];
    const clip = new WorkerClip(stuck, () => new Worker(new URL('../../js/src/worker.mjs', import.meta.url)), 100);
    await clip._load(modelDir('tiny-hf'), { threads: 2, onProgress: (e) => events.push(e.status) });
    assert.equal(stuck.terminated, true);
    assert.deepEqual(stuck.messages.map((m) => m.method), ['load']);
    assert.equal(clip.info.threads, 2);
    assert.equal(events.at(-1), 'ready');
    assert.ok(cosine(await clip.embedText('a photo of a cat'), ref.texts['a photo of a cat']) >= 0.99999);
    await clip.dispose();
  });

  test('an abort made while it is stuck reaches the new worker, and the load rejects with it', async () => {
    const stuck = stuckWorker();
    const clip = new WorkerClip(stuck, () => new Worker(new URL('../../js/src/worker.mjs', import.meta.url)), 100);
    const controller = new AbortController();
    const loading = clip._load(modelDir('tiny-hf'), { threads: 2, signal: controller.signal });
    await new Promise((done) => setTimeout(done, 20)); // the stand-in has said 'creating'
    controller.abort();
    await assert.rejects(loading, { name: 'AbortError' });
    assert.deepEqual(stuck.messages.map((m) => m.method), ['load', 'abort']);
    await clip.dispose();
  });

  test('three times over fails the load, saying so, with every worker ended', async () => {
    const workers = [];
    const next = () => {
      workers.push(stuckWorker());
      return workers.at(-1);
    };
    const clip = new WorkerClip(next(), next, 50);
    await assert.rejects(clip._load(modelDir('tiny-hf'), { threads: 2 }), /^Error: the worker did not start its threads within 50 ms, 3 times$/);
    assert.equal(workers.length, 3);
    assert.ok(workers.every((w) => w.terminated));
    await assert.rejects(clip.embedText('a cat'), /^Error: embedText: the worker did not start its threads/);
    await clip.dispose();
  });
});
