// The wasm build on the native suite's own fixtures (tools/make_model_fixtures.py): the embeddings
// and zero-shot probabilities that tests/native checks against the reference implementations.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';

import { load } from '../../js/src/index.mjs';
import { FIXTURES, cosine, recordFigure } from './helpers.mjs';

const MODELS = join(dirname(FIXTURES), 'models');

// F32 tensors of a safetensors file by name.
function readTensors(path) {
  const file = readFileSync(path);
  const headerLength = Number(file.readBigUInt64LE(0));
  const header = JSON.parse(file.subarray(8, 8 + headerLength).toString());
  const tensors = {};
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__' || info.dtype !== 'F32') continue;
    const [begin, end] = info.data_offsets;
    const bytes = file.subarray(8 + headerLength + begin, 8 + headerLength + end);
    tensors[name] = { shape: info.shape, data: new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)) };
  }
  return tensors;
}

test('wasm equals the native suite on its fixtures (image embeddings, zero-shot probabilities)', async () => {
  const dir = join(MODELS, 'tiny-hf');
  const reference = readTensors(join(dir, 'reference.safetensors'));
  const zeroShot = readTensors(join(dir, 'zero_shot.safetensors'));
  const { labels, templates } = JSON.parse(readFileSync(join(dir, 'zero_shot.json'), 'utf8'));
  const clip = await load(
    {
      'config.json': readFileSync(join(dir, 'config.json')),
      'model.safetensors': readFileSync(join(dir, 'model.safetensors')),
      'bpe_simple_vocab_16e6.txt.gz': gzipSync(readFileSync(join(dir, 'bpe_simple_vocab_16e6.txt'))),
    },
    { threads: 2 },
  );
  const [batch, , size] = reference.pixel_values.shape;
  const pixels = 3 * size * size;
  const dim = clip.info.embedDim;
  let worstCosine = 1;
  let worstProbability = 0;
  for (let b = 0; b < batch; b++) {
    const image = reference.pixel_values.data.subarray(b * pixels, (b + 1) * pixels);
    const embedding = await clip.embedImage(image);
    worstCosine = Math.min(worstCosine, cosine(embedding, reference.image_embeds.data.subarray(b * dim, (b + 1) * dim)));
    const ranked = await clip.classify(image, labels, { templates });
    for (const { label, score } of ranked) {
      const expected = zeroShot.probs.data[b * labels.length + labels.indexOf(label)];
      worstProbability = Math.max(worstProbability, Math.abs(score - expected));
    }
  }
  recordFigure('js-native-fixtures', 'image-min-cosine', worstCosine.toFixed(8));
  recordFigure('js-native-fixtures', 'zero-shot-max-abs', worstProbability.toExponential(2));
  assert.ok(worstCosine >= 0.99999, `image cosine ${worstCosine}`);
  assert.ok(worstProbability <= 1e-4, `zero-shot probabilities differ by ${worstProbability}`);
  await clip.dispose();
});
