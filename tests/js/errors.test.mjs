// Bad input gives a rejected promise with an Error that names the problem, and the model (and
// the module under it) stays usable afterwards.

import assert from 'node:assert/strict';
import { copyFileSync, cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';

import { createWorkerClip, load } from '../../js/src/index.mjs';
import { REFERENCE, ROOT, cosine, memoryFiles, modelDir, readImage, serveFixtures } from './helpers.mjs';

const PACKAGE = join(ROOT, 'js');

const ref = REFERENCE.models['tiny-hf'];

async function rejects(promise, pattern, what) {
  await assert.rejects(promise, (error) => {
    assert.ok(error instanceof Error, `${what}: rejected with ${error}, not an Error`);
    assert.match(error.message, pattern, what);
    return true;
  });
}

for (const threads of [1, 2]) {
  describe(`bad input, ${threads} thread(s)`, () => {
    let clip;
    before(async () => {
      clip = await load(modelDir('tiny-hf'), { threads });
    });
    after(() => clip.dispose());

    // After each failure the same model must still give the reference embedding.
    async function stillWorks() {
      const image = await clip.embedImage(readImage('photo.png'));
      assert.ok(cosine(image, ref.images['photo.png']) >= 0.99999, 'image embedding after an error');
      const text = await clip.embedText('a photo of a cat');
      assert.ok(cosine(text, ref.texts['a photo of a cat']) >= 0.99999, 'text embedding after an error');
    }

    test('undecodable, truncated and empty images', async () => {
      await rejects(clip.embedImage(readImage('notes.txt')), /embedImage: .*(not a JPEG|unrecognized|unknown)/i, 'text file');
      await stillWorks();
      await rejects(clip.embedImage(readImage('broken.png')), /embedImage: .*\S/, 'truncated png');
      await stillWorks();
      await rejects(clip.embedImage(new Uint8Array(0)), /empty/, 'empty bytes');
      await rejects(clip.embedImage(new Blob([])), /empty/, 'empty blob');
      await stillWorks();
    });

    test('inputs of the wrong type or shape', async () => {
      await rejects(clip.embedImage(42), /embedImage: unsupported image input \(number\)/, 'number');
      await rejects(clip.embedImage('photo.png'), /unsupported image input \(string\)/, 'string');
      await rejects(clip.embedImage(null), /unsupported image input \(null\)/, 'null');
      await rejects(clip.embedImage({ data: new Uint8Array(10), width: 2, height: 2 }), /10 bytes do not fit 2x2/, 'pixel count');
      await rejects(clip.embedImage({ data: [1, 2, 3], width: 1, height: 1 }), /Uint8Array/, 'plain array pixels');
      await rejects(clip.embedImage({ data: new Uint8Array(4), width: 0, height: 4 }), /positive integers/, 'zero width');
      await rejects(clip.embedImage(new Float32Array(7)), /3x32x32 = 3072 floats, got 7/, 'preprocessed size');
      const nanPixels = new Float32Array(3 * 32 * 32).fill(0.5);
      nanPixels[9] = NaN;
      await rejects(clip.embedImage(nanPixels), /embedImage: .*non-finite value \(nan\) at index 9/, 'NaN pixel');
      await rejects(clip.embedImage([]), /empty/, 'empty batch');
      await rejects(clip.embedImage([readImage('photo.png'), 5]), /image 1: unsupported/, 'bad batch item');
      await rejects(clip.embedText(42), /embedText: expected a string, got number/, 'text number');
      await rejects(clip.embedText([]), /empty/, 'empty text batch');
      await rejects(clip.tokenize(null), /tokenize: expected a string, got null/, 'tokenize null');
      await rejects(clip.similarity([1], 'x'), /expected one input/, 'similarity array');
      await stillWorks();
    });

    test('embeddings that cannot be compared, and an empty batch to tokenize', async () => {
      const text = await clip.embedText('a photo of a cat');
      await rejects(clip.similarity('a cat', new Float32Array(24)),
        /^similarity: second input: a Float32Array must be an embedding of embedDim = 16 floats \(or a preprocessed image of 3x32x32 = 3072\), got 24$/, 'length');
      const nan = new Float32Array(16).fill(1);
      nan[3] = NaN;
      await rejects(clip.similarity(nan, text), /^similarity: first input: the embedding has a non-finite value \(NaN\) at index 3$/, 'NaN');
      const infinite = new Float32Array(16).fill(1);
      infinite[15] = -Infinity;
      await rejects(clip.similarity(text, infinite), /^similarity: second input: the embedding has a non-finite value \(-Infinity\) at index 15$/, 'infinity');
      await rejects(clip.similarity(new Float32Array(16), text), /^similarity: first input: the embedding is all zeros/, 'zeros');
      await rejects(clip.tokenize([]), /^tokenize: the text array is empty$/, 'empty tokenize batch');
      await stillWorks();
    });

    test('classify with bad labels or templates', async () => {
      const image = readImage('photo.png');
      await rejects(clip.classify(image, []), /labels must be a non-empty array/, 'empty labels');
      await rejects(clip.classify(image, 'cat,dog'), /labels must be a non-empty array/, 'labels string');
      await rejects(clip.classify(image, ['cat', '']), /label 1 must be a non-empty string/, 'empty label');
      await rejects(clip.classify(image, ['cat'], { templates: ['no placeholder'] }), /no \{\} for the label/, 'template');
      await rejects(clip.classify(image, ['cat'], { templates: [] }), /templates must be/, 'no templates');
      await rejects(clip.classify(readImage('notes.txt'), ['cat', 'dog']), /classify: /, 'bad image');
      await stillWorks();
    });
  });
}

describe('bad models', () => {
  let server;
  before(async () => {
    const body = readFileSync(`${modelDir('tiny-hf')}/model.safetensors`);
    server = await serveFixtures({
      // Announces the whole file, sends half, then drops the connection.
      '/cut/model.safetensors': (req, res) => {
        res.writeHead(200, { 'Content-Length': body.length });
        res.write(body.subarray(0, body.length >> 1), () => res.destroy());
      },
      '/cut/config.json': (req, res) => res.end(readFileSync(`${modelDir('tiny-hf')}/config.json`)),
      '/broken/config.json': (req, res) => res.writeHead(500).end('server error'),
    });
  });
  after(() => server.close());

  test('a model cut short mid-stream (in memory)', async () => {
    const files = memoryFiles('tiny-hf');
    const bytes = files['model.safetensors'];
    for (const cut of [4, 100, bytes.length >> 1, bytes.length - 1]) {
      files['model.safetensors'] = bytes.subarray(0, cut);
      await rejects(load(files, { threads: 1 }), /model\.safetensors: .*(ended|short|truncated|before|end of the file)/i, `cut at ${cut}`);
    }
  });

  test('a local model file cut short or with bytes after the last tensor', async () => {
    // Local files are read straight into wasm memory (the loader's windows): the stream's end
    // is still checked against the header.
    const dir = mkdtempSync(join(tmpdir(), 'clip-wasm-cut-'));
    try {
      const source = modelDir('tiny-hf');
      for (const name of ['config.json', 'vocab.json', 'merges.txt']) copyFileSync(`${source}/${name}`, `${dir}/${name}`);
      const bytes = readFileSync(`${source}/model.safetensors`);
      for (const cut of [4, 100, bytes.length >> 1, bytes.length - 1]) {
        writeFileSync(`${dir}/model.safetensors`, bytes.subarray(0, cut));
        await rejects(load(dir, { threads: 1 }), /model\.safetensors: .*(ended|short|truncated|before|end of the file)/i, `cut at ${cut}`);
      }
      writeFileSync(`${dir}/model.safetensors`, Buffer.concat([bytes, Buffer.from('junk')]));
      await rejects(load(dir, { threads: 1 }), /model\.safetensors: .*trailing data/, 'trailing bytes');
      writeFileSync(`${dir}/model.safetensors`, bytes);
      // The runtime is still usable, and the intact file loads as the original does.
      const [copy, original] = await Promise.all([load(dir, { threads: 1 }), load(source, { threads: 1 })]);
      assert.ok(cosine(await copy.embedText('a photo of a cat'), await original.embedText('a photo of a cat')) > 0.99999);
      copy.dispose();
      original.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a model cut short mid-stream (HTTP)', async () => {
    await rejects(load(`${server.url}/cut/`, { threads: 1 }), /\S/, 'dropped connection');
  });

  test('a missing tensor is named', async () => {
    await rejects(load(modelDir('tiny-missing'), { threads: 1 }), /text_projection\.weight/, 'missing tensor');
  });

  test('no weights, garbage weights, HTTP errors', async () => {
    await rejects(load(modelDir('no-such-model'), { threads: 1 }), /^model folder .*no-such-model does not exist$/, 'no folder');
    await rejects(load(join(modelDir('tiny-hf'), 'model.safetensors'), { threads: 1 }), /model\.safetensors is a file, not a model folder/, 'a file');
    const empty = mkdtempSync(join(tmpdir(), 'clip-wasm-empty-'));
    await rejects(load(empty, { threads: 1 }), /no model\.safetensors or open_clip_model\.safetensors in /, 'empty folder');
    rmSync(empty, { recursive: true });
    const garbage = { 'model.safetensors': new Uint8Array(64).fill(7) };
    await rejects(load(garbage, { threads: 1 }), /model\.safetensors: .*header/i, 'garbage');
    await rejects(load(`${server.url}/broken/`, { threads: 1 }), /HTTP 500/, 'server error');
    await rejects(load(`${server.url}/nothing-here/`, { threads: 1 }), /no model\.safetensors/, '404s');
  });

  test('a model without tokenizer files embeds images and names what text needs', async () => {
    const files = memoryFiles('tiny-hf');
    delete files['vocab.json'];
    delete files['merges.txt'];
    const clip = await load(files, { threads: 1 });
    assert.ok(cosine(await clip.embedImage(readImage('photo.png')), ref.images['photo.png']) >= 0.99999);
    await rejects(clip.embedText('a cat'), /embedText: .*vocab\.json \+ merges\.txt/, 'no tokenizer');
    await rejects(clip.classify(readImage('photo.png'), ['cat']), /classify: .*tokenizer files/, 'classify without tokenizer');
    await clip.dispose();
  });

  test('an OpenAI BPE file that is not gzip, or cut short, rejects naming the file; the whole one then loads', async () => {
    const files = memoryFiles('tiny-openclip');
    const bpe = files['bpe_simple_vocab_16e6.txt.gz'];
    const broken = {
      'not gzip': new TextEncoder().encode('#version: 0.2\na b\n'),
      'cut short in its compressed data': bpe.subarray(0, 100_000),
    };
    for (const [what, bytes] of Object.entries(broken)) {
      await rejects(load({ ...files, 'bpe_simple_vocab_16e6.txt.gz': bytes }, { threads: 1 }), /bpe_simple_vocab_16e6\.txt\.gz: not a whole gzip file/, what);
    }
    const clip = await load(files, { threads: 1 });
    const want = REFERENCE.models['tiny-openclip'].texts['a photo of a cat'];
    assert.ok(cosine(await clip.embedText('a photo of a cat'), want) >= 0.99999);
    await clip.dispose();
  });

  test('a load whose tokenizer fails sends no ready event', async () => {
    const files = memoryFiles('tiny-openclip');
    files['bpe_simple_vocab_16e6.txt.gz'] = files['bpe_simple_vocab_16e6.txt.gz'].subarray(0, 100_000);
    const events = [];
    await rejects(load(files, { threads: 1, onProgress: (e) => events.push(e) }), /bpe_simple_vocab_16e6\.txt\.gz: not a whole gzip file/, 'cut BPE file');
    assert.ok(events.some((e) => e.file === 'open_clip_model.safetensors' && e.status === 'done'), 'the weights were read');
    assert.deepEqual(events.filter((e) => e.status === 'ready'), []);
  });

  test('normalization values no image could use are refused at load, naming the file and field', async () => {
    const files = memoryFiles('tiny-hf');
    const cases = [
      ['{"image_std": [0, 0, 0]}', 'model.safetensors: preprocessor_config.json.image_std must be 3 positive finite numbers, got [0, 0, 0]'],
      ['{"image_std": [0.25, -0.3, 0.28]}', 'model.safetensors: preprocessor_config.json.image_std must be 3 positive finite numbers, got [0.25, -0.3, 0.28]'],
      ['{"image_mean": [0.5, 1e39, 0.4]}', 'model.safetensors: preprocessor_config.json.image_mean must be 3 finite numbers, got [0.5, inf, 0.4]'],
      // 1e39 is past a float: infinity. A number past a double is not JSON the parser accepts.
      ['{"image_std": [1e999, 0.3, 0.28]}', 'model.safetensors: preprocessor_config.json: not a JSON object'],
    ];
    for (const [text, message] of cases) {
      await assert.rejects(load({ ...files, 'preprocessor_config.json': text }, { threads: 1 }), { message }, text);
    }
    // The wrong number of values is named by the module, as before.
    await rejects(load({ ...files, 'preprocessor_config.json': '{"image_std": [0.25, 0.3]}' }, { threads: 1 }),
      /preprocessor_config\.json\.image_std must be 3 numbers/, 'two values');
    const openClip = memoryFiles('tiny-openclip');
    const config = JSON.parse(new TextDecoder().decode(openClip['open_clip_config.json']));
    config.preprocess_cfg.std = [0, 1, 1];
    await rejects(load({ ...openClip, 'open_clip_config.json': JSON.stringify(config) }, { threads: 1 }),
      /^open_clip_model\.safetensors: open_clip_config\.json: preprocess_cfg\.std must be 3 positive finite numbers, got \[0, 1, 1\]$/, 'open_clip std');
  });

  test('sources that hold nothing to load say what was given', async () => {
    await rejects(load({}, { threads: 1 }), /^no model\.safetensors or open_clip_model\.safetensors among the files given: the object has none$/, 'empty object');
    await rejects(load({ 'config.json': '{}', 'vocab.json': null }, { threads: 1 }),
      /^no model\.safetensors among the files given \(config\.json\)$/, 'no weights among the files');
    for (const source of ['', '  ']) {
      await rejects(load(source, { threads: 1 }), /^load: the model source is an empty string; pass a URL, a directory path \(Node\) or an object of files$/, `'${source}'`);
    }
  });

  test('null options are no options; unknown option names are refused', async () => {
    const clip = await load(modelDir('tiny-hf'), null);
    const image = readImage('photo.png');
    assert.deepEqual(await clip.classify(image, ['cat', 'dog'], null), await clip.classify(image, ['cat', 'dog']));
    assert.deepEqual(await clip.classify(image, ['cat', 'dog'], undefined), await clip.classify(image, ['cat', 'dog']));
    await rejects(clip.classify(image, ['cat', 'dog'], { topK: 1 }), /^classify: unknown option 'topK' \(the options are templates\)$/, 'topK');
    await rejects(clip.classify(image, ['cat'], { template: ['a photo of a {}.'] }), /^classify: unknown option 'template' \(the options are templates\)$/, 'template');
    await rejects(clip.classify(image, ['cat'], 'ensemble'), /^classify: options must be an object, got string$/, 'string options');
    await clip.dispose();
    await rejects(load(modelDir('tiny-hf'), { thread: 1 }),
      /^load: unknown option 'thread' \(the options are dtype, threads, relaxedSimd, onProgress, cache, signal, waitFor\)$/, 'load thread');
    await rejects(load(modelDir('tiny-hf'), 'f16'), /^load: options must be an object, got string$/, 'load string options');
  });

  test('bad options', async () => {
    await rejects(load(modelDir('tiny-hf'), { dtype: 'f64' }), /dtype must be one of f32, f16, q8/, 'dtype');
    await rejects(load(modelDir('tiny-hf'), { dtype: 'f16', threads: 1 }), /no model\.fp16\.safetensors in /, 'f16 file missing');
    await rejects(load(modelDir('tiny-hf'), { threads: 0 }), /threads must be a whole number >= 1/, 'threads 0');
    await rejects(load(modelDir('tiny-hf'), { threads: 1.5 }), /threads must be/, 'threads 1.5');
    await rejects(load(modelDir('tiny-hf'), { threads: '2' }), /^threads must be a whole number >= 1, got the string '2'$/, 'threads as a string');
    await rejects(load(modelDir('tiny-hf'), { signal: {} }), /^signal must be an AbortSignal$/, 'signal not a signal');
    await rejects(createWorkerClip(modelDir('tiny-hf'), 'f16'), /^createWorkerClip: options must be an object, got string$/, 'worker string options');
    await rejects(load(42), /model source must be/, 'source number');
  });

  test('an aborted load rejects with the abort reason', async () => {
    const controller = new AbortController();
    const onProgress = (e) => {
      if (e.file === 'model.safetensors' && e.status === 'progress') controller.abort(new Error('stop here'));
    };
    const files = memoryFiles('tiny-hf');
    files['model.safetensors'] = new Blob([files['model.safetensors']]); // streamed in pieces
    await rejects(load(files, { threads: 1, signal: controller.signal, onProgress }), /stop here/, 'abort');
    const aborted = AbortSignal.abort();
    await assert.rejects(load(modelDir('tiny-hf'), { signal: aborted }), { name: 'AbortError' });
  });

  // The large tensors of a local file are read ahead of the stream, several at once: a file cut
  // short while it is read fails the load with the file's name and where it ended (no hang, no
  // half-loaded model), and the next load of the mended file works.
  test('a local file cut short while it is read', async () => {
    const source = modelDir('tiny-openclip');
    const dir = mkdtempSync(join(tmpdir(), 'clip-cut-'));
    try {
      for (const file of readdirSync(source)) copyFileSync(join(source, file), join(dir, file));
      const weights = join(dir, 'open_clip_model.safetensors');
      const whole = readFileSync(weights);
      // Once the weights are open: the header and the token embedding stay, the patch embedding
      // (from byte 6393588) is cut.
      const onProgress = (e) => {
        if (e.file === 'open_clip_model.safetensors' && e.status === 'download') truncateSync(weights, 6_500_000);
      };
      for (const threads of [1, 2]) {
        writeFileSync(weights, whole);
        await rejects(load(dir, { threads, onProgress }),
          /open_clip_model\.safetensors: reading failed after \d+ bytes: the file ends before byte \d+ \(\d+ of \d+ bytes read at \d+\)/,
          `${threads} thread(s)`);
      }
      writeFileSync(weights, whole);
      const clip = await load(dir, { threads: 2 });
      const image = await clip.embedImage(readImage('photo.png'));
      assert.ok(cosine(image, REFERENCE.models['tiny-openclip'].images['photo.png']) >= 0.99999, 'the mended file loads');
      await clip.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a disposed model rejects calls', async () => {
    const clip = await load(modelDir('tiny-hf'), { threads: 2 });
    const pending = clip.embedText('queued before dispose');
    await clip.dispose();
    assert.equal((await pending).length, 16, 'calls queued before dispose finish');
    await rejects(clip.embedText('x'), /disposed/, 'after dispose');
    await clip.dispose(); // twice is harmless
  });

  test('a worker thread that cannot start rejects the load, naming it; one-thread loads still work', async () => {
    // A copy of the package whose threaded build lost its worker script.
    const dir = mkdtempSync(join(tmpdir(), 'clip-no-worker-'));
    try {
      cpSync(PACKAGE, dir, { recursive: true, filter: (path) => !path.endsWith('.worker.js') });
      const copy = await import(pathToFileURL(join(dir, 'src/index.mjs')).href);
      await rejects(copy.load(modelDir('tiny-hf'), { threads: 2 }), /worker thread failed to start.*clip-wasm-threads\.worker\.js/, 'no worker script');
      const clip = await copy.load(modelDir('tiny-hf'), { threads: 1 });
      assert.ok(cosine(await clip.embedText('a photo of a cat'), ref.texts['a photo of a cat']) >= 0.99999, 'one thread');
      await clip.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
