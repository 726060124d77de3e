// Hostile input through the package. Every bad case asserts the exact error class and message;
// after each, the same model must still give its baseline embeddings bit for bit. Unusual but
// valid input (16-bit, palette, CMYK images; ill-formed or huge text) must give the right
// embedding. Then 1,000 calls mixing good and bad input must not grow the heap.
// Figures: ROBUST bad_input_cases=N, ROBUST heap_growth_bytes=N (and used_growth_bytes).

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { deflateSync } from 'node:zlib';

import { Clip, load } from '../../js/src/index.mjs';
import { FIXTURES, REFERENCE, ROOT, cosine, memoryFiles, modelDir, readImage, recordFigure } from './helpers.mjs';

const ref = REFERENCE.models['tiny-hf'];

// The fuzzers' image seeds and the pixels each must decode to (tools/make_fuzz_seeds.py), beside
// the JS fixtures; generated here when missing or stale.
const SEEDS = dirname(FIXTURES);
function ensureSeeds() {
  const script = join(ROOT, 'tools/make_fuzz_seeds.py');
  const stamp = createHash('sha256').update(readFileSync(script)).digest('hex');
  const stampFile = join(SEEDS, 'robustness/.stamp');
  if (existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) return;
  execFileSync(join(ROOT, '.venv/bin/python'), [script, SEEDS], { stdio: 'inherit' });
}
ensureSeeds();
const seed = (name) => new Uint8Array(readFileSync(join(SEEDS, 'fuzz/image', name)));

let badCases = 0; // hostile inputs checked, failing or not

// Awaits `promise` and checks it rejects with exactly this class and message.
async function rejectsWith(promise, ErrorClass, message) {
  badCases++;
  await assert.rejects(promise, (error) => {
    assert.equal(error.constructor, ErrorClass, `class of: ${error.message}`);
    assert.equal(error.message, message);
    return true;
  });
}

// ---- building model files ----

function le64(value) {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(value), true);
  return out;
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

const utf8 = (text) => new TextEncoder().encode(text);

// A safetensors file from header JSON text (taken as is) and a data section.
const rawFile = (json, data = new Uint8Array(0)) => concat(le64(utf8(json).length), utf8(json), data);

function parseFile(bytes) {
  const size = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return { header: JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + size))), data: bytes.subarray(8 + size) };
}

// The tiny checkpoint with its header changed by `edit(header)`; data kept.
function editedModel(edit) {
  const { header, data } = parseFile(memoryFiles('tiny-hf')['model.safetensors']);
  edit(header);
  return rawFile(JSON.stringify(header), data);
}

// The tiny checkpoint with its tensors laid out in the order `compare` gives.
function reorderedModel(compare) {
  const { header, data } = parseFile(memoryFiles('tiny-hf')['model.safetensors']);
  const names = Object.keys(header).filter((k) => k !== '__metadata__').sort(compare);
  const out = {};
  const pieces = [];
  let at = 0;
  for (const name of names) {
    const [begin, end] = header[name].data_offsets;
    out[name] = { ...header[name], data_offsets: [at, at + end - begin] };
    pieces.push(data.subarray(begin, end));
    at += end - begin;
  }
  return rawFile(JSON.stringify(out), concat(...pieces));
}

function withWeights(weights) {
  return { ...memoryFiles('tiny-hf'), 'model.safetensors': weights };
}

// The header of a text-only checkpoint of the given sizes (F16), and the file's full size.
function largeHeader(width, mlp, layers) {
  const specs = [
    ['text_model.embeddings.token_embedding.weight', [49408, width]],
    ['text_model.embeddings.position_embedding.weight', [77, width]],
  ];
  for (let i = 0; i < layers; i++) {
    const p = `text_model.encoder.layers.${i}.`;
    for (const norm of ['layer_norm1.', 'layer_norm2.']) specs.push([`${p}${norm}weight`, [width]], [`${p}${norm}bias`, [width]]);
    for (const proj of ['q_proj.', 'k_proj.', 'v_proj.', 'out_proj.']) {
      specs.push([`${p}self_attn.${proj}weight`, [width, width]], [`${p}self_attn.${proj}bias`, [width]]);
    }
    specs.push([`${p}mlp.fc1.weight`, [mlp, width]], [`${p}mlp.fc1.bias`, [mlp]]);
    specs.push([`${p}mlp.fc2.weight`, [width, mlp]], [`${p}mlp.fc2.bias`, [width]]);
  }
  specs.push(['text_model.final_layer_norm.weight', [width]], ['text_model.final_layer_norm.bias', [width]]);
  specs.push(['text_projection.weight', [512, width]]);
  const header = {};
  let offset = 0;
  for (const [name, shape] of specs) {
    const bytes = shape.reduce((n, d) => n * d, 2);
    header[name] = { dtype: 'F16', shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const head = rawFile(JSON.stringify(header));
  return { head, size: head.length + offset };
}

// ---- building images ----

function crc32(bytes) {
  let crc = ~0;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1));
  }
  return ~crc >>> 0;
}

