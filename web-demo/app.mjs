// The demo page: picks an image, runs CLIP in a Worker (the package's createWorkerClip) and shows
// the zero-shot scores. Only the package's public API is used.
//
// Classification follows CLIP's zero-shot recipe with the package's embeddings, so that each step
// can be timed on its own: the text tower runs once per label set (label embedding = normalized
// mean of its prompts' embeddings), the image tower once per image, and the scores are
// softmax(logitScale * image . label).
//
// URL parameters (all optional): model=<url>, dtype=f32|f16|q8, threads=<n>. A value the page
// cannot use is ignored, with a note saying so.

import { DEFAULT_MODEL, clearCache, createWorkerClip, weightFileNames } from './js/src/index.mjs';
import { pixelsOf, setUpImageInputs, setUpSamples, stopCamera } from './image-input.mjs';
import {
  ENSEMBLE_TEMPLATES,
  SINGLE_TEMPLATE,
  distinctLabels,
  labelEmbeddings,
  parseLines,
  parseTemplates,
  zeroShot,
} from './zero-shot.mjs';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const DEFAULT_LABELS = ['cat', 'dog', 'cup of coffee', 'astronaut', 'rocket', 'car', 'bird', 'flower'];
const TEXT_CACHE_SIZE = 16; // label sets whose embeddings are kept

const state = {
  clip: null,
  loading: null, // AbortController of the load in progress
  image: null, // {pixels: {data, width, height, channels}, name}
  imageEmbedding: null, // Float32Array of state.image
  // JSON([labels, templates]) -> {labels: those CLIP tells apart, embeddings: one per label,
  // merged: [label, the label it reads as], overlong: labels cut at the context}
  text: new Map(),
  running: false,
  again: false,
  imageTicket: 0, // the latest image asked for; an older one that decodes later is dropped
  errors: { model: null, other: null }, // what the error box shows, the model's problem first
};

// ---------- small helpers ----------

const mb = (bytes) => (bytes / 1e6).toFixed(bytes < 1e7 ? 1 : 0);
const ms = (value) => (value < 10 ? `${value.toFixed(1)} ms` : `${Math.round(value)} ms`);

function setState(name) {
  document.body.dataset.state = name;
}

// A problem with the model stays on show until another model is loaded; any other problem
// (an image, the labels) until the next thing the user does.
function showError(error, { model = false } = {}) {
  if (error) console.error(error);
  state.errors[model ? 'model' : 'other'] = error ?? null;
  const messages = [state.errors.model, state.errors.other].filter(Boolean).map((e) => e.message ?? String(e));
  const box = $('error');
  box.textContent = messages.join('\n');
  box.hidden = messages.length === 0;
  if (error) setState('error');
}

function simdSupported() {
  // (module (func (result v128) i32.const 0 i8x16.splat))
  const probe = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 8, 1, 6, 0, 65, 0, 253, 15, 11]);
  return WebAssembly.validate(probe);
}

// ---------- image input ----------

async function useImage(blob, name) {
  stopCamera(); // any image chosen replaces the live webcam
  showError(null);
  const ticket = ++state.imageTicket;
  const started = performance.now();
  let decoded;
  try {
    decoded = await pixelsOf(blob);
  } catch (error) {
    if (ticket !== state.imageTicket) return;
    // A too large image has its own plain message; anything else did not decode.
    const problem = error instanceof RangeError ? error.message : `this file could not be read as an image (${error.message})`;
    showError(new Error(`${name}: ${problem}`));
    return;
  }
  if (ticket !== state.imageTicket) return;
  const decodeMs = performance.now() - started;
  const preview = $('preview');
  if (preview.src.startsWith('blob:')) URL.revokeObjectURL(preview.src);
  preview.src = URL.createObjectURL(blob);
  preview.alt = `Selected image: ${name}`;
  preview.hidden = false;
  const zone = $('dropzone');
  zone.classList.add('has-image');
  zone.setAttribute('aria-label', `Image: ${name}. Press Enter to choose another file, or drop or paste an image here`);
  state.image = { pixels: decoded.pixels, name };
  state.imageEmbedding = null;
  clearResults();
  setTiming('decode', decodeMs);
  document.querySelectorAll('.sample').forEach((button) => button.setAttribute('aria-pressed', String(button.dataset.name === name)));
  classifySoon(0);
}

// ---------- labels and templates ----------

