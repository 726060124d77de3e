// The package API against the reference embeddings, for every input kind, both model layouts
// and both WebAssembly builds.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { DEFAULT_MODEL, IMAGE_LIMITS, load, weightFileNames } from '../../js/src/index.mjs';
import { REFERENCE, cosine, imagePath, memoryFiles, modelDir, readImage, recordFigure, serveFixtures } from './helpers.mjs';

const MIN_COSINE = 0.99999;

function assertClose(actual, expected, what) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  const c = cosine(actual, expected);
  assert.ok(c >= MIN_COSINE, `${what}: cosine ${c} < ${MIN_COSINE}`);
  return c;
}

function photoPixels(channels) {
  const rgba = readFileSync(imagePath('photo.rgba'));
  if (channels === 4) return new Uint8Array(rgba);
  const rgb = new Uint8Array((rgba.length / 4) * 3);
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) rgb.set(rgba.subarray(i, i + 3), j);
  return rgb;
}

for (const name of ['tiny-hf', 'tiny-openclip']) {
  for (const threads of [1, 2]) {
    describe(`${name}, ${threads} thread(s)`, () => {
      const ref = REFERENCE.models[name];
      let clip;
      let worst = 1;
      const close = (actual, expected, what) => {
        worst = Math.min(worst, assertClose(actual, expected, what));
      };

      before(async () => {
        clip = await load(modelDir(name), { threads });
      });
      after(async () => {
        recordFigure('js-api', `${name}-t${threads}-min-cosine`, worst.toFixed(8));
        await clip.dispose();
      });

      test('the module leaves Node globals alone', () => {
        assert.equal(typeof globalThis.Worker, 'undefined');
        assert.equal(typeof globalThis.require, 'undefined');
      });

      test('info describes the model and the build', () => {
        assert.equal(clip.info.build, threads === 1 ? 'clip-wasm-simd' : 'clip-wasm-threads');
        assert.equal(clip.info.threads, threads);
        assert.equal(clip.info.imageSize, ref.imageSize);
        assert.equal(clip.info.embedDim, ref.texts[REFERENCE.texts[0]].length);
        assert.ok(Math.abs(clip.info.logitScale - ref.logitScale) < 1e-3);
        assert.equal(clip.info.dtype, 'f32');
      });

      test('encoded images in every format equal the reference', async () => {
        for (const image of REFERENCE.images) {
          close(await clip.embedImage(readImage(image)), ref.images[image], image);
        }
      });

      test('Buffer, Uint8Array, ArrayBuffer and Blob give the same embedding', async () => {
        const buffer = readImage('photo.png');
        const bytes = new Uint8Array(buffer);
        const inputs = [buffer, bytes, bytes.slice().buffer, new Blob([bytes])];
        for (const input of inputs) close(await clip.embedImage(input), ref.images['photo.png'], input.constructor.name);
      });

      test('raw pixels (RGBA, RGB, ImageData-like) equal the encoded image', async () => {
        const expected = ref.images['photo.png'];
        close(await clip.embedImage({ data: photoPixels(4), width: 80, height: 53, channels: 4 }), expected, 'rgba');
        close(await clip.embedImage({ data: photoPixels(3), width: 80, height: 53, channels: 3 }), expected, 'rgb');
        const imageData = { data: new Uint8ClampedArray(photoPixels(4)), width: 80, height: 53 };
        close(await clip.embedImage(imageData), expected, 'ImageData-like');
      });

      test('a preprocessed Float32Array equals the reference', async () => {
        const raw = readFileSync(imagePath(`photo-${ref.imageSize}.f32`));
        const pixels = new Float32Array(raw.buffer, raw.byteOffset, raw.length / 4);
        close(await clip.embedImage(pixels), ref.images['photo.png'], 'preprocessed');
      });

      test('an array of images is a batch, equal to one-by-one', async () => {
        const batch = await clip.embedImage([readImage('photo.png'), readImage('gray.png')]);
        assert.equal(batch.length, 2);
        close(batch[0], ref.images['photo.png'], 'batch 0');
        close(batch[1], ref.images['gray.png'], 'batch 1');
      });

      test('texts equal the reference, token ids exactly', async () => {
        for (const text of REFERENCE.texts) {
          assert.deepEqual(Array.from(await clip.tokenize(text)), ref.tokens[text], `tokens of ${text}`);
          close(await clip.embedText(text), ref.texts[text], text);
        }
        const all = await clip.embedText(REFERENCE.texts);
        all.forEach((e, i) => close(e, ref.texts[REFERENCE.texts[i]], `text batch ${i}`));
      });

      test('text is NFC-normalized before tokenizing', async () => {
        const nfc = 'café crème brûlée';
        const nfd = nfc.normalize('NFD');
        assert.notEqual(nfd, nfc);
        assert.deepEqual(Array.from(await clip.tokenize(nfd)), ref.tokens[nfc]);
        close(await clip.embedText(nfd), ref.texts[nfc], 'NFD text');
      });

      test('classify ranks labels with the reference probabilities', async () => {
        const { labels, templates, probs, image } = ref.zeroShot;
        const ranked = await clip.classify(readImage(image), labels, { templates });
        assert.deepEqual(ranked.map((r) => r.label).sort(), [...labels].sort());
        for (let i = 1; i < ranked.length; i++) assert.ok(ranked[i - 1].score >= ranked[i].score, 'sorted');
        for (const { label, score } of ranked) {
          const expected = probs[labels.indexOf(label)];
          assert.ok(Math.abs(score - expected) < 1e-5, `${label}: ${score} vs ${expected}`);
        }
        const many = await clip.classify([readImage(image), readImage(image)], labels, { templates });
        assert.deepEqual(many[0], ranked);
        assert.deepEqual(many[1], ranked);
      });

      test('classify with the default and the ensemble templates', async () => {
        const plain = await clip.classify(readImage('photo.png'), ['cat', 'dog']);
        const ensemble = await clip.classify(readImage('photo.png'), ['cat', 'dog'], { templates: 'ensemble' });
        for (const ranked of [plain, ensemble]) {
          assert.equal(ranked.length, 2);
          assert.ok(Math.abs(ranked[0].score + ranked[1].score - 1) < 1e-5);
        }
        assert.notEqual(plain[0].score, ensemble[0].score);
      });

      test('similarity of text, image and embeddings', async () => {
        const text = REFERENCE.texts[0];
        const expected = cosine(ref.texts[text], ref.images['photo.png']);
        const viaInputs = await clip.similarity(text, readImage('photo.png'));
        const viaEmbeddings = await clip.similarity(await clip.embedText(text), await clip.embedImage(readImage('photo.png')));
        assert.ok(Math.abs(viaInputs - expected) < 1e-5, `${viaInputs} vs ${expected}`);
        assert.ok(Math.abs(viaEmbeddings - viaInputs) < 1e-6);
        assert.ok(Math.abs((await clip.similarity(text, text)) - 1) < 1e-5);
      });
    });
  }
}

