// load() and the Clip object it resolves to.

import { normalizeImage } from './images.mjs';
import { chooseBuild, createInstance, nodeModules } from './runtime.mjs';
import { gunzipLines, resolveSource } from './sources.mjs';

// OpenAI's CLIP ViT-B/32 on the Hugging Face hub. The repository's main branch has no
// model.safetensors (only pytorch_model.bin); the safetensors conversion lives on its pull
// request ref 66, which also carries config.json and the tokenizer files.
export const DEFAULT_MODEL = 'https://huggingface.co/openai/clip-vit-base-patch32/resolve/refs%2Fpr%2F66/';

const DTYPES = ['f32', 'f16', 'q8'];
const LABEL_CACHE_SIZE = 16; // label sets whose embeddings are kept for repeated classify()

// A module call returns its result or an Error value (wasm/handles.h): turn the latter into a
// thrown Error that says which call failed.
function check(result, what) {
  if (result instanceof Error) throw new Error(`${what}: ${result.message}`);
  return result;
}

function textOf(bytes) {
  return bytes === null ? '' : new TextDecoder().decode(bytes);
}

// Text as the module takes it: lone UTF-16 surrogates become U+FFFD, as TextEncoder makes them
// (the module's UTF-8 conversion would pair one with the next character, changing the text),
// then NFC, which the tokenizer expects, as OpenAI's ftfy cleaning produces.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
function cleanText(text) {
  const wellFormed = text.toWellFormed ? text.toWellFormed() : text.replace(LONE_SURROGATE, '\uFFFD');
  return wellFormed.normalize('NFC');
}

function assertText(text, what) {
  if (typeof text !== 'string') {
    throw new TypeError(`${what}: expected a string, got ${text === null ? 'null' : typeof text}`);
  }
  return cleanText(text);
}

function dot(a, b) {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] * b[i];
  return sum;
}

// Options given as null are no options; anything but an object, or a key the call does not
// know, is refused (a misspelled option would otherwise be ignored without a word).
export function checkOptions(options, known, what) {
  if (options === undefined || options === null) return {};
  if (typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(`${what}: options must be an object, got ${Array.isArray(options) ? 'an array' : typeof options}`);
  }
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) throw new TypeError(`${what}: unknown option '${key}' (the options are ${known.join(', ')})`);
  }
  return options;
}

const CLASSIFY_OPTIONS = ['templates'];
export const LOAD_OPTIONS = ['dtype', 'threads', 'relaxedSimd', 'onProgress', 'cache', 'signal', 'waitFor'];

export class Clip {
  #module;
  #model;
  #tokenizer;
  #tokenizerProblem;
  #info;
  #queue = Promise.resolve();
  #disposed = false;
  #labelCache = new Map();

  #describe;
  #loading = null; // streaming of the text tower, when load() resolved with the image tower only
  #cancelLoading;
  #textCalls = new Set(); // text calls waiting for the text tower (settle without rejecting)
  #disposal = null;

