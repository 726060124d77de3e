// gunzipLines: the first lines of a gzip file's text, exactly as a whole decompression gives them.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { gzipSync, gunzipSync } from 'node:zlib';

import { gunzipLines } from '../../js/src/sources.mjs';
import { modelDir } from './helpers.mjs';

// The text through the end of its `lines`-th line (all of it if it has fewer).
function firstLines(text, lines) {
  let end = 0;
  for (let seen = 0; seen < lines; ++seen) {
    const at = text.indexOf(10, end);
    if (at === -1) return text;
    end = at + 1;
  }
  return text.subarray(0, end);
}

test('gunzipLines gives the first lines of the text, however far into the file they end', async () => {
  const gz = new Uint8Array(readFileSync(join(modelDir('tiny-openclip'), 'bpe_simple_vocab_16e6.txt.gz')));
  const text = new Uint8Array(gunzipSync(gz));
  const total = text.filter((b) => b === 10).length;
  assert.ok(gz.length > 1 << 20 && total > 200_000, 'the real 1.3 MB BPE file');
  // 48895: what CLIP reads; 200000 ends past the first compressed prefix tried; more lines than
  // the file has give all of it.
  for (const lines of [1, 48895, 200_000, total, total + 5]) {
    const got = await gunzipLines(gz, lines);
    assert.deepEqual(Buffer.from(got), Buffer.from(firstLines(text, lines)), `lines=${lines}`);
  }
  const small = gzipSync('one\ntwo\nthree');
  assert.equal(new TextDecoder().decode(await gunzipLines(small, 2)), 'one\ntwo\n');
  assert.equal(new TextDecoder().decode(await gunzipLines(small, 9)), 'one\ntwo\nthree');
  await assert.rejects(gunzipLines(gz.subarray(0, 50_000), 200_000), /unexpected end of file/);
  await assert.rejects(gunzipLines(new TextEncoder().encode('plain text\n'), 1), /incorrect header check/);
});