describe('sources', () => {
  const ref = REFERENCE.models['tiny-hf'];
  let server;
  before(async () => {
    server = await serveFixtures();
  });
  after(() => server.close());

  test('in-memory files, as Uint8Array and as Blob', async () => {
    const files = memoryFiles('tiny-hf');
    for (const source of [files, { ...files, 'model.safetensors': new Blob([files['model.safetensors']]) }]) {
      const clip = await load(source, { threads: 1 });
      assertClose(await clip.embedImage(readImage('photo.png')), ref.images['photo.png'], 'memory');
      assertClose(await clip.embedText('a photo of a cat'), ref.texts['a photo of a cat'], 'memory text');
      await clip.dispose();
    }
  });

  // A local file is read on Node's I/O threads, several reads at once: once the load resolves,
  // every one of them is done and the file is closed (Linux lists a process's open files).
  test('a local model directory leaves no file open', async () => {
    const openFiles = () => readdirSync('/proc/self/fd').map((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`);
      } catch {
        return ''; // closed while listed (the listing's own descriptor)
      }
    });
    const weights = join(modelDir('tiny-openclip'), 'open_clip_model.safetensors');
    for (const threads of [1, 2]) {
      const clip = await load(modelDir('tiny-openclip'), { threads });
      assert.ok(!openFiles().includes(weights), `${threads} thread(s): the weights file is still open`);
      await clip.dispose();
    }
  });

  test('a base URL in hub layout streams with progress events', async () => {
    const events = [];
    const clip = await load(`${server.url}/tiny-hf/`, { threads: 2, onProgress: (e) => events.push(e) });
    assertClose(await clip.embedImage(readImage('photo.png')), ref.images['photo.png'], 'url');
    await clip.dispose();

    const weights = events.filter((e) => e.file === 'model.safetensors');
    assert.deepEqual(
      [...new Set(weights.map((e) => e.status))],
      ['initiate', 'download', 'progress', 'done'],
    );
    const size = readFileSync(`${modelDir('tiny-hf')}/model.safetensors`).length;
    const progress = weights.filter((e) => e.status === 'progress');
    for (let i = 1; i < progress.length; i++) assert.ok(progress[i].loaded > progress[i - 1].loaded);
    assert.equal(progress.at(-1).loaded, size);
    assert.ok(progress.every((e) => e.total === size));
    assert.equal(events.at(-1).status, 'ready');
    for (const file of ['config.json', 'preprocessor_config.json', 'vocab.json', 'merges.txt']) {
      assert.ok(events.some((e) => e.file === file && e.status === 'done'), `${file} done`);
    }
  });

  test('an open_clip repository by URL (open_clip names, gzipped OpenAI merges)', async () => {
    const openClip = REFERENCE.models['tiny-openclip'];
    const clip = await load(`${server.url}/tiny-openclip`, { threads: 1 });
    assertClose(await clip.embedImage(readImage('photo.png')), openClip.images['photo.png'], 'open_clip url');
    assertClose(await clip.embedText('a photo of a cat'), openClip.texts['a photo of a cat'], 'open_clip text');
    await clip.dispose();
  });

  test('q8 weights stay close to the f32 reference', async () => {
    const clip = await load(modelDir('tiny-hf'), { threads: 1, dtype: 'q8' });
    assert.equal(clip.info.dtype, 'q8');
    const image = cosine(await clip.embedImage(readImage('photo.png')), ref.images['photo.png']);
    const text = cosine(await clip.embedText('a photo of a cat'), ref.texts['a photo of a cat']);
    recordFigure('js-api', 'q8-image-cosine', image.toFixed(6));
    recordFigure('js-api', 'q8-text-cosine', text.toFixed(6));
    assert.ok(image > 0.99 && text > 0.99, `q8 cosines ${image}, ${text}`);
    await clip.dispose();
  });

  test("the converter's f16 and pre-quantized q8 files load by dtype", async () => {
    const f16 = await load(modelDir('tiny-hf-converted'), { threads: 1, dtype: 'f16' });
    assert.equal(f16.info.dtype, 'f16');
    const f16Image = cosine(await f16.embedImage(readImage('photo.png')), ref.images['photo.png']);
    const f16Text = cosine(await f16.embedText('a photo of a cat'), ref.texts['a photo of a cat']);
    recordFigure('js-api', 'f16-file-image-cosine', f16Image.toFixed(7));
    recordFigure('js-api', 'f16-file-text-cosine', f16Text.toFixed(7));
    assert.ok(f16Image >= 0.9999 && f16Text >= 0.9999, `f16 cosines ${f16Image}, ${f16Text}`);
    await f16.dispose();

    // The int8 file gives the very model that quantizing the f32 file at load gives.
    const fromFile = await load(modelDir('tiny-hf-converted'), { threads: 1, dtype: 'q8' });
    const atLoad = await load(modelDir('tiny-hf'), { threads: 1, dtype: 'q8' });
    assert.ok(fromFile.info.weightBytes < atLoad.info.weightBytes * 1.01);
    const a = await fromFile.embedImage(readImage('photo.png'));
    const b = await atLoad.embedImage(readImage('photo.png'));
    assert.ok(a.every((v, i) => Math.abs(v - b[i]) <= 1e-5), 'q8 file equals q8 at load');
    await fromFile.dispose();
    await atLoad.dispose();
  });

  test('the default source is a hub URL with safetensors', () => {
    assert.match(DEFAULT_MODEL, /^https:\/\/huggingface\.co\/openai\/clip-vit-base-patch32\/resolve\/.+\/$/);
  });

  test('weightFileNames lists what a load looks for; IMAGE_LIMITS is what it accepts', async () => {
    assert.deepEqual(weightFileNames('q8'),
      ['model.q8.safetensors', 'open_clip_model.q8.safetensors', 'model.safetensors', 'open_clip_model.safetensors']);
    assert.deepEqual(weightFileNames(), ['model.safetensors', 'open_clip_model.safetensors']);
    assert.throws(() => weightFileNames('f64'), /dtype must be one of f32, f16, q8, got 'f64'/);
    // The converted fixture has only the .q8 and .fp16 weights files: a q8 load
    // takes the first name the list gives that is there.
    const names = [];
    await (await load(modelDir('tiny-hf-converted'), { dtype: 'q8', threads: 1, onProgress: (e) => e.status === 'done' && names.push(e.file) })).dispose();
    assert.ok(names.includes(weightFileNames('q8')[0]), names.join(', '));
    const { maxSide, maxPixels } = IMAGE_LIMITS;
    const clip = await load(modelDir('tiny-hf'), { threads: 1 });
    const wide = { data: new Uint8Array((maxSide + 1) * 3), width: maxSide + 1, height: 1, channels: 3 };
    await assert.rejects(clip.embedImage(wide), new RegExp(`maximum side of ${maxSide}`));
    const side = Math.sqrt(maxPixels) + 1; // within the side limit, over the pixel count
    await assert.rejects(clip.embedImage({ data: new Uint8Array(3), width: side, height: side, channels: 3 }),
      new RegExp(`more than the limit of ${maxPixels}`));
    await clip.dispose();
  });
});

// The converter writes the image tower first, so with waitFor: 'image' a page can embed images
// while the text tower is still arriving; text calls wait for it. This server sends the weights up
// to the end of the image tower, then the rest once release() is called.
async function progressiveServer() {
  const dir = modelDir('tiny-hf-converted');
  const weights = readFileSync(`${dir}/model.q8.safetensors`);
  const headerLength = Number(weights.readBigUInt64LE(0));
  const header = JSON.parse(weights.subarray(8, 8 + headerLength).toString());
  const imageTower = (name) => name.startsWith('vision_model.') || name === 'visual_projection.weight';
  const imageEnd = Math.max(
    ...Object.entries(header)
      .filter(([name]) => imageTower(name.replace(/\.scales$/, '')))
      .map(([, info]) => info.data_offsets[1]),
  );
  let release;
  const released = new Promise((resolve) => {
    release = resolve;
  });
  const routes = {};
  for (const name of ['config.json', 'preprocessor_config.json', 'vocab.json', 'merges.txt']) {
    routes[`/progressive/${name}`] = (req, res) => res.end(readFileSync(`${dir}/${name}`));
  }
  routes['/progressive/model.q8.safetensors'] = async (req, res) => {
    res.writeHead(200, { 'Content-Length': weights.length });
    res.write(weights.subarray(0, 8 + headerLength + imageEnd));
    await released;
    res.end(weights.subarray(8 + headerLength + imageEnd));
  };
  const server = await serveFixtures(routes);
  return {
    release,
    load: (options) => load(`${server.url}/progressive/`, { threads: 1, dtype: 'q8', waitFor: 'image', cache: false, ...options }),
    close: () => {
      release();
      return server.close();
    },
  };
}

test("waitFor: 'image' answers image calls while the text tower streams", async () => {
  const server = await progressiveServer();
  try {
    const ref = REFERENCE.models['tiny-hf'];
    const events = [];
    const clip = await server.load({ onProgress: (e) => events.push(e) });
    const image = await clip.embedImage(readImage('photo.png'));
    assert.ok(cosine(image, ref.images['photo.png']) >= 0.999, 'image tower answers before the text tower is in');
    let textDone = false;
    const text = clip.embedText('a photo of a cat').then((embedding) => {
      textDone = true;
      return embedding;
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(textDone, false, 'text waits for its tower');
    assert.ok(!events.some((e) => e.status === 'ready'), "no 'ready' before the text tower is in");
    server.release();
    await clip.ready;
    assert.equal(events.at(-1).status, 'ready');
    assert.ok(cosine(await text, ref.texts['a photo of a cat']) >= 0.999);
    assert.ok(clip.info.weightBytes > 0);
    await clip.dispose();
  } finally {
    await server.close();
  }
});

test("waitFor: 'image': calls made before dispose() finish once the text tower is in, later ones reject", async () => {
  const server = await progressiveServer();
  try {
    const ref = REFERENCE.models['tiny-hf'];
    const clip = await server.load();
    const image = readImage('photo.png');
    const before = [
      clip.embedText('a photo of a cat'),
      clip.classify(image, ['cat', 'dog']),
      clip.similarity('a photo of a cat', image),
      clip.embedImage(image),
    ];
    const disposed = clip.dispose();
    const after = [clip.embedText('a photo of a cat'), clip.similarity('a cat', image), clip.embedImage(image)]
      .map((call) => assert.rejects(call, /: this Clip was disposed$/));
    server.release();
    const settled = await Promise.allSettled(before);
    assert.deepEqual(settled.map((s) => s.status), ['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled'],
      settled.map((s) => s.reason?.message).join('; '));
    const [text, ranked, similarity] = settled.map((s) => s.value);
    assert.ok(cosine(text, ref.texts['a photo of a cat']) >= 0.999);
    assert.equal(ranked.length, 2);
    assert.ok(Math.abs(similarity - cosine(text, settled[3].value)) < 1e-5);
    await Promise.all(after);
    await disposed;
    assert.deepEqual(clip.memory(), { heapBytes: 0, usedBytes: 0 });
  } finally {
    await server.close();
  }
});

test("waitFor: 'image': similarity of images and embeddings does not wait for the text tower", async () => {
  const server = await progressiveServer();
  let timer;
  try {
    const clip = await server.load();
    const image = readImage('photo.png');
    const embedding = await clip.embedImage(image);
    const waited = new Promise((resolve) => {
      timer = setTimeout(() => resolve('waited for the text tower'), 3000);
    });
    for (const [a, b] of [[image, image], [embedding, image], [embedding, embedding]]) {
      const result = await Promise.race([clip.similarity(a, b), waited]);
      assert.equal(typeof result, 'number', result);
      assert.ok(Math.abs(result - 1) < 1e-5, `${result}`);
    }
    server.release();
    await clip.dispose();
  } finally {
    clearTimeout(timer);
    await server.close();
  }
});

// The progress events of a load end with one 'ready', once the model can answer every call: after
// the tokenizer's file too, even when it arrives after the weights.
test("'ready' comes last, after the tokenizer's files", async () => {
  const bpe = readFileSync(`${modelDir('tiny-openclip')}/bpe_simple_vocab_16e6.txt.gz`);
  const server = await serveFixtures({
    '/tiny-openclip/bpe_simple_vocab_16e6.txt.gz': (req, res) => setTimeout(() => res.end(bpe), 500),
  });
  try {
    const events = [];
    const clip = await load(`${server.url}/tiny-openclip/`, { threads: 1, cache: false, onProgress: (e) => events.push(e) });
    const ready = events.filter((e) => e.status === 'ready');
    assert.equal(ready.length, 1);
    assert.equal(events.at(-1).status, 'ready');
    assert.deepEqual(Object.keys(ready[0]).sort(), ['model', 'name', 'status']);
    for (const file of ['open_clip_config.json', 'open_clip_model.safetensors', 'bpe_simple_vocab_16e6.txt.gz']) {
      assert.ok(events.some((e) => e.file === file && e.status === 'done'), `${file} done`);
    }
    const want = REFERENCE.models['tiny-openclip'].texts['a photo of a cat'];
    assert.ok(cosine(await clip.embedText('a photo of a cat'), want) >= 0.99999);
    await clip.dispose();
  } finally {
    await server.close();
  }
});

test('similarity normalizes embeddings it is given', async () => {
  const clip = await load(modelDir('tiny-hf'), { threads: 1 });
  try {
    const text = await clip.embedText('a photo of a cat');
    const image = await clip.embedImage(readImage('photo.png'));
    const scaled = new Float32Array(16).fill(10);
    const similarity = await clip.similarity(scaled, text);
    assert.ok(Math.abs(similarity - cosine(scaled, text)) < 1e-6, `${similarity} vs ${cosine(scaled, text)}`);
    const half = image.map((v) => v / 2);
    assert.ok(Math.abs((await clip.similarity(half, 'a photo of a cat')) - (await clip.similarity(image, text))) < 1e-6);
    assert.ok(Math.abs((await clip.similarity(half, half)) - 1) < 1e-6);
  } finally {
    await clip.dispose();
  }
});