function setUpLabels() {
  $('labels').value = DEFAULT_LABELS.join('\n');
  const preset = $('template-preset');
  const templates = $('templates');
  let custom = null; // the templates last typed, brought back when Custom is chosen again
  const fill = () => {
    if (preset.value === 'single') templates.value = SINGLE_TEMPLATE;
    if (preset.value === 'ensemble') templates.value = ENSEMBLE_TEMPLATES.join('\n');
    if (preset.value === 'custom' && custom !== null) templates.value = custom;
    templates.rows = Math.min(7, Math.max(3, templates.value.split('\n').length));
  };
  preset.addEventListener('change', () => {
    fill();
    if (preset.value === 'custom') templates.focus();
    classifySoon();
  });
  // Editing a preset's templates makes them custom ones.
  templates.addEventListener('input', () => {
    preset.value = 'custom';
    custom = templates.value;
  });
  fill();
  for (const field of [$('labels'), templates]) {
    field.addEventListener('input', () => classifySoon(800));
    field.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        classifySoon(0);
      }
    });
  }
  $('classify-form').addEventListener('submit', (event) => {
    event.preventDefault();
    classifySoon(0);
  });
}

// ---------- classification ----------

function setTiming(step, value, note = '') {
  const cell = document.querySelector(`[data-step="${step}"]`);
  cell.textContent = value === null ? note : `${ms(value)}${note ? ` ${note}` : ''}`;
  if (value !== null) cell.dataset.ms = value.toFixed(2);
}

function showResults(ranked) {
  const list = $('results');
  list.replaceChildren();
  ranked.forEach(({ label, score }, i) => {
    const item = document.createElement('li');
    item.className = i === 0 ? 'result top' : 'result';
    item.dataset.label = label;
    item.dataset.score = String(score);
    item.title = label; // a long label is cut short on screen
    const name = document.createElement('span');
    name.className = 'name';
    name.textContent = label;
    const value = document.createElement('span');
    value.className = 'score';
    value.textContent = `${(100 * score).toFixed(1)}%`;
    const bar = document.createElement('span');
    bar.className = 'bar';
    bar.setAttribute('aria-hidden', 'true');
    const fill = document.createElement('span');
    fill.style.width = `${(100 * score).toFixed(2)}%`;
    bar.append(fill);
    item.append(name, value, bar);
    list.append(item);
  });
  $('results-empty').hidden = ranked.length > 0;
  // Screen readers hear the outcome, not every row of the list.
  const [best] = ranked;
  $('results-summary').textContent = best ? `Top label: ${best.label}, ${(100 * best.score).toFixed(1)}%.` : '';
}

// Scores and timings belong to one model and one image: they go when either is replaced.
function clearResults() {
  showResults([]);
  for (const step of ['image', 'text', 'total']) {
    const cell = document.querySelector(`[data-step="${step}"]`);
    cell.textContent = '–';
    delete cell.dataset.ms;
  }
  delete document.body.dataset.image;
}

const quote = (label) => `"${label.length > 40 ? `${label.slice(0, 40)}…` : label}"`;
const listed = (labels) => `${labels.slice(0, 3).join(', ')}${labels.length > 3 ? ` and ${labels.length - 3} more` : ''}`;

// Labels CLIP reads as another one (case, spacing, Unicode forms), scored once under the first;
// and labels whose prompts fill its whole context (the text tower never sees what is past it).
// No text: nothing to say.
function showLabelsWarning(text, context) {
  const notes = [];
  if (text?.merged.length) {
    const pairs = text.merged.map(([label, kept]) => `${quote(label)} as ${quote(kept)}`);
    notes.push(`CLIP reads ${listed(pairs)}: each is scored once, under the first.`);
  }
  if (text?.overlong.length) {
    notes.push(
      `Prompts of ${listed(text.overlong.map(quote))} reach CLIP's ${context}-token limit: ` +
        'words past it are ignored, so labels that differ only there score the same.',
    );
  }
  const note = $('labels-warning');
  note.textContent = notes.join(' ');
  note.hidden = notes.length === 0;
}

// The text side of a label set: each label's prompts, tokenized to find the labels CLIP cannot
// tell apart and those cut at its context, then embedded once per distinct label.
async function embedLabels(clip, labels, templates) {
  const context = clip.info.contextLength || 77;
  // A function replacement: a label is inserted as it is, '$&' or '$$' included.
  const prompts = labels.flatMap((label) => templates.map((template) => template.replaceAll('{}', () => label)));
  const tokens = await clip.tokenize(prompts);
  const { kept, merged } = distinctLabels(labels, tokens, templates.length);
  const ofLabel = (list, l) => list.slice(l * templates.length, (l + 1) * templates.length); // label-major
  const keptPrompts = kept.flatMap((l) => ofLabel(prompts, l));
  return {
    labels: kept.map((l) => labels[l]),
    embeddings: labelEmbeddings(await clip.embedText(keptPrompts), kept.length, templates.length),
    merged,
    overlong: kept.filter((l) => ofLabel(tokens, l).some((ids) => ids.length >= context)).map((l) => labels[l]),
    prompts: keptPrompts.length,
  };
}