function pngChunk(type, data) {
  const body = concat(utf8(type), data);
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  out.set(body, 4);
  view.setUint32(8 + data.length, crc32(body));
  return out;
}

// A PNG with the given IHDR fields and already-filtered scanline bytes.
function png(width, height, depth, colour, rows) {
  const ihdr = new Uint8Array(13);
  const view = new DataView(ihdr.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  ihdr.set([depth, colour, 0, 0, 0], 8);
  return concat(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(rows)), pngChunk('IEND', new Uint8Array(0)));
}

// ---- a local server whose routes misbehave ----

async function startServer(routes) {
  const server = createServer((req, res) => {
    const route = routes[new URL(req.url, 'http://x').pathname];
    if (route) route(req, res);
    else res.writeHead(404).end('not found');
  });
  await new Promise((done) => server.listen(0, '127.0.0.1', done));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    close() {
      server.closeAllConnections(); // stalled responses never end by themselves
      return new Promise((done) => server.close(done));
    },
  };
}

const fixtureFile = (name) => readFileSync(join(modelDir('tiny-hf'), name));

describe('robustness: one model against hostile input', () => {
  let clip;
  let server;
  let baseImage;
  let baseText;
  const goodImage = readImage('photo.png');

  // The same model, bit for bit, after every failure.
  async function stillCorrect() {
    assert.deepEqual(await clip.embedImage(goodImage), baseImage, 'image embedding changed');
    assert.deepEqual(await clip.embedText('a photo of a cat'), baseText, 'text embedding changed');
  }

  before(async () => {
    clip = await load(modelDir('tiny-hf'), { threads: 1 });
    baseImage = await clip.embedImage(goodImage);
    baseText = await clip.embedText('a photo of a cat');
    assert.ok(cosine(baseImage, ref.images['photo.png']) >= 0.99999);
    assert.ok(cosine(baseText, ref.texts['a photo of a cat']) >= 0.99999);

    const weights = fixtureFile('model.safetensors');
    const large = largeHeader(4096, 16384, 6); // 1.3 G parameters: 5.4 GB as f32
    server = await startServer({
      '/stall/config.json': (req, res) => res.end(fixtureFile('config.json')),
      '/stall/model.safetensors': (req, res) => {
        res.writeHead(200, { 'Content-Length': weights.length });
        res.write(weights.subarray(0, 5000)); // then nothing, connection open
      },
      '/cut/config.json': (req, res) => res.end(fixtureFile('config.json')),
      '/cut/model.safetensors': (req, res) => {
        // No length announced: the stream just ends early.
        res.writeHead(200, { 'Transfer-Encoding': 'chunked' });
        res.end(weights.subarray(0, weights.length - 100));
      },
      '/large/model.safetensors': (req, res) => {
        res.writeHead(200, { 'Content-Length': large.size });
        res.write(large.head); // the data would be gigabytes; the load must stop at the header
      },
    });
  });

  after(async () => {
    await clip.dispose();
    await server.close();
  });

  test('safetensors headers: size, JSON, offsets, dtype x shape, overflow, overlap, duplicates', async () => {
    const prefix = 'model.safetensors: safetensors: ';
    const entry = (name, dtype, shape, begin, end) =>
      `"${name}":{"dtype":"${dtype}","shape":${shape},"data_offsets":[${begin},${end}]}`;
    const cases = [
      [concat(le64(1), utf8('{')), 'header length 1 is too small for a JSON object'],
      [concat(le64(2 ** 40), utf8('{}')), 'header length 1099511627776 exceeds the limit of 104857600 bytes'],
      [concat(le64(1000), utf8('{}')), 'header length 1000 runs past the end of the file (10 bytes)'],
      [rawFile('[1, 2]'), "header is not a JSON object: it must start with '{'"],
      [rawFile('{"a": {"dtype": "F32",'), 'header is not valid JSON: unexpected end of input at offset 22'],
      [rawFile(`{${entry('a', 'F32', '[4]', 0, 16)}}`, new Uint8Array(8)), "tensor 'a': data_offsets [0, 16] reach beyond the end of the file (the data section has 8 bytes)"],
      [rawFile(`{${entry('a', 'F32', '[4]', 16, 0)}}`, new Uint8Array(16)), "tensor 'a': data_offsets [16, 0] end before they begin"],
      [rawFile(`{${entry('a', 'F32', '[3]', 0, 8)}}`, new Uint8Array(8)), "tensor 'a': size mismatch: shape [3] of F32 needs 12 bytes, data_offsets [0, 8] hold 8"],
      [rawFile(`{${entry('a', 'F16', '[2,3]', 0, 24)}}`, new Uint8Array(24)), "tensor 'a': size mismatch: shape [2, 3] of F16 needs 12 bytes, data_offsets [0, 24] hold 24"],
      [rawFile(`{${entry('a', 'F32', '[4611686018427387904,4]', 0, 0)}}`), "tensor 'a': shape [4611686018427387904, 4] overflows 64-bit element count"],
      [rawFile(`{${entry('a', 'U8', '[4]', 0, 4)},${entry('b', 'U8', '[4]', 2, 6)}}`, new Uint8Array(6)), "tensor 'b' at [2, 6] overlaps tensor 'a' at [0, 4]"],
      [rawFile(`{${entry('a', 'U8', '[2]', 0, 2)},${entry('b', 'U8', '[2]', 4, 6)}}`, new Uint8Array(6)), "gap of 2 bytes before tensor 'b' at [4, 6]: tensor data must be contiguous"],
      [rawFile(`{${entry('a', 'U8', '[1]', 0, 1)},${entry('a', 'U8', '[1]', 0, 1)}}`, new Uint8Array(1)), "duplicate entry 'a' in the header"],
      [rawFile(`{${entry('a', 'Q7', '[1]', 0, 1)}}`, new Uint8Array(1)), "tensor 'a' has unknown dtype 'Q7'"],
      [rawFile(`{${entry('a', 'U8', '[-1]', 0, 1)}}`, new Uint8Array(1)), "tensor 'a': shape has negative value -1"],
      [concat(rawFile(`{${entry('a', 'U8', '[1]', 0, 1)}}`, new Uint8Array(1)), utf8('junk')), 'trailing data: 4 bytes follow the last tensor, which ends at file byte 62'],
    ];
    for (const [file, message] of cases) {
      await rejectsWith(load({ 'model.safetensors': file }, { threads: 1 }), Error, prefix + message);
      await stillCorrect();
    }
  });

  test('checkpoints: missing, mistyped and misshapen tensors, bad tokenizer and config files, not CLIP', async () => {
    const w = 'model.safetensors: weights: ';
    const missing = editedModel((h) => {
      h['text_projection.unused'] = h['text_projection.weight']; // a name CLIP does not read
      delete h['text_projection.weight'];
    });
    // Needed to size the model: refused at the header.
    await rejectsWith(load(withWeights(missing), { threads: 1 }), Error, `${w}missing tensor text_projection.weight`);
    // Needed to run it: listed once the stream has ended.
    const noBias = editedModel((h) => {
      h['text_model.encoder.layers.1.mlp.fc1.unused'] = h['text_model.encoder.layers.1.mlp.fc1.bias'];
      delete h['text_model.encoder.layers.1.mlp.fc1.bias'];
    });
    await rejectsWith(load(withWeights(noBias), { threads: 1 }), Error, `${w}1 tensors missing: text_model.encoder.layers.1.mlp.fc1.bias`);
    const wrongDtype = editedModel((h) => {
      h['text_projection.weight'].dtype = 'I32'; // same size as F32
    });
    await rejectsWith(load(withWeights(wrongDtype), { threads: 1 }), Error,
      `${w}tensor text_projection.weight has dtype I32; CLIP weights must be F32, F16 or BF16 (or I8 with row scales)`);
    const swappedProjection = editedModel((h) => {
      h['text_projection.weight'].shape.reverse();
    });
    await rejectsWith(load(withWeights(swappedProjection), { threads: 1 }), Error,
      `${w}image projection gives 16 dimensions but text projection 32`);
    const wrongShape = editedModel((h) => {
      h['text_model.encoder.layers.0.mlp.fc2.weight'].shape.reverse();
    });
    await rejectsWith(load(withWeights(wrongShape), { threads: 1 }), Error,
      `${w}tensor text_model.encoder.layers.0.mlp.fc2.weight has shape [64, 32], expected [32, 64]`);
    // Tokenizer and config files.
    const files = memoryFiles('tiny-hf');
    const fileCases = [
      [{ 'vocab.json': '{' }, 'tokenizer: vocab.json: not valid JSON: unexpected end of input at offset 1'],
      [{ 'vocab.json': '[1,2]' }, 'tokenizer: vocab.json: expected an object of token -> id, got array'],
      [{ 'merges.txt': '#version: 0.2\na b c\n' }, "tokenizer: merges.txt line 2: expected a merge of two symbols, got 'a b c'"],
      [{ 'config.json': '{not json' }, 'model.safetensors: config.json: not a JSON object'],
      [{ 'config.json': JSON.stringify({ vision_config: { hidden_size: 999 } }) }, 'model.safetensors: config: hidden_size is 999 but the weights say 32'],
      [{ 'config.json': JSON.stringify({ text_config: { num_attention_heads: 5 } }) }, 'model.safetensors: config: num_attention_heads 5 does not divide hidden_size 32'],
      [{ 'preprocessor_config.json': JSON.stringify({ image_mean: ['a', 'b', 'c'] }) }, 'model.safetensors: preprocessor_config.json.image_mean must be 3 numbers'],
    ];
    for (const [changed, message] of fileCases) {
      await rejectsWith(load({ ...files, ...changed }, { threads: 1 }), Error, message);
    }
    // A zero standard deviation is refused at load, naming the file and field.
    await rejectsWith(load({ ...files, 'preprocessor_config.json': JSON.stringify({ image_std: [0, 1, 1] }) }, { threads: 1 }), Error,
      'model.safetensors: preprocessor_config.json.image_std must be 3 positive finite numbers, got [0, 1, 1]');
    const notClip = rawFile('{"encoder.weight":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', new Uint8Array(8));
    await rejectsWith(load({ 'model.safetensors': notClip }, { threads: 1 }), Error,
      `${w}not a CLIP checkpoint: found neither vision_model.embeddings.patch_embedding.weight / text_model.embeddings.token_embedding.weight (Hugging Face names) nor visual.conv1.weight / token_embedding.weight (OpenAI / open_clip names)`);
    await stillCorrect();
  });

  test('truncated and stalled streams', async () => {
    const files = memoryFiles('tiny-hf');
    const bytes = files['model.safetensors'];
    const { header, data } = parseFile(bytes);
    const headerBytes = bytes.length - data.length;
    const tensors = Object.entries(header).filter(([name]) => name !== '__metadata__');
    // Cut in half, with the size known: the first tensor (in header order) past the end is named.
    const half = bytes.length >> 1;
    files['model.safetensors'] = bytes.subarray(0, half);
    const [beyond, { data_offsets: offsets }] = tensors.find(([, t]) => t.data_offsets[1] > half - headerBytes);
    await rejectsWith(load(files, { threads: 1 }), Error,
      `model.safetensors: safetensors: tensor '${beyond}': data_offsets [${offsets[0]}, ${offsets[1]}] reach beyond the end of the file (the data section has ${half - headerBytes} bytes)`);
    await stillCorrect();
    // Without a length, the end of the stream is where the reader finds out.
    const sent = bytes.length - 100;
    const [incomplete] = tensors.find(([, t]) => t.data_offsets[0] <= sent - headerBytes && sent - headerBytes < t.data_offsets[1]);
    await rejectsWith(load(`${server.url}/cut/`, { threads: 1 }), Error,
      `model.safetensors: safetensors: truncated: expected ${bytes.length} bytes, got ${sent} (tensor '${incomplete}' is incomplete)`);
    await stillCorrect();
    // A server that stops sending: the caller's signal ends the wait.
    const started = Date.now();
    await rejectsWith(load(`${server.url}/stall/`, { threads: 1, signal: AbortSignal.timeout(300) }), DOMException,
      'The operation was aborted due to timeout');
    assert.ok(Date.now() - started < 5000, 'the timeout did not end the stalled load');
    await stillCorrect();
  });

  test('a model larger than the WebAssembly heap fails at its header, and the next load works', async () => {
    for (const [threads, limit] of [[1, 4095], [2, 2048]]) {
      const started = Date.now();
      await rejectsWith(load(`${server.url}/large/`, { threads }), Error,
        `model.safetensors: weights: the model needs at least 5390 MB as f32 weights, more than the ${limit} MB this runtime can hold`);
      assert.ok(Date.now() - started < 5000, 'the load streamed data before failing');
    }
    const next = await load(modelDir('tiny-hf'), { threads: 2 });
    assert.deepEqual(await next.embedText('a photo of a cat'), baseText);
    await next.dispose();
    await stillCorrect();
  });

  test('broken images: truncated, corrupt, empty, zero-size, decompression bombs', async () => {
    const jpeg = readImage('photo.jpg');
    const gif = readImage('photo.gif');
    const corruptJpeg = new Uint8Array(jpeg);
    const dht = corruptJpeg.findIndex((b, i) => b === 0xff && corruptJpeg[i + 1] === 0xc4);
    corruptJpeg[dht + 4 + 16] = 0xff; // 255 16-bit codes: more than any table holds
    const codes = corruptJpeg.subarray(dht + 5, dht + 21).reduce((sum, n) => sum + n, 0);
    const d = 'embedImage: decode_image: ';
    const bombGif = concat(utf8('GIF89a'), new Uint8Array([0xff, 0xff, 0xff, 0xff, 0, 0, 0]));
    const cases = [
      [jpeg.subarray(0, jpeg.length >> 1), `${d}cannot decode 80x53 JPEG (expected marker, data truncated)`],
      [readImage('broken.png'), `${d}cannot decode 80x53 PNG (outofdata)`],
      [gif.subarray(0, 300), `${d}cannot decode 80x53 GIF (unknown code, data truncated)`],
      [corruptJpeg, `${d}corrupt JPEG (Huffman table with ${codes} codes, at most 256)`],
      [png(8, 8, 8, 2, new Uint8Array(10)), `${d}cannot decode 8x8 PNG (not enough pixels)`],
      [png(0, 4, 8, 0, new Uint8Array(4)), `${d}zero-size image (0x4)`],
      [png(60000, 60000, 8, 2, new Uint8Array(64)), `${d}image 60000x60000 exceeds the maximum side of 16384 pixels`],
      [png(10000, 10000, 8, 2, new Uint8Array(64)), `${d}image 10000x10000 has 100000000 pixels, more than the limit of 67108864`],
      [bombGif, `${d}image 65535x65535 exceeds the maximum side of 16384 pixels`],
      [utf8('GIF89a'), `${d}zero-size image (0x0)`], // the missing header fields read as 0
      [readImage('notes.txt'), `${d}not a JPEG, PNG, BMP or GIF file (unrecognized signature)`],
      [new Uint8Array(0), 'embedImage: the image is empty (0 bytes)'],
    ];
    for (const [bytes, message] of cases) {
      await rejectsWith(clip.embedImage(bytes), Error, message);
      await stillCorrect();
    }
    // Raw pixels too large, or of the wrong shape.
    // Raw pixels are refused before they are copied into WebAssembly memory, which never shrinks.
    const heapBefore = clip.memory().heapBytes;
    await rejectsWith(clip.embedImage({ data: new Uint8Array(20000 * 4), width: 20000, height: 1 }), Error,
      'embedImage: raw pixels: image 20000x1 exceeds the maximum side of 16384 pixels');
    await rejectsWith(clip.embedImage({ data: new Uint8Array(9000 * 8000), width: 9000, height: 8000, channels: 1 }), Error,
      'embedImage: raw pixels: image 9000x8000 has 72000000 pixels, more than the limit of 67108864');
    assert.equal(clip.memory().heapBytes, heapBefore, 'no heap growth for refused raw pixels');
    await rejectsWith(clip.embedImage({ data: new Uint8Array(12), width: 2, height: 2, channels: 2 }), TypeError,
      'embedImage: raw pixels: 12 bytes do not fit 2x2 with 1, 3 or 4 channels (channels: 2)');
    await rejectsWith(clip.embedImage(new Float32Array(3 * 32 * 32 + 1)), Error,
      'embedImage: a preprocessed image must hold 3x32x32 = 3072 floats, got 3073');
    await stillCorrect();
  });

  test('unusual valid images (16-bit, gray, palette, alpha, CMYK, Adam7, BMP, GIF) embed as their pixels', async () => {
    // Each file against the pixels it must decode to (Pillow's, see tools/make_fuzz_seeds.py):
    // decoding right means the embedding equals that of the raw pixels, bit for bit.
    const manifest = JSON.parse(readFileSync(join(SEEDS, 'robustness/pixels.json'), 'utf8'));
    const names = Object.keys(manifest);
    for (const kind of ['gray16.png', 'rgb16.png', 'gray.png', 'palette.png', 'rgba.png', 'cmyk.jpg', 'interlaced.png', 'gray.jpg']) {
      assert.ok(names.includes(kind), `no ${kind} seed`);
    }
    for (const name of names) {
      badCases++;
      const { width, height } = manifest[name];
      const pixels = new Uint8Array(readFileSync(join(SEEDS, 'robustness/pixels', `${name}.rgb`)));
      const fromFile = await clip.embedImage(seed(name));
      const fromPixels = await clip.embedImage({ data: pixels, width, height, channels: 3 });
      assert.deepEqual(fromFile, fromPixels, name);
    }
    await stillCorrect();
  });

  test('text: ill-formed UTF-8 and UTF-16, NUL bytes, a megabyte, empty and blank', async () => {
    const embed = (text) => clip.embedText(text);
    const ids = async (text) => Array.from(await clip.tokenize(text));
    const cases = [
      // Bytes that are not UTF-8 reach JS as U+FFFD through TextDecoder and Buffer.
      [new TextDecoder().decode(new Uint8Array([0x61, 0xc3, 0x28, 0xff, 0xed, 0xa0, 0x80])), 'a\uFFFD(\uFFFD\uFFFD\uFFFD\uFFFD'],
      [Buffer.from([0x63, 0x61, 0x74, 0xf4, 0x90, 0x80, 0x80]).toString('utf8'), 'cat\uFFFD\uFFFD\uFFFD\uFFFD'],
      // Lone surrogates count as U+FFFD (as TextEncoder has it) and keep the next character.
      ['\uD800abc', '\uFFFDabc'],
      ['abc\uDC00', 'abc\uFFFD'],
      ['a photo\0 of a\0 cat', 'a photo of a cat'],
      [' \t\n\r\u3000 ', ''],
    ];
    for (const [text, same] of cases) {
      badCases++;
      assert.deepEqual(await ids(text), await ids(same), JSON.stringify(text));
      assert.deepEqual(await embed(text), await embed(same), JSON.stringify(text));
    }
    badCases++;
    assert.deepEqual(await ids(''), [49406, 49407]);
    badCases++;
    const megabyte = 'a photo of a cat, '.repeat(60000).slice(0, 1 << 20);
    const tokens = await ids(megabyte);
    assert.equal(tokens.length, 77);
    assert.equal(tokens[76], 49407);
    const long = await embed(megabyte);
    assert.ok(Math.abs(Math.hypot(...long) - 1) < 1e-5);
    await stillCorrect();
  });

  test('API misuse: wrong types, construction without load(), 10,000 labels', async () => {
    const image = goodImage;
    const unsupported = (what, kind) =>
      `${what}: unsupported image input (${kind}): pass encoded bytes (Uint8Array, Buffer, Blob), ` +
      '{data, width, height, channels}, ImageData, ImageBitmap, an image or canvas element, or a preprocessed Float32Array';
    const cases = [
      [() => clip.embedImage(42), TypeError, unsupported('embedImage', 'number')],
      [() => clip.embedImage(undefined), TypeError, unsupported('embedImage', 'undefined')],
      [() => clip.embedImage(new Map()), TypeError, unsupported('embedImage', 'Map')],
      [() => clip.embedImage([image, 'x']), TypeError, unsupported('embedImage: image 1', 'string')],
      [() => clip.embedImage([]), Error, 'embedImage: the image array is empty'],
      [() => clip.embedText(undefined), TypeError, 'embedText: expected a string, got undefined'],
      [() => clip.embedText(Buffer.from('a cat')), TypeError, 'embedText: expected a string, got object'],
      [() => clip.embedText(['a', 7]), TypeError, 'embedText: text 1: expected a string, got number'],
      [() => clip.tokenize(Symbol('x')), TypeError, 'tokenize: expected a string, got symbol'],
      [() => clip.classify(image), TypeError, 'classify: labels must be a non-empty array of strings'],
      [() => clip.classify(image, ['cat', 5]), TypeError, 'classify: label 1 must be a non-empty string'],
      [() => clip.classify(image, ['   ']), TypeError, 'classify: label 0 must be a non-empty string'],
      [() => clip.classify(image, ['cat'], { templates: 'all' }), TypeError, "classify: templates must be 'ensemble' or a non-empty array of strings with {}"],
      [() => clip.classify(image, ['cat'], { templates: ['a photo'] }), Error, "classify: prompt template 'a photo' has no {} for the label"],
      [() => clip.similarity(image), TypeError, unsupported('similarity: second input', 'undefined')],
      [() => clip.similarity([image], 'x'), TypeError, 'similarity: first input: expected one input, got an array'],
    ];
    for (const [call, ErrorClass, message] of cases) {
      await rejectsWith(call(), ErrorClass, message);
      await stillCorrect();
    }
    badCases++;
    assert.throws(() => new Clip(), { name: 'TypeError', message: 'Clip: models are created with load(), not new Clip()' });
    assert.throws(() => new Clip({ model: {} }), { name: 'TypeError', message: 'Clip: models are created with load(), not new Clip()' });

    badCases++;
    const labels = Array.from({ length: 10000 }, (_, i) => `label ${i}`);
    const ranked = await clip.classify(image, labels);
    assert.equal(ranked.length, 10000);
    assert.ok(Math.abs(ranked.reduce((sum, r) => sum + r.score, 0) - 1) < 1e-3);
    for (let i = 1; i < ranked.length; i++) assert.ok(ranked[i - 1].score >= ranked[i].score);
    assert.deepEqual(new Set(ranked.map((r) => r.label)), new Set(labels));
    await stillCorrect();
  });

  test('calls before the text tower is in, and after dispose', async () => {
    // Image tower first, then the text tower cut short: image calls answer, text calls wait and
    // then fail naming the cause, the image tower keeps working.
    const imageFirst = reorderedModel((a, b) => Number(a.startsWith('text') || a === 'logit_scale') - Number(b.startsWith('text') || b === 'logit_scale') || a.localeCompare(b));
    const { header } = parseFile(imageFirst);
    const textStart = Math.min(...Object.entries(header).filter(([n]) => n.startsWith('text')).map(([, t]) => t.data_offsets[0]));
    const cut = imageFirst.length - parseFile(imageFirst).data.length + textStart + 1000;
    // Served with the full length, so the header is valid and the image tower arrives whole.
    const tinyFiles = memoryFiles('tiny-hf');
    const routes = {};
    for (const [name, bytes] of Object.entries(tinyFiles)) routes[`/m/${name}`] = (req, res) => res.end(bytes);
    routes['/m/model.safetensors'] = (req, res) => {
      res.writeHead(200, { 'Content-Length': imageFirst.length });
      res.write(imageFirst.subarray(0, cut), () => setTimeout(() => res.destroy(), 50));
    };
    const early = await startServer(routes);
    try {
      const partial = await load(`${early.url}/m/`, { threads: 1, waitFor: 'image' });
      const pending = partial.embedText('a photo of a cat'); // before the text tower is in
      assert.deepEqual(await partial.embedImage(goodImage), baseImage);
      badCases++;
      await assert.rejects(pending, (error) => {
        assert.equal(error.constructor, Error);
        assert.equal(error.message, `embedText: the model failed to load: model.safetensors: reading failed after ${cut} bytes: terminated`);
        return true;
      });
      await assert.rejects(partial.ready);
      assert.deepEqual(await partial.embedImage(goodImage), baseImage);
      await partial.dispose();
    } finally {
      await early.close();
    }

    const disposed = await load(modelDir('tiny-hf'), { threads: 1 });
    await disposed.dispose();
    for (const [name, call] of [
      ['embedImage', () => disposed.embedImage(goodImage)],
      ['embedText', () => disposed.embedText('x')],
      ['tokenize', () => disposed.tokenize('x')],
      ['classify', () => disposed.classify(goodImage, ['x'])],
      ['similarity', () => disposed.similarity('x', 'y')],
    ]) {
      await rejectsWith(call(), Error, `${name}: this Clip was disposed`);
    }
    assert.deepEqual(disposed.memory(), { heapBytes: 0, usedBytes: 0 });
    await stillCorrect();
  });

  test('concurrent good and bad calls: each gets its own answer', async () => {
    const calls = [];
    for (let i = 0; i < 20; i++) {
      calls.push(
        clip.embedImage(goodImage).then((e) => assert.deepEqual(e, baseImage)),
        rejectsWith(clip.embedImage(readImage('notes.txt')), Error, 'embedImage: decode_image: not a JPEG, PNG, BMP or GIF file (unrecognized signature)'),
        clip.embedText('a photo of a cat').then((e) => assert.deepEqual(e, baseText)),
        rejectsWith(clip.embedText(i), TypeError, 'embedText: expected a string, got number'),
        clip.similarity(goodImage, 'a photo of a cat').then((s) => assert.ok(Math.abs(s - cosine(baseImage, baseText)) < 1e-6)),
      );
    }
    await Promise.all(calls);
    await stillCorrect();
  });

  test('1,000 calls mixing good and bad input do not grow the heap', async () => {
    const bomb = png(60000, 60000, 8, 2, new Uint8Array(64));
    const truncated = readImage('photo.jpg').subarray(0, 2000);
    const cmyk = seed('cmyk.jpg');
    const rawPixels = { data: new Uint8Array(readImage('photo.rgba')), width: 80, height: 53, channels: 4 };
    const mixed = [
      () => clip.embedImage(goodImage),
      () => clip.embedImage(readImage('notes.txt')).catch(() => {}),
      () => clip.embedText('a photo of a cat'),
      () => clip.embedText(42).catch(() => {}),
      () => clip.embedImage(bomb).catch(() => {}),
      () => clip.embedImage(truncated).catch(() => {}),
      () => clip.embedText('\uD800 caf\u00e9 \0'),
      () => clip.embedImage(cmyk),
      () => clip.classify(goodImage, ['x'], { templates: ['none'] }).catch(() => {}),
      () => clip.embedImage(rawPixels),
    ];
    // Warm up until allocations settle (buffers at their largest), then count.
    let last = -1;
    for (let i = 0, steady = 0; i < 2000 && steady < 2 * mixed.length; i++) {
      await mixed[i % mixed.length]();
      const used = clip.memory().usedBytes;
      steady = used === last ? steady + 1 : 0;
      last = used;
    }
    const start = clip.memory();
    for (let i = 0; i < 1000; i++) await mixed[i % mixed.length]();
    const end = clip.memory();
    recordFigure('ROBUST', 'heap_growth_bytes', end.heapBytes - start.heapBytes);
    recordFigure('ROBUST', 'used_growth_bytes', end.usedBytes - start.usedBytes);
    assert.equal(end.heapBytes, start.heapBytes, 'the WebAssembly heap grew');
    assert.equal(end.usedBytes, start.usedBytes, 'allocated bytes changed');
    await stillCorrect();
  });

  test('figures', () => {
    assert.ok(badCases >= 80, `only ${badCases} hostile inputs checked`);
    recordFigure('ROBUST', 'bad_input_cases', badCases);
  });
});
