#!/usr/bin/env node
// clip-wasm command line: zero-shot classification, embeddings, tokens and a benchmark.
// Exit status: 0 done, 1 usage error, 2 input error (model or image that cannot be used).
// Inputs are handled one at a time, in order: an input that fails is reported on stderr by name
// and the others still get their results; the status is then 2.

import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';

import { DEFAULT_MODEL, load } from '../src/index.mjs';

const USAGE = `usage: clip-wasm COMMAND [options] [INPUT...]

commands:
  classify IMAGE...     rank labels for each image (zero-shot)
  embed-image IMAGE...  image embeddings
  embed-text TEXT...    text embeddings
  tokenize TEXT...      token ids as the text tower sees them
  bench [IMAGE]         time model load, image and text embeddings

options:
  --model DIR|URL       model directory or base URL in Hugging Face layout
                        (default: ${DEFAULT_MODEL})
  --labels "a,b,c"      classify: comma-separated labels
  --template T          classify: prompt template with {} (repeatable; default "a photo of a {}.")
  --ensemble            classify: the CLIP authors' seven ImageNet prompt templates
  --top K               classify: show the K best labels (default: all)
  --runs N              bench: timed runs of each kind (default 5)
  --threads N           threads (default: cores, at most 8)
  --dtype f32|f16|q8    weights file and format (default f32; see the package README)
  --no-cache            download the model again instead of using the cache
                        ($CLIP_WASM_CACHE_DIR, else $XDG_CACHE_HOME/clip-wasm, else
                        ~/.cache/clip-wasm)
  --json                print JSON (an input that failed: {"image"|"text", "error"})
  --quiet               no progress bar
  -h, --help            this text
  --version             the package's version

Text output names each input on one line, its tabs, newlines, carriage returns and
backslashes written as \\t, \\n, \\r and \\\\; embed-image, embed-text and tokenize follow it
with a tab and the values.
`;

class UsageError extends Error {}
class InputError extends Error {}