let classifyTimer = null;
function classifySoon(delay = 300) {
  clearTimeout(classifyTimer);
  classifyTimer = setTimeout(classify, delay);
}

async function classify() {
  if (!state.clip || !state.image) return;
  if (state.running) {
    state.again = true;
    return;
  }
  state.running = true;
  state.again = false;
  setState('classifying');
  showError(null);
  const clip = state.clip;
  const image = state.image;
  // A result of a model or image that was replaced meanwhile is dropped, never cached.
  const current = () => state.clip === clip && state.image === image;
  try {
    const labels = parseLines($('labels').value);
    const templates = parseTemplates($('templates').value);
    const started = performance.now();

    const key = JSON.stringify([labels, templates]);
    let textMs = null;
    let text = state.text.get(key);
    if (!text) {
      const t0 = performance.now();
      text = await embedLabels(clip, labels, templates);
      textMs = performance.now() - t0;
      if (state.clip === clip) {
        if (state.text.size >= TEXT_CACHE_SIZE) state.text.delete(state.text.keys().next().value);
        state.text.set(key, text);
      }
    }

    let imageMs = null;
    let embedding = state.imageEmbedding;
    if (!embedding) {
      const t0 = performance.now();
      embedding = await clip.embedImage(image.pixels);
      imageMs = performance.now() - t0;
      if (current()) state.imageEmbedding = embedding;
    }
    if (!current()) return; // the finally block runs the newer request

    showResults(zeroShot(embedding, text.embeddings, text.labels, clip.info.logitScale));
    showLabelsWarning(text, clip.info.contextLength || 77);
    const { prompts } = text;
    setTiming('text', textMs, textMs === null ? 'cached' : `(${prompts} prompt${prompts === 1 ? '' : 's'})`);
    setTiming('image', imageMs, imageMs === null ? 'cached' : '');
    setTiming('total', performance.now() - started);
    document.body.dataset.image = image.name;
    setState('done');
  } catch (error) {
    if (state.clip !== clip) return; // the model was replaced mid-call
    // Scores of the labels before the ones refused would pass for theirs.
    clearResults();
    showLabelsWarning(null);
    showError(error);
  } finally {
    state.running = false;
    if (state.again || (state.clip && state.clip !== clip) || state.image !== image) classifySoon(0);
  }
}

// ---------- model ----------

async function cachedWeights(base) {
  if (typeof caches !== 'object') return null;
  for (const name of weightFileNames($('dtype').value)) {
    const hit = await caches.match(new URL(name, base).href).catch(() => undefined);
    if (hit) return { name, bytes: Number(hit.headers.get('content-length')) || null };
  }
  return null;
}

async function showCacheStatus(base, { afterLoad = false } = {}) {
  const line = $('cache-status');
  let hit = await cachedWeights(base);
  // The package stores the download while it streams; the entry can land just after load().
  if (afterLoad && !hit && typeof caches === 'object') line.textContent = 'Saving to this browser’s Cache Storage…';
  for (let i = 0; afterLoad && !hit && i < 40; i++) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    hit = await cachedWeights(base);
  }
  line.dataset.cached = String(Boolean(hit));
  if (hit) {
    line.textContent = `Cached in this browser${hit.bytes ? ` (${mb(hit.bytes)} MB)` : ''}: later visits load it without the network.`;
  } else if (typeof caches !== 'object') {
    line.textContent = 'No Cache Storage here: the model is downloaded on every visit.';
  } else {
    line.textContent = 'Not cached yet: downloaded once, then kept in this browser’s Cache Storage.';
  }
  return hit;
}

// The base URL in the model field; throws, naming what was typed, when it is not one.
function modelBase() {
  const value = $('model-url').value.trim() || DEFAULT_MODEL;
  let url;
  try {
    url = new URL(value, location.href);
  } catch {
    throw new Error(`The model URL "${value}" is not a valid URL.`);
  }
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return url.href;
}

// modelBase(), or null with the field's problem shown as the model's.
function checkedModelBase() {
  try {
    return modelBase();
  } catch (error) {
    showError(error, { model: true });
    return null;
  }
}

