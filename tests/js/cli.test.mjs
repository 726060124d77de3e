// The clip-wasm command line: outputs against the reference, exit status, progress on stderr.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';

import { REFERENCE, ROOT, cosine, imagePath, modelDir } from './helpers.mjs';

const CLI = join(ROOT, 'js/bin/clip-wasm.mjs');
const ref = REFERENCE.models['tiny-hf'];
const model = modelDir('tiny-hf');

function cli(...args) {
  const run = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60000 });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe('clip-wasm CLI', () => {
  test('classify --json matches the reference probabilities', () => {
    const { labels, templates, probs, image } = ref.zeroShot;
    const args = ['classify', '--model', model, imagePath(image), imagePath('gray.png'), '--labels', labels.join(','), '--json'];
    for (const t of templates) args.push('--template', t);
    const run = cli(...args);
    assert.equal(run.status, 0, run.stderr);
    const out = JSON.parse(run.stdout);
    assert.equal(out.length, 2);
    assert.equal(out[0].image, imagePath(image));
    for (const { label, score } of out[0].labels) {
      assert.ok(Math.abs(score - probs[labels.indexOf(label)]) < 1e-5, label);
    }
    assert.match(run.stderr, /model\.safetensors .*100%/, 'progress bar on stderr');
  });

  test('classify text output, --top, --ensemble, --threads, --dtype', () => {
    const run = cli('classify', '--model', model, imagePath('photo.png'), '--labels', 'cat, dog ,car', '--top', '2',
      '--ensemble', '--threads', '1', '--dtype', 'q8', '--quiet');
    assert.equal(run.status, 0, run.stderr);
    const lines = run.stdout.trim().split('\n');
    assert.equal(lines.length, 3);
    assert.match(lines[1], /^ {2}0\.\d{4} {2}(cat|dog|car)$/);
    assert.equal(run.stderr, '', '--quiet prints nothing on stderr');
  });

  test('embed-image, embed-text and tokenize --json match the reference', () => {
    const images = cli('embed-image', '--model', model, imagePath('photo.png'), imagePath('photo.bmp'), '--json', '--quiet');
    assert.equal(images.status, 0, images.stderr);
    const [png, bmp] = JSON.parse(images.stdout);
    assert.ok(cosine(png.embedding, ref.images['photo.png']) >= 0.99999);
    assert.ok(cosine(bmp.embedding, ref.images['photo.bmp']) >= 0.99999);

    const text = REFERENCE.texts[1];
    const texts = cli('embed-text', '--model', model, text, '--json', '--quiet');
    assert.equal(texts.status, 0, texts.stderr);
    assert.ok(cosine(JSON.parse(texts.stdout)[0].embedding, ref.texts[text]) >= 0.99999);

    const tokens = cli('tokenize', '--model', model, text, '--json', '--quiet');
    assert.deepEqual(JSON.parse(tokens.stdout)[0].ids, ref.tokens[text]);
    const plain = cli('embed-text', '--model', model, 'hi', '--quiet');
    assert.equal(plain.stdout.trim().split('\t')[1].split(' ').length, 16);
  });

  test('bench --json reports timings', () => {
    const run = cli('bench', '--model', model, '--runs', '2', '--json', '--quiet', '--threads', '2');
    assert.equal(run.status, 0, run.stderr);
    const out = JSON.parse(run.stdout);
    assert.equal(out.threads, 2);
    assert.equal(out.build, 'clip-wasm-threads');
    for (const key of ['loadMs', 'imageMs', 'textMs']) assert.ok(out[key] > 0, key);
  });

  test('usage errors exit 1', () => {
    for (const args of [[], ['frobnicate'], ['classify', '--model', model, imagePath('photo.png')],
      ['classify', '--labels', 'a'], ['embed-text', '--model', model], ['bench', '--runs', '0'],
      ['classify', '--bogus'], ['embed-text', '--dtype', 'f64', 'x'],
      ['classify', '--model', model, imagePath('photo.png'), '--labels', 'a', '--template', 'no label here']]) {
      const run = cli(...args);
      assert.equal(run.status, 1, `${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, /usage: clip-wasm/);
    }
    assert.equal(cli('--help').status, 0);
    const version = cli('--version');
    assert.equal(version.status, 0);
    assert.equal(version.stdout.trim(), JSON.parse(readFileSync(join(ROOT, 'js/package.json'), 'utf8')).version);
  });

  test('a reader that closes the pipe early ends the command quietly', () => {
    // 800 embeddings as text lines: far more than the 100 bytes the reader takes.
    const texts = Array.from({ length: 800 }, (_, i) => `t${i}`);
    const pipeline = `set -o pipefail; "${process.execPath}" "${CLI}" "$@" | head -c 100 >/dev/null`;
    const run = spawnSync('bash', ['-c', pipeline, 'bash', 'embed-text', '--model', model, '--quiet', ...texts], {
      encoding: 'utf8',
      timeout: 60000,
    });
    assert.equal(run.status, 0, run.stderr);
    assert.doesNotMatch(run.stderr, /EPIPE|Unhandled/);
  });

  test('input errors exit 2 with the reason', () => {
    const bad = cli('classify', '--model', model, imagePath('notes.txt'), '--labels', 'a,b', '--quiet');
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /not a JPEG, PNG, BMP or GIF|unrecognized/);
    const missing = cli('embed-image', '--model', model, imagePath('no-such.png'), '--quiet');
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /no-such\.png: no such file/);
    const noModel = cli('embed-text', '--model', modelDir('tiny-missing'), 'x', '--quiet');
    assert.equal(noModel.status, 2);
    assert.match(noModel.stderr, /cannot load model .*text_projection\.weight/);
  });

  test('a batch goes on past inputs that fail, naming each, and the others get their results', () => {
    const good = imagePath('photo.png');
    const inputs = [good, imagePath('notes.txt'), imagePath('no-such.png'), imagePath('photo.bmp')];
    const text = cli('embed-image', '--model', model, ...inputs, '--quiet');
    assert.equal(text.status, 2);
    const lines = text.stdout.trim().split('\n');
    assert.deepEqual(lines.map((l) => l.split('\t')[0]), [good, imagePath('photo.bmp')]);
    assert.match(text.stderr, /notes\.txt: embedImage: decode_image: not a JPEG/);
    assert.match(text.stderr, /no-such\.png: no such file/);
    assert.match(text.stderr, /2 of 4 inputs failed/);

    const json = cli('classify', '--model', model, ...inputs, '--labels', 'a,b', '--json', '--quiet');
    assert.equal(json.status, 2);
    const out = JSON.parse(json.stdout);
    assert.deepEqual(out.map((r) => r.image), inputs, 'one entry per input, in order');
    assert.deepEqual(out.map((r) => 'error' in r), [false, true, true, false]);
    assert.equal(out[0].labels.length, 2);
  });

  test('images are read one at a time: more files than open descriptors allowed', () => {
    const many = Array(300).fill(imagePath('photo.png'));
    const run = spawnSync('bash', ['-c', `ulimit -n 96 && exec "${process.execPath}" "${CLI}" "$@"`, 'bash',
      'embed-image', '--model', model, '--quiet', ...many], { encoding: 'utf8', timeout: 120000 });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout.trim().split('\n').length, 300);
  });

  test('text output: each input on one line, tabs and newlines escaped, paths as given', () => {
    const run = cli('embed-text', '--model', model, 'one\ttwo\nthree \\ four', '--quiet');
    assert.equal(run.status, 0, run.stderr);
    const lines = run.stdout.trim().split('\n');
    assert.equal(lines.length, 1);
    assert.equal(lines[0].split('\t')[0], 'one\\ttwo\\nthree \\\\ four');
    const tokens = cli('tokenize', '--model', model, 'a\nb', '--quiet');
    assert.equal(tokens.stdout.trim().split('\n').length, 1);
    // Two files of the same name in different folders stay apart.
    const dir = mkdtempSync(join(tmpdir(), 'clip-wasm-cli-'));
    try {
      const copy = join(dir, 'photo.png');
      copyFileSync(imagePath('photo.png'), copy);
      const sameName = cli('embed-image', '--model', model, imagePath('photo.png'), copy, '--quiet');
      assert.deepEqual(sameName.stdout.trim().split('\n').map((l) => l.split('\t')[0]), [imagePath('photo.png'), copy]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
