// CLIP's zero-shot recipe over embeddings the package returns (already L2-normalized).

export const SINGLE_TEMPLATE = 'a photo of a {}.';

// The 7 prompts the CLIP authors selected for ImageNet (notebook "Prompt_Engineering_for_ImageNet").
export const ENSEMBLE_TEMPLATES = [
  'itap of a {}.',
  'a bad photo of the {}.',
  'a origami {}.',
  'a photo of the large {}.',
  'a {} in a video game.',
  'art of the {}.',
  'a photo of the small {}.',
];

// Non-empty trimmed lines, first occurrence kept (a repeated label would split its own score).
export function parseLines(text) {
  const seen = new Set();
  const lines = [];
  for (const line of text.split('\n')) {
    const value = line.trim();
    if (value && !seen.has(value)) {
      seen.add(value);
      lines.push(value);
    }
  }
  if (lines.length === 0) throw new Error('Write at least one label, one per line.');
  return lines;
}

export function parseTemplates(text) {
  const templates = text.split('\n').map((line) => line.trim()).filter(Boolean);
  if (templates.length === 0) throw new Error('Write at least one prompt template, such as "a photo of a {}."');
  const bad = templates.find((template) => !template.includes('{}'));
  if (bad) throw new Error(`The template "${bad}" has no {} where the label goes.`);
  return templates;
}

// Labels CLIP can tell apart: `tokens` holds each label's prompts' token ids (labels x
// templates, label-major, as tokenize() gives them). Labels whose prompts all tokenize the same
// (case, spacing and Unicode forms the tokenizer folds) would get one embedding and split its
// score: the first is kept. Returns {kept: label indices, merged: [label, the label kept for it]}.
export function distinctLabels(labels, tokens, templateCount) {
  const first = new Map(); // the prompts' token ids -> index of the first label with them
  const kept = [];
  const merged = [];
  labels.forEach((label, l) => {
    const key = tokens
      .slice(l * templateCount, (l + 1) * templateCount)
      .map((ids) => ids.join(','))
      .join('|');
    if (first.has(key)) {
      merged.push([label, labels[first.get(key)]]);
    } else {
      first.set(key, l);
      kept.push(l);
    }
  });
  return { kept, merged };
}

function normalize(vector) {
  let sum = 0;
  for (const v of vector) sum += v * v;
  const scale = sum > 0 ? 1 / Math.sqrt(sum) : 0;
  return vector.map((v) => v * scale);
}

// One embedding per label: the normalized mean of its templates' embeddings. `prompts` holds
// labels x templates embeddings, label-major.
export function labelEmbeddings(prompts, labelCount, templateCount) {
  if (prompts.length !== labelCount * templateCount) {
    throw new Error(`expected ${labelCount * templateCount} prompt embeddings, got ${prompts.length}`);
  }
  const out = [];
  for (let l = 0; l < labelCount; l++) {
    const mean = new Float32Array(prompts[0].length);
    for (let t = 0; t < templateCount; t++) {
      const e = prompts[l * templateCount + t];
      for (let i = 0; i < mean.length; i++) mean[i] += e[i] / templateCount;
    }
    out.push(normalize(mean));
  }
  return out;
}

// [{label, score}] sorted by score: softmax(logitScale * image . label) over the labels.
export function zeroShot(image, labels, names, logitScale) {
  const logits = labels.map((label) => {
    let dot = 0;
    for (let i = 0; i < label.length; i++) dot += image[i] * label[i];
    return logitScale * dot;
  });
  const top = Math.max(...logits);
  const exps = logits.map((logit) => Math.exp(logit - top));
  const sum = exps.reduce((a, b) => a + b, 0);
  return names.map((label, i) => ({ label, score: exps[i] / sum })).sort((a, b) => b.score - a.score);
}