// The cache line for the model field.
function refreshCacheStatus() {
  const base = checkedModelBase();
  if (base) showCacheStatus(base);
}

// The facts of the loaded model, or none (dashes) while none is loaded.
function showRuntime(info) {
  const isolated = self.crossOriginIsolated === true;
  $('fact-isolated').textContent = isolated ? 'yes' : 'no';
  $('fact-simd').textContent = simdSupported() ? 'yes' : 'no';
  if (!info) {
    for (const id of ['fact-threads', 'fact-dtype', 'fact-build', 'fact-model']) $(id).textContent = '–';
    delete document.body.dataset.threads;
    $('test-model-note').hidden = true;
    return;
  }
  $('fact-threads').textContent = String(info.threads);
  $('fact-dtype').textContent = info.dtype;
  $('fact-build').textContent = info.build;
  $('fact-model').textContent = `${mb(info.weightBytes)} MB · ${info.imageSize} px · ${info.embedDim}-d`;
  document.body.dataset.threads = String(info.threads);
  // Released CLIP models embed into 256 or more dimensions; far smaller ones are test checkpoints.
  $('test-model-note').hidden = info.embedDim >= 128;
}

// Labels are text: a model the package loaded without tokenizer files could never score them.
// The package says so only when asked to tokenize.
async function textProblem(clip) {
  try {
    await clip.tokenize('a');
    return null;
  } catch (error) {
    return new Error(
      'it has no tokenizer files (vocab.json and merges.txt, or bpe_simple_vocab_16e6.txt.gz), ' +
        `which the labels need (${error.message})`,
    );
  }
}

async function loadModel() {
  // A URL that cannot be loaded is refused before the model in use is let go.
  const base = checkedModelBase();
  if (!base) return;
  state.loading?.abort();
  const controller = new AbortController();
  state.loading = controller;
  const previous = state.clip;
  state.clip = null;
  state.text.clear();
  state.imageEmbedding = null;
  $('classify').disabled = true;
  previous?.dispose().catch(() => {});
  clearResults();
  showRuntime(null);
  showError(null, { model: true });
  showError(null);
  setState('loading');
  document.body.dataset.model = 'loading';

  const threadsValue = $('threads').value;
  const options = {
    dtype: $('dtype').value,
    threads: threadsValue === 'auto' ? undefined : Number(threadsValue),
    cache: true,
    signal: controller.signal,
  };
  const status = $('load-status');
  const bytes = $('load-bytes');
  const bar = $('load-progress');
  const files = new Map(); // file -> {loaded, total}
  const cached = await showCacheStatus(base);
  status.textContent = cached ? 'Loading from the browser cache…' : 'Downloading…';
  bar.removeAttribute('value'); // indeterminate until the weights' size is known
  bytes.textContent = '';
  const started = performance.now();
  options.onProgress = (event) => {
    if (controller.signal.aborted || !event.file) return;
    if (event.status === 'progress' || event.status === 'done') {
      files.set(event.file, { loaded: event.loaded ?? 0, total: event.total || event.loaded || 0 });
    }
    let loaded = 0;
    let total = 0;
    for (const file of files.values()) {
      loaded += file.loaded;
      total += file.total;
    }
    // The small config and tokenizer files come first: a fraction of them alone would fill the
    // bar, then drop back once the weights start.
    const weightsSeen = [...files.keys()].some((file) => file.endsWith('.safetensors'));
    if (total > 0 && weightsSeen) {
      bar.value = loaded / total;
      bytes.textContent = `${mb(loaded)} / ${mb(total)} MB`;
    }
    if (event.status === 'progress') status.textContent = `${cached ? 'Reading' : 'Downloading'} ${event.file}…`;
  };

  try {
    const clip = await createWorkerClip(base, options);
    const problem = controller.signal.aborted ? null : await textProblem(clip);
    if (controller.signal.aborted || problem) {
      clip.dispose().catch(() => {});
      if (problem) throw problem;
      return;
    }
    state.clip = clip;
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    status.textContent = `Ready · loaded in ${seconds} s`;
    bar.value = 1;
    showRuntime(clip.info);
    $('classify').disabled = false;
    setState('ready');
    document.body.dataset.model = 'ready';
    showCacheStatus(base, { afterLoad: true });
    classifySoon(0);
  } catch (error) {
    if (controller.signal.aborted) return;
    status.textContent = 'Not loaded';
    bar.value = 0;
    bytes.textContent = '';
    document.body.dataset.model = 'failed';
    showError(new Error(`Loading the model from ${base} failed: ${error.message}`), { model: true });
  } finally {
    if (state.loading === controller) state.loading = null;
  }
}