  /** @internal Use load(). */
  constructor({ module, model, tokenizer, tokenizerProblem, build, relaxedSimd = false, dtype, source, loading = null, cancelLoading = null } = {}) {
    if (!module || !model) throw new TypeError('Clip: models are created with load(), not new Clip()');
    this.#cancelLoading = cancelLoading;
    this.#module = module;
    this.#model = model;
    this.#tokenizer = tokenizer;
    this.#tokenizerProblem = tokenizerProblem;
    this.#describe = () => {
      const raw = this.#model.info();
      this.#info = Object.freeze({
        embedDim: raw.embedDim,
        imageSize: raw.imageSize,
        contextLength: raw.contextLength,
        hasVision: raw.hasVision,
        hasText: raw.hasText,
        threads: raw.threads,
        weightBytes: raw.weightBytes,
        logitScale: raw.logitScale,
        dtype,
        build,
        relaxedSimd,
        source,
      });
    };
    this.#describe();
    if (loading) {
      this.#loading = loading.then(() => {
        if (this.#model) this.#describe(); // the text tower's weights are in now
      });
      this.#loading.catch(() => {}); // the error reaches callers through ready and text calls
    }
  }

  /**
   * Resolves once every weight is in. Only differs from load() with {waitFor: 'image'}, where the
   * text tower may still be streaming; text calls wait for it by themselves.
   */
  get ready() {
    return this.#loading ?? Promise.resolve();
  }

  // Text calls wait for the text tower when it is still streaming. A call made before dispose()
  // is queued once the tower is in even though dispose() came meanwhile, as it would have been
  // with the whole model loaded: dispose() waits for it.
  #runText(what, task) {
    if (!this.#loading) return this.#run(what, task);
    if (this.#disposed) return Promise.reject(new Error(`${what}: this Clip was disposed`));
    const result = this.#loading.then(
      () => this.#enqueue(what, task),
      (error) => {
        throw new Error(`${what}: the model failed to load: ${error.message}`);
      },
    );
    const settled = result.then(() => {}, () => {});
    this.#textCalls.add(settled);
    settled.then(() => this.#textCalls.delete(settled));
    return result;
  }

  /** Sizes and settings of the loaded model. */
  get info() {
    return this.#info;
  }

  // Calls run one at a time, in call order: the module is single-threaded from JS's side.
  #run(what, task) {
    if (this.#disposed) return Promise.reject(new Error(`${what}: this Clip was disposed`));
    return this.#enqueue(what, task);
  }

  #enqueue(what, task) {
    const result = this.#queue.then(() => {
      if (!this.#module) throw new Error(`${what}: this Clip was disposed`);
      return task();
    });
    this.#queue = result.catch(() => {});
    return result;
  }

  #requireTokenizer(what) {
    if (!this.#tokenizer) throw new Error(`${what}: ${this.#tokenizerProblem}`);
    return this.#tokenizer;
  }

  async #embedOne(input, what) {
    let staged;
    try {
      staged = await normalizeImage(input);
    } catch (error) {
      error.message = `${what}: ${error.message}`;
      throw error;
    }
    const model = this.#model;
    if (staged.kind === 'preprocessed') {
      const size = this.#info.imageSize;
      const expected = 3 * size * size;
      if (staged.data.length !== expected) {
        throw new Error(`${what}: a preprocessed image must hold 3x${size}x${size} = ${expected} floats, got ${staged.data.length}`);
      }
      check(model.floats(expected), what).set(staged.data);
      return check(model.embedPreprocessed(expected), what);
    }
    if (staged.kind === 'pixels') {
      check(model.bytes(staged.data.length), what).set(staged.data);
      return check(model.embedPixels(staged.width, staged.height, staged.channels), what);
    }
    if (staged.bytes.length === 0) throw new Error(`${what}: the image is empty (0 bytes)`);
    check(model.bytes(staged.bytes.length), what).set(staged.bytes);
    return check(model.embedEncoded(staged.bytes.length), what);
  }

  async #embedImages(input, what) {
    if (!Array.isArray(input)) return this.#embedOne(input, what);
    if (input.length === 0) throw new Error(`${what}: the image array is empty`);
    const out = [];
    for (let i = 0; i < input.length; i++) out.push(await this.#embedOne(input[i], `${what}: image ${i}`));
    return out;
  }

  #embedTexts(input, what) {
    const tokenizer = this.#requireTokenizer(what);
    const one = (text, label) => check(this.#model.embedText(tokenizer, assertText(text, label)), label);
    if (!Array.isArray(input)) return one(input, what);
    if (input.length === 0) throw new Error(`${what}: the text array is empty`);
    return input.map((text, i) => one(text, `${what}: text ${i}`));
  }

  /**
   * Image embedding(s), L2-normalized: Float32Array [embedDim], or one per image for an array.
   */
  embedImage(input) {
    return this.#run('embedImage', () => this.#embedImages(input, 'embedImage'));
  }

  /** Text embedding(s), L2-normalized: Float32Array [embedDim], or one per text for an array. */
  embedText(text) {
    return this.#runText('embedText', () => this.#embedTexts(text, 'embedText'));
  }

  /** Token ids [start, ..., end] as the text tower sees them (truncated to the context length). */
  tokenize(text) {
    return this.#run('tokenize', () => {
      const tokenizer = this.#requireTokenizer('tokenize');
      const context = this.#info.contextLength || 77;
      const one = (t, label) => check(tokenizer.tokenize(assertText(t, label), context), label);
      if (!Array.isArray(text)) return one(text, 'tokenize');
      if (text.length === 0) throw new Error('tokenize: the text array is empty');
      return text.map((t, i) => one(t, `tokenize: text ${i}`));
    });
  }

  #templates(templates) {
    if (templates === undefined) return this.#module.defaultTemplates();
    if (templates === 'ensemble') return this.#module.ensembleTemplates();
    if (!Array.isArray(templates) || templates.length === 0 || !templates.every((t) => typeof t === 'string')) {
      throw new TypeError("classify: templates must be 'ensemble' or a non-empty array of strings with {}");
    }
    return templates.map(cleanText);
  }

  #labelEmbeddings(labels, templates) {
    const key = JSON.stringify([labels, templates]);
    let embeddings = this.#labelCache.get(key);
    if (!embeddings) {
      const tokenizer = this.#requireTokenizer('classify');
      embeddings = check(this.#model.labelEmbeddings(tokenizer, labels, templates), 'classify');
      if (this.#labelCache.size >= LABEL_CACHE_SIZE) this.#labelCache.delete(this.#labelCache.keys().next().value);
    }
    this.#labelCache.delete(key);
    this.#labelCache.set(key, embeddings); // most recent last
    return embeddings;
  }

  /**
   * Zero-shot classification: [{label, score}] sorted by score (softmax over the labels), or
   * one such list per image for an array of images.
   * @param {{templates?: 'ensemble' | string[]}} [options] prompt templates with {} for the
   *   label; default ['a photo of a {}.'], 'ensemble' = the CLIP authors' 7 ImageNet prompts.
   */
  classify(image, labels, options) {
    return this.#runText('classify', async () => {
      const { templates } = checkOptions(options, CLASSIFY_OPTIONS, 'classify');
      if (!Array.isArray(labels) || labels.length === 0) {
        throw new TypeError('classify: labels must be a non-empty array of strings');
      }
      const names = labels.map((label, i) => {
        if (typeof label !== 'string' || label.trim() === '') {
          throw new TypeError(`classify: label ${i} must be a non-empty string`);
        }
        return cleanText(label);
      });
      const labelEmbeddings = this.#labelEmbeddings(names, this.#templates(templates));
      const rank = (embedding) => {
        const scores = check(this.#model.zeroShot(embedding, labelEmbeddings), 'classify');
        return labels.map((label, i) => ({ label, score: scores[i] })).sort((a, b) => b.score - a.score);
      };
      const embeddings = await this.#embedImages(image, 'classify');
      return Array.isArray(embeddings) ? embeddings.map(rank) : rank(embeddings);
    });
  }

  // An embedding the caller gives, checked and L2-normalized (the model's own already are).
  #givenEmbedding(x, label) {
    const { embedDim, imageSize } = this.#info;
    if (x.length !== embedDim) {
      throw new Error(
        `${label}: a Float32Array must be an embedding of embedDim = ${embedDim} floats ` +
          `(or a preprocessed image of 3x${imageSize}x${imageSize} = ${3 * imageSize * imageSize}), got ${x.length}`,
      );
    }
    const bad = x.findIndex((v) => !Number.isFinite(v));
    if (bad !== -1) throw new Error(`${label}: the embedding has a non-finite value (${x[bad]}) at index ${bad}`);
    const norm = Math.sqrt(dot(x, x));
    if (norm === 0) throw new Error(`${label}: the embedding is all zeros, which has no direction to compare`);
    return Float64Array.from(x, (v) => v / norm);
  }

  /**
   * Cosine similarity of two inputs, each a text (string), an image input, or an embedding
   * (a Float32Array of length embedDim, normalized here).
   */
  similarity(a, b) {
    // Only a text needs the text tower: images and embeddings do not wait for it.
    const needsText = typeof a === 'string' || typeof b === 'string';
    const task = async () => {
      const embed = async (x, label) => {
        if (typeof x === 'string') return this.#embedTexts(x, label);
        if (Array.isArray(x)) throw new TypeError(`${label}: expected one input, got an array`);
        const { embedDim, imageSize } = this.#info;
        if (x instanceof Float32Array && (x.length === embedDim || x.length !== 3 * imageSize * imageSize)) {
          return this.#givenEmbedding(x, label);
        }
        return this.#embedOne(x, label);
      };
      return dot(await embed(a, 'similarity: first input'), await embed(b, 'similarity: second input'));
    };
    return needsText ? this.#runText('similarity', task) : this.#run('similarity', task);
  }

  /** Frees the model, its memory and its threads once queued calls finish. Later calls reject. */
  dispose() {
    if (this.#disposal) return this.#disposal;
    this.#disposed = true;
    // Text calls made before this wait for the text tower: it keeps streaming for them. Without
    // any, a stream still running stops now.
    const textCalls = [...this.#textCalls];
    if (textCalls.length === 0) this.#cancelLoading?.();
    const loading = this.#loading?.catch(() => {}); // a cancelled stream ends with an error
    this.#disposal = Promise.all([this.#queue, loading, ...textCalls])
      .then(() => this.#queue)
      .then(() => {
        this.#model.delete();
        this.#tokenizer?.delete();
        this.#module.endThreads();
        this.#module = this.#model = this.#tokenizer = null;
        this.#labelCache.clear();
      });
    return this.#disposal;
  }

  /** {heapBytes, usedBytes}: size of this model's WebAssembly memory, and the part in use. */
  memory() {
    return this.#module ? this.#module.memoryStats() : { heapBytes: 0, usedBytes: 0 };
  }
}

// What CLIP's tokenizer reads of OpenAI's BPE file: its version line and 48894 merges
// (Tokenizer::kMergeCount in src/tokenizer.h).
const OPENAI_BPE_LINES = 1 + 48894;

// The tokenizer's files as the module takes them (bytes, the OpenAI file decompressed as far as
// it is read), or null when there are none. Read while the module starts.
async function readTokenizerFiles(files, progress) {
  const [vocab, merges] = await Promise.all([files.read('vocab.json'), files.read('merges.txt')]);
  if (vocab && merges) {
    progress.small('vocab.json', vocab.length);
    progress.small('merges.txt', merges.length);
    return { vocab, merges };
  }
  const bpe = await files.read('bpe_simple_vocab_16e6.txt.gz');
  if (!bpe) return null;
  progress.small('bpe_simple_vocab_16e6.txt.gz', bpe.length);
  try {
    return { bpe: await gunzipLines(bpe, OPENAI_BPE_LINES) };
  } catch (error) {
    throw new Error(`bpe_simple_vocab_16e6.txt.gz: not a whole gzip file (${error.message})`, { cause: error });
  }
}

// Bytes, not strings: the module copies a Uint8Array into its memory in one go.
function createTokenizer(module, tokenizerFiles) {
  if (!tokenizerFiles) return null;
  const { vocab, merges, bpe } = tokenizerFiles;
  return check(bpe ? module.Tokenizer.fromOpenaiBpe(bpe) : module.Tokenizer.fromHfFiles(vocab, merges), 'tokenizer');
}

// Model configuration and weights file for either layout (Hugging Face / open_clip).
async function readLayout(files, progress) {
  const config = await files.read('config.json');
  if (config) {
    progress.small('config.json', config.length);
    const preprocessor = await files.read('preprocessor_config.json');
    if (preprocessor) progress.small('preprocessor_config.json', preprocessor.length);
    return { config: textOf(config), preprocessor: textOf(preprocessor), stems: ['model'] };
  }
  const openClip = await files.read('open_clip_config.json');
  if (openClip) {
    progress.small('open_clip_config.json', openClip.length);
    return { config: textOf(openClip), preprocessor: '', stems: ['open_clip_model'] };
  }
  // No config: sizes come from the tensor shapes.
  return { config: '', preprocessor: '', stems: ['model', 'open_clip_model'] };
}

// Weights files to try for a dtype, in order. f16 and pre-quantized q8 files are written by
// tools/convert_weights.py; q8 falls back to quantizing the f32 file at load.
function weightFiles(stems, dtype) {
  const variants = { f32: [''], f16: ['.fp16'], q8: ['.q8', ''] }[dtype];
  return variants.flatMap((variant) => stems.map((stem) => `${stem}${variant}.safetensors`));
}

/** The weights files load() looks for with this dtype, in its order, for either layout. */
export function weightFileNames(dtype = 'f32') {
  if (!DTYPES.includes(dtype)) throw new Error(`dtype must be one of ${DTYPES.join(', ')}, got '${dtype}'`);
  return weightFiles(['model', 'open_clip_model'], dtype);
}

function progressReporter(onProgress, name) {
  const emit = (event) => onProgress?.({ name, ...event });
  return {
    emit,
    small(file, bytes) {
      emit({ status: 'initiate', file });
      emit({ status: 'download', file });
      emit({ status: 'progress', file, loaded: bytes, total: bytes, progress: 100 });
      emit({ status: 'done', file, loaded: bytes, total: bytes });
    },
  };
}

// `where`: the place looked in, for the message when none of the files is there.
async function openWeights(files, names, where) {
  for (const name of names) {
    const file = await files.open(name);
    if (file) return { file, name };
  }
  throw new Error(`no ${names.join(' or ')} ${where}`);
}

function describeSource(source, files) {
  if (typeof source === 'string' || source instanceof URL) return `in ${files.describe('')}`;
  const given = Object.keys(source).filter((name) => source[name] !== undefined && source[name] !== null);
  return given.length ? `among the files given (${given.join(', ')})` : 'among the files given: the object has none';
}

const WINDOW_BYTES = 4 << 20; // most bytes the loader's scratch window takes at once
const PROGRESS_BYTES = 16 << 20; // progress of a local file is reported this often
// The last large tensor is packed while a window at least this large is read: reads of the small
// tensors (biases, norms) between two large ones are too short to hide it, and are synchronous.
const OVERLAP_BYTES = 1 << 20;
const PIECE_BYTES = 4 << 20; // read-ahead of large tensors, in pieces of at most this size

// Reads a local file's large tensors into their final memory (Loader.placements()) ahead of the
// windows, in file order, `file.parallel` pieces at once. The reads also make the first touch of
// that fresh memory, which costs more than the copy, and spreading it over threads is what
// shortens it (ViT-B/32 f32, 605 MB, 2 cores: 336-349 ms into fresh wasm memory one read at a
// time, 239-260 ms two 4 MB reads at a time, 66-91 ms into memory already touched; bench/README.md).
// Each piece gets a view of the memory as it is then (`heap()`), so that memory growth, which
// detaches the views of a memory that is not shared, costs a re-read rather than a failure.
// entry(address, length, position): the placement a window is, if any.
function readAhead(file, placements, heap) {
  const entries = new Map();
  const pieces = [];
  for (let i = 0; i < placements.length; i += 3) {
    const [offset, address, length] = placements.subarray(i, i + 3);
    const entry = { offset, address, length, left: 0, views: [] };
    entry.done = new Promise((resolve, reject) => Object.assign(entry, { resolve, reject }));
    entry.done.catch(() => {}); // awaited by the stream, or never if it stops first
    for (let at = 0; at < entry.length; at += PIECE_BYTES, ++entry.left) {
      pieces.push({ entry, at, length: Math.min(PIECE_BYTES, entry.length - at) });
    }
    entries.set(entry.address, entry);
  }
  let next = 0;
  let stopped = false;
  const lane = async () => {
    while (!stopped && next < pieces.length) {
      const { entry, at, length } = pieces[next++];
      try {
        const view = new Uint8Array(heap().buffer, entry.address + at, length);
        entry.views.push(view);
        const n = await file.readAt(view, entry.offset + at);
        if (n !== length) {
          throw new Error(`the file ends before byte ${entry.offset + at + length} (${n} of ${length} bytes read at ${entry.offset + at})`);
        }
        if (--entry.left === 0) entry.resolve();
      } catch (error) {
        stopped = true;
        for (const other of entries.values()) other.reject(error);
      }
    }
  };
  const lanes = Promise.all(Array.from({ length: file.parallel }, lane));
  return {
    entry: (address, length, position) => {
      const entry = entries.get(address);
      return entry && entry.length === length && entry.offset === position ? entry : null;
    },
    stop: () => {
      stopped = true;
      return lanes; // resolves once no read is in flight
    },
  };
}

// Feeds the weights to the loader through its windows in wasm memory: a local file is read
// straight into them (its large tensors ahead, readAhead), a network or Blob stream is copied
// there once. The loader converts and packs every tensor as soon as its bytes are in, a local
// file's while the next large window is read. `heap()` is the module's memory as it is now.
async function streamWeights(loader, heap, { file, name }, progress, signal, onChunk) {
  progress.emit({ status: 'initiate', file: name });
  progress.emit({ status: 'download', file: name });
  const total = file.size;
  let loaded = 0;
  const advance = (n) => {
    loaded += n;
    progress.emit({ status: 'progress', file: name, loaded, total, progress: total ? (100 * loaded) / total : 0 });
    onChunk?.();
  };
  // Windows are filled synchronously: one stays valid only until the next call into the module.
  const put = (bytes) => {
    for (let at = 0; at < bytes.length; ) {
      const window = check(loader.window(WINDOW_BYTES), name);
      const n = Math.min(window.length, bytes.length - at);
      window.set(bytes.subarray(at, at + n));
      check(loader.commit(n), name);
      at += n;
    }
    check(loader.processReady(), name);
  };
  // A source that breaks off (a dropped connection) names the file and how far it got; an
  // aborted signal keeps its own reason.
  const readFailed = (error, bytes) => {
    if (signal?.aborted) return error;
    return new Error(`${name}: reading failed after ${bytes} bytes: ${error.message}`, { cause: error });
  };
  const chunks = async function* read() {
    try {
      yield* file.chunks();
    } catch (error) {
      throw readFailed(error, loaded);
    }
  };
  let ahead = null;
  try {
    if (file.readAt) {
      let position = 0;
      let unreported = 0;
      for (;;) {
        signal?.throwIfAborted();
        const window = check(loader.window(WINDOW_BYTES), name);
        const { byteOffset, length } = window;
        const early = ahead?.entry(byteOffset, length, position);
        let n;
        if (early || length >= OVERLAP_BYTES) {
          const reading = early ? early.done.then(() => length) : file.readAt(window, position);
          const processed = loader.processReady(); // meanwhile, on this thread
          n = await reading.catch((error) => error); // settled first: it writes into the memory
          check(processed, name);
          if (n instanceof Error) throw readFailed(n, position);
          if (window.length !== length || early?.views.some((view) => view.length === 0)) {
            // The memory grew during the read (the loader reserves it to avoid that), detaching
            // the views: read the same bytes again through a view of the grown memory.
            n = file.readAtSync(new Uint8Array(heap().buffer, byteOffset, length), position);
          }
        } else {
          try {
            n = file.readAtSync(window, position);
          } catch (error) {
            throw readFailed(error, position);
          }
        }
        check(loader.commit(n), name);
        position += n;
        if (!ahead) {
          const placements = check(loader.placements(), name); // null until the header is in
          if (placements) ahead = readAhead(file, placements, heap);
        }
        if (n === 0) break;
        unreported += n;
        if (unreported >= PROGRESS_BYTES) {
          advance(unreported);
          unreported = 0;
        }
      }
      if (unreported) advance(unreported);
      await ahead?.stop();
      file.cancel(); // all read: the file is closed
    } else {
      for await (const chunk of chunks()) {
        signal?.throwIfAborted();
        put(chunk);
        advance(chunk.length);
      }
    }
    signal?.throwIfAborted();
    check(loader.finish(), name);
  } catch (error) {
    await ahead?.stop();
    file.cancel();
    throw error;
  }
  progress.emit({ status: 'done', file: name, loaded, total: total || loaded });
}

/**
 * Loads a CLIP model. See index.d.ts for the options and their defaults.
 */
export async function load(source = DEFAULT_MODEL, options = {}) {
  const settings = checkOptions(options, LOAD_OPTIONS, 'load');
  const { dtype = 'f32', threads, relaxedSimd, onProgress, cache = true, signal, waitFor = 'all' } = settings;
  if (!DTYPES.includes(dtype)) throw new Error(`dtype must be one of ${DTYPES.join(', ')}, got '${dtype}'`);
  if (waitFor !== 'all' && waitFor !== 'image') throw new Error(`waitFor must be 'all' or 'image', got '${waitFor}'`);
  if (onProgress !== undefined && typeof onProgress !== 'function') throw new TypeError('onProgress must be a function');
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new TypeError('signal must be an AbortSignal');
  if ((typeof cache !== 'boolean' && typeof cache !== 'string') || cache === '') {
    throw new TypeError('cache must be true, false or a folder path (Node)');
  }
  if (typeof source === 'string' && source.trim() === '') {
    // A directory '' would be looked up as '/', a URL '' as the page itself.
    throw new TypeError('load: the model source is an empty string; pass a URL, a directory path (Node) or an object of files');
  }
  signal?.throwIfAborted();
  await nodeModules();
  const { build, threads: threadCount, relaxedSimd: relaxed } = chooseBuild(threads, relaxedSimd);
  const files = resolveSource(source, { cache, signal });
  const name = typeof source === 'string' || source instanceof URL ? String(source) : 'memory';
  const progress = progressReporter(onProgress, name);
  // dispose() of a Clip returned before the text tower is in stops the stream (unless text calls
  // made before it wait for the tower).
  const stop = new AbortController();
  const streamSignal = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal;

  const modulePromise = createInstance(build, threadCount, relaxed);
  modulePromise.catch(() => {}); // awaited below, once the files are open; or never if they fail first
  let module = null;
  let loader = null;
  let tokenizer = null;
  let model = null;
  let weights = null;
  let streaming = null;
  const cleanUp = () => {
    weights?.file.cancel();
    model?.delete();
    loader?.delete();
    tokenizer?.delete();
    module?.endThreads();
    model = loader = tokenizer = null;
  };
  try {
    const layout = await readLayout(files, progress);
    const tokenizerFiles = readTokenizerFiles(files, progress);
    tokenizerFiles.catch(() => {}); // awaited once the weights stream
    weights = await openWeights(files, weightFiles(layout.stems, dtype), describeSource(source, files));
    module = await modulePromise;
    loader = check(module.Loader.create(dtype, threadCount, layout.config, layout.preprocessor, weights.file.size), 'load');
    // The module's worker threads load while the weights start streaming; the model runs on this
    // thread until they have (f32 ViT-B/32 at 2 threads: they take ~40 ms longer than the module).
    const threadsStarted = module.threadsLoaded().then(() => {
      if (loader) check(loader.startThreads(), 'load');
    });
    threadsStarted.catch(() => {}); // awaited below

    let imageReady;
    const imageTower = new Promise((resolve) => {
      imageReady = resolve;
    });
    const watchImageTower = () => {
      const handle = loader.model();
      if (!handle) return;
      const { hasVision, visionReady } = handle.info();
      handle.delete();
      if (hasVision && visionReady) imageReady();
    };
    streaming = (async () => {
      await streamWeights(loader, () => module.HEAPU8, weights, progress, streamSignal, waitFor === 'image' ? watchImageTower : null);
      await files.settled(); // downloads are in the cache before the load completes
      await threadsStarted; // before the loader goes
      model ??= loader.model();
      if (!model) throw new Error('load: the weights file had no header');
      loader.delete();
      loader = null;
    })();
    streaming.catch(() => {}); // its error comes through the race below
    // The tokenizer is built while the weights stream in (a local file's reads run on Node's I/O
    // threads meanwhile, and the stream mostly waits for them).
    tokenizer = createTokenizer(module, await tokenizerFiles);
    const early = await Promise.race([streaming.then(() => false), imageTower.then(() => true)]);
    await threadsStarted;
    // 'ready' comes last, once every call can be answered: all weights in, the tokenizer built.
    const ready = () => progress.emit({ status: 'ready', model: name });
    if (!early) ready();

    model = loader?.model() ?? model;
    const clip = new Clip({
      module,
      model,
      tokenizer,
      tokenizerProblem: 'this model came without tokenizer files (vocab.json + merges.txt, or bpe_simple_vocab_16e6.txt.gz)',
      build,
      relaxedSimd: relaxed,
      dtype,
      source: name,
      // The text tower keeps streaming; a failure there fails text calls, not the image tower.
      loading: early ? streaming.then(ready, (error) => {
        weights.file.cancel();
        loader?.delete();
        loader = null;
        throw error;
      }) : null,
      cancelLoading: early ? () => stop.abort(new Error('the Clip was disposed while loading')) : null,
    });
    return clip;
  } catch (error) {
    if (!module) module = await modulePromise.catch(() => null);
    if (streaming) {
      stop.abort(error); // a failed tokenizer or image tower: the stream stops before clean-up
      await streaming.catch(() => {});
    }
    cleanUp();
    throw error;
  }
}