function parse(argv) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        model: { type: 'string' },
        labels: { type: 'string' },
        template: { type: 'string', multiple: true },
        ensemble: { type: 'boolean' },
        top: { type: 'string' },
        runs: { type: 'string' },
        threads: { type: 'string' },
        dtype: { type: 'string' },
        'no-cache': { type: 'boolean' },
        json: { type: 'boolean' },
        quiet: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' },
      },
    });
  } catch (error) {
    throw new UsageError(error.message);
  }
  const { values, positionals } = parsed;
  const [command, ...inputs] = positionals;
  const count = (name, min) => {
    if (values[name] === undefined) return undefined;
    const n = Number(values[name]);
    if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be a whole number >= ${min}`);
    return n;
  };
  const options = {
    command,
    inputs,
    help: values.help,
    version: values.version,
    model: values.model ?? DEFAULT_MODEL,
    json: values.json ?? false,
    quiet: values.quiet ?? false,
    threads: count('threads', 1),
    top: count('top', 1),
    runs: count('runs', 1) ?? 5,
    dtype: values.dtype ?? 'f32',
    cache: !values['no-cache'],
    labels: values.labels,
    templates: values.ensemble ? 'ensemble' : values.template,
  };
  if (!['f32', 'f16', 'q8'].includes(options.dtype)) throw new UsageError('--dtype must be f32, f16 or q8');
  if (values.ensemble && values.template) throw new UsageError('use --template or --ensemble, not both');
  for (const t of values.template ?? []) {
    if (!t.includes('{}')) throw new UsageError(`--template '${t}' has no {} for the label`);
  }
  return options;
}

// A one-line progress bar on stderr while the model loads (redrawn in place on a terminal).
function progressBar(quiet) {
  const stream = process.stderr;
  if (quiet) return { onProgress: undefined, end() {} };
  let last = 0;
  let drawn = false;
  const mb = (bytes) => (bytes / 1e6).toFixed(1);
  const draw = (e, final) => {
    const fraction = e.total ? Math.min(1, e.loaded / e.total) : 1;
    const width = 30;
    const fill = Math.round(fraction * width);
    const line = `loading ${e.file} [${'#'.repeat(fill)}${'-'.repeat(width - fill)}] ${(fraction * 100).toFixed(0).padStart(3)}% ${mb(e.loaded)}/${mb(e.total || e.loaded)} MB`;
    if (stream.isTTY) {
      stream.write(`\r${line}`);
      drawn = true;
      if (final) stream.write('\n');
    } else if (final) {
      stream.write(`${line}\n`);
    }
  };
  // Only files worth watching: the weights, and anything over 1 MB (vocab.json).
  const shown = (e) => e.file.endsWith('.safetensors') || (e.total ?? 0) > 1e6;
  return {
    onProgress(e) {
      if (e.status === 'ready' || !shown(e)) return;
      if (e.status === 'progress') {
        const now = Date.now();
        if (now - last > 100 && e.loaded < e.total) {
          last = now;
          draw(e, false);
        }
      } else if (e.status === 'done') {
        draw(e, true);
        drawn = false;
      }
    },
    end() {
      if (drawn) stream.write('\n');
    },
  };
}

async function readImage(path) {
  try {
    return await readFile(path);
  } catch (error) {
    throw new Error(error.code === 'ENOENT' ? 'no such file' : `cannot read it: ${error.message}`);
  }
}

function format(vector) {
  return Array.from(vector, (v) => v.toFixed(6)).join(' ');
}

// An input as the first field of a text output line: one line, tab-separated, whatever it holds.
function field(text) {
  return text.replace(/[\\\t\n\r]/g, (c) => ({ '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' })[c]);
}

async function withModel(options, body) {
  const bar = progressBar(options.quiet);
  let clip;
  try {
    clip = await load(options.model, { threads: options.threads, dtype: options.dtype, cache: options.cache, onProgress: bar.onProgress });
  } catch (error) {
    bar.end();
    throw new InputError(`cannot load model ${options.model}: ${error.message}`);
  }
  try {
    return await body(clip);
  } finally {
    await clip.dispose();
  }
}

// Runs `run(input)` for each input in turn and hands each result to `show(input, result)` as it
// comes (text output), or prints them all as one JSON array at the end (`indent` spaces). An
// input whose call fails is named on stderr (the model stays loaded) and the next one goes on;
// the command then ends with an InputError. `kind` names the input in JSON ('image' or 'text').
async function eachInput(options, print, { kind, run, show, indent = 0 }) {
  const all = [];
  let failed = 0;
  for (const input of options.inputs) {
    let result;
    try {
      result = await run(input);
    } catch (error) {
      failed++;
      process.stderr.write(`clip-wasm: ${field(input)}: ${error.message}\n`);
      if (options.json) all.push({ [kind]: input, error: error.message });
      continue;
    }
    if (options.json) all.push({ [kind]: input, ...result });
    else show(input, result);
  }
  if (options.json) print(JSON.stringify(all, null, indent));
  if (failed) throw new InputError(`${failed} of ${options.inputs.length} inputs failed`);
}

// Runs one call of the benchmark; a rejected call is the input's fault (the model stays loaded).
async function attempt(promise) {
  try {
    return await promise;
  } catch (error) {
    throw new InputError(error.message);
  }
}

const commands = {
  async classify(options, print) {
    if (options.inputs.length === 0) throw new UsageError('classify: give at least one IMAGE');
    const labels = (options.labels ?? '').split(',').map((l) => l.trim()).filter(Boolean);
    if (labels.length === 0) throw new UsageError('classify: --labels "a,b,c" is required');
    return withModel(options, (clip) =>
      eachInput(options, print, {
        kind: 'image',
        indent: 2,
        async run(path) {
          const ranked = await clip.classify(await readImage(path), labels, { templates: options.templates });
          return { labels: ranked.slice(0, options.top ?? labels.length) };
        },
        show(path, { labels: ranked }) {
          print(field(path));
          for (const { label, score } of ranked) print(`  ${score.toFixed(4)}  ${field(label)}`);
        },
      }),
    );
  },

  async 'embed-image'(options, print) {
    if (options.inputs.length === 0) throw new UsageError('embed-image: give at least one IMAGE');
    return withModel(options, (clip) =>
      eachInput(options, print, {
        kind: 'image',
        run: async (path) => ({ embedding: Array.from(await clip.embedImage(await readImage(path))) }),
        show: (path, { embedding }) => print(`${field(path)}\t${format(embedding)}`),
      }),
    );
  },

  async 'embed-text'(options, print) {
    if (options.inputs.length === 0) throw new UsageError('embed-text: give at least one TEXT');
    return withModel(options, (clip) =>
      eachInput(options, print, {
        kind: 'text',
        run: async (text) => ({ embedding: Array.from(await clip.embedText(text)) }),
        show: (text, { embedding }) => print(`${field(text)}\t${format(embedding)}`),
      }),
    );
  },

  async tokenize(options, print) {
    if (options.inputs.length === 0) throw new UsageError('tokenize: give at least one TEXT');
    return withModel(options, (clip) =>
      eachInput(options, print, {
        kind: 'text',
        run: async (text) => ({ ids: Array.from(await clip.tokenize(text)) }),
        show: (text, { ids }) => print(`${field(text)}\t${ids.join(' ')}`),
      }),
    );
  },

  async bench(options, print) {
    if (options.inputs.length > 1) throw new UsageError('bench: at most one IMAGE');
    const path = options.inputs[0];
    const image = path === undefined ? null : await readImage(path).catch((error) => {
      throw new InputError(`${path}: ${error.message}`);
    });
    const start = performance.now();
    return withModel(options, async (clip) => {
      const loadMs = performance.now() - start;
      const size = clip.info.imageSize;
      // Without an image, a fixed preprocessed one: the timing does not depend on its values.
      const input = image ?? new Float32Array(3 * size * size).map((_, i) => Math.sin(i) * 0.5);
      const time = async (fn) => {
        await fn(); // warm-up
        const t0 = performance.now();
        for (let i = 0; i < options.runs; i++) await fn();
        return (performance.now() - t0) / options.runs;
      };
      const result = {
        build: clip.info.build,
        threads: clip.info.threads,
        dtype: clip.info.dtype,
        embedDim: clip.info.embedDim,
        loadMs: +loadMs.toFixed(1),
        imageMs: +(await time(() => attempt(clip.embedImage(input)))).toFixed(2),
        textMs: +(await time(() => attempt(clip.embedText('a photo of a cat sitting on a sofa')))).toFixed(2),
        runs: options.runs,
      };
      if (options.json) return print(JSON.stringify(result));
      print(`build ${result.build}, ${result.threads} threads, dtype ${result.dtype}`);
      print(`load        ${result.loadMs} ms`);
      print(`embedImage  ${result.imageMs} ms`);
      print(`embedText   ${result.textMs} ms`);
    });
  },
};

// A reader that stops early (`| head`) closes the pipe: like other command-line tools, end
// quietly then, with the status the command had so far.
process.stdout.on('error', (error) => {
  if (error.code !== 'EPIPE') throw error;
  process.exit(process.exitCode ?? 0);
});

async function main(argv) {
  const print = (line) => process.stdout.write(`${line}\n`);
  try {
    const options = parse(argv);
    if (options.version) {
      const manifest = new URL('../package.json', import.meta.url);
      print(JSON.parse(await readFile(manifest, 'utf8')).version);
      return 0;
    }
    if (options.help) {
      print(USAGE);
      return 0;
    }
    const command = commands[options.command];
    if (!command) throw new UsageError(options.command ? `unknown command '${options.command}'` : 'no command');
    await command(options, print);
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`clip-wasm: ${error.message}\n\n${USAGE}`);
      return 1;
    }
    if (error instanceof InputError) {
      process.stderr.write(`clip-wasm: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
}

process.exitCode = await main(process.argv.slice(2));