// Selects the option a URL parameter names. A value with no option, or a disabled one, leaves the
// default selected; the return value then says why.
function pickFromParam(select, name, unknown, disabled = 'not available here') {
  const value = params.get(name);
  if (value === null || value === '') return null;
  const option = [...select.options].find((o) => o.value === value);
  if (option && !option.disabled) {
    select.value = value;
    return null;
  }
  const why = option ? disabled : unknown;
  const shown = value.length > 24 ? `${value.slice(0, 24)}…` : value;
  return `The URL parameter ${name}=${shown} was ignored (${why}); using ${select.selectedOptions[0]?.text ?? 'the default'}.`;
}

async function setUpModel() {
  let config = null;
  try {
    const response = await fetch('demo-config.json');
    if (response.ok) config = await response.json();
  } catch {
    // A plain static host has no config: the hub is the default.
  }
  const list = $('model-list');
  for (const model of config?.models ?? []) {
    const option = document.createElement('option');
    option.value = model.url;
    option.label = model.name;
    list.append(option);
  }
  list.append(Object.assign(document.createElement('option'), { value: DEFAULT_MODEL, label: 'OpenAI ViT-B/32 (Hugging Face hub)' }));
  $('model-url').value = params.get('model') ?? config?.defaultModel ?? DEFAULT_MODEL;

  const isolated = self.crossOriginIsolated === true;
  const cores = navigator.hardwareConcurrency || 1;
  const threads = $('threads');
  const counts = [1, 2, 4, 8, 16].filter((n) => n <= Math.max(cores, 1));
  threads.append(new Option(`Auto (${isolated ? Math.min(cores, 8) : 1})`, 'auto'));
  for (const n of counts) {
    const option = new Option(String(n), String(n));
    option.disabled = n > 1 && !isolated;
    threads.append(option);
  }
  const ignored = [
    pickFromParam($('dtype'), 'dtype', 'the weights are f32, f16 or q8'),
    pickFromParam(threads, 'threads', `this page offers auto or ${counts.join(', ')}`, 'more than one thread needs a cross-origin isolated page'),
  ].filter(Boolean);
  const paramsNote = $('params-note');
  paramsNote.textContent = ignored.join(' ');
  paramsNote.hidden = ignored.length === 0;
  showRuntime(null);
  if (!isolated) {
    const note = $('isolation-note');
    note.textContent =
      'This page is not cross-origin isolated (it was served without the Cross-Origin-Opener-Policy and ' +
      'Cross-Origin-Embedder-Policy headers), so SharedArrayBuffer is unavailable and CLIP runs on one thread.';
    note.hidden = false;
  }

  $('model-form').addEventListener('submit', (event) => {
    event.preventDefault();
    loadModel();
  });
  // Another dtype or thread count takes a new load; do it at once once a model was asked for
  // (loaded, loading, or failed: the other choice may be the one that works).
  for (const select of [$('dtype'), $('threads')]) {
    select.addEventListener('change', () => {
      if (document.body.dataset.model) loadModel();
      else if (select.id === 'dtype') refreshCacheStatus(); // another weights file
    });
  }
  $('clear-cache').addEventListener('click', async () => {
    await clearCache();
    refreshCacheStatus();
  });

  // Load at once when the files are near (same origin) or already cached; a first download
  // from the hub (about 600 MB in f32) waits for the button.
  const base = checkedModelBase();
  if (!base) return;
  if (new URL(base).origin === location.origin || (await cachedWeights(base))) {
    loadModel();
  } else {
    await showCacheStatus(base);
    $('load-status').textContent = 'Press "Load model" to download it once (about 600 MB in f32).';
  }
}

// ---------- offline ----------

async function setUpOffline() {
  if (!('serviceWorker' in navigator)) return;
  navigator.serviceWorker.addEventListener('message', (event) => {
    if (event.data?.type === 'precached') document.body.dataset.offline = event.data.ok ? 'ready' : 'partial';
  });
  try {
    await navigator.serviceWorker.register('sw.js');
  } catch (error) {
    console.warn('service worker not registered:', error.message);
  }
}

const imageHandlers = { use: useImage, fail: showError, hasImage: () => Boolean(state.image) };
setUpImageInputs(imageHandlers);
setUpLabels();
setUpSamples(imageHandlers);
setUpOffline();
setUpModel().catch(showError);
