#!/usr/bin/env node
// A small static server for the web demo, with no dependencies. It serves:
//   /          web-demo/                 (the page)
//   /js/       js/                       (the clip-wasm package; its wasm build lies in js/dist/,
//                                         or in --dist DIR)
//   /models/   a models directory        (--models DIR; default: the repo's models/ when it holds
//                                         clip-vit-base-patch32)
//   /demo-config.json                    what the page needs to know: isolation, local models
// Threads need a cross-origin isolated page (COOP same-origin + COEP require-corp); --no-isolation
// leaves those headers out, and the page falls back to one thread and says so. It listens on
// 127.0.0.1 only and answers only Host names that point there (no DNS rebinding).
//
// usage: node web-demo/server.mjs [--port N] [--models DIR] [--dist DIR] [--no-isolation] [--quiet]
//   --port 0 picks a free port. The first line printed is "clip-wasm demo: <url>".

import { createReadStream, promises as fs } from 'node:fs';
import { createServer } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const HOST = '127.0.0.1';
const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..');
const REAL_MODEL = 'clip-vit-base-patch32';

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.bmp': 'image/bmp',
  '.webp': 'image/webp',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.gz': 'application/gzip', // served as it is (no Content-Encoding): the package gunzips it
  '.safetensors': 'application/octet-stream',
  '.bin': 'application/octet-stream',
  '.onnx': 'application/octet-stream',
};
const mimeOf = (file) =>
  MIME[path.extname(file).toLowerCase()] ??
  (/^(LICENSE|README|NOTICE)$/.test(path.basename(file)) ? 'text/plain; charset=utf-8' : 'application/octet-stream');

// Model files may come from the Hugging Face hub; nothing else may leave the page's origin.
const HUB_HOSTS = 'https://huggingface.co https://*.huggingface.co https://*.hf.co';
const CSP = [
  "default-src 'self'",
  // Embind (Emscripten's C++ bindings) builds its wrappers with new Function.
  "script-src 'self' 'unsafe-eval' 'wasm-unsafe-eval'",
  "worker-src 'self' blob:",
  `connect-src 'self' ${HUB_HOSTS}`,
  "img-src 'self' blob: data:",
  "media-src 'self' blob: mediastream:",
  "style-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

function options() {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '8080' },
      models: { type: 'string' },
      dist: { type: 'string' },
      'no-isolation': { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log('usage: node web-demo/server.mjs [--port N] [--models DIR] [--dist DIR] [--no-isolation] [--quiet]');
    process.exit(0);
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port: not a port number: ${values.port}`);
  return { port, models: values.models, dist: values.dist, isolated: !values['no-isolation'], quiet: values.quiet };
}

async function isDirectory(dir) {
  return (await fs.stat(dir).catch(() => null))?.isDirectory() ?? false;
}

async function exists(file) {
  return (await fs.stat(file).catch(() => null)) !== null;
}

// Folders of `dir` that hold a loadable model (Hugging Face or open_clip layout).
async function listModels(dir) {
  if (!dir) return [];
  const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
  const found = [];
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (entry.name.startsWith('.')) continue;
    const folder = path.join(dir, entry.name);
    if (!(await isDirectory(folder))) continue;
    if ((await exists(path.join(folder, 'config.json'))) || (await exists(path.join(folder, 'open_clip_config.json')))) {
      found.push(entry.name);
    }
  }
  return found;
}

// URL paths of the files under `dir` (no dot files), for the page's offline copy.
async function listFiles(dir, prefix, skip = new Set()) {
  const out = [];
  const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (entry.name.startsWith('.') || skip.has(entry.name)) continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await listFiles(full, `${prefix}${entry.name}/`)));
    else if (entry.isFile()) out.push(prefix + encodeURIComponent(entry.name));
  }
  return out;
}

// URL path -> file under `root`, or null when the path tries to leave it. Each segment is decoded
// on its own, so an encoded slash or backslash cannot build a '..' the URL parser did not see.
function resolveInside(root, urlPath) {
  const segments = [];
  for (const raw of urlPath.split('/')) {
    if (raw === '') continue;
    let segment;
    try {
      segment = decodeURIComponent(raw);
    } catch {
      return null;
    }
    if (segment === '.' || segment === '..' || segment.startsWith('.') || /[\\/\0]/.test(segment)) return null;
    segments.push(segment);
  }
  const file = path.resolve(root, ...segments);
  const relative = path.relative(root, file);
  if (relative.startsWith('..') || path.isAbsolute(relative)) return null;
  return file;
}

function securityHeaders(isolated) {
  const headers = {
    'Cross-Origin-Resource-Policy': 'same-origin',
    'Content-Security-Policy': CSP,
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'Permissions-Policy': 'camera=(self), microphone=(), geolocation=()',
  };
  if (isolated) {
    headers['Cross-Origin-Opener-Policy'] = 'same-origin';
    headers['Cross-Origin-Embedder-Policy'] = 'require-corp';
  }
  return headers;
}

// "bytes=a-b" -> {start, end} within size; null for no or unsupported (multi-range) ranges;
// false when the range cannot be satisfied.
function parseRange(header, size) {
  const match = /^bytes=(\d*)-(\d*)$/.exec(header ?? '');
  if (!match || (match[1] === '' && match[2] === '')) return null;
  let start;
  let end;
  if (match[1] === '') {
    start = Math.max(0, size - Number(match[2]));
    end = size - 1;
  } else {
    start = Number(match[1]);
    end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  }
  return start <= end && start < size ? { start, end } : false;
}

function createHandler({ mounts, isolated, config, pageFiles, log }) {
  const base = securityHeaders(isolated);

  function send(res, status, body, headers = {}) {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, {
      ...base,
      'Content-Type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8',
      'Content-Length': Buffer.byteLength(text),
      'Cache-Control': 'no-cache',
      ...headers,
    });
    res.end(res.req.method === 'HEAD' ? undefined : text);
  }

  async function serveFile(req, res, file) {
    let stat = await fs.stat(file).catch(() => null);
    if (stat?.isDirectory()) {
      file = path.join(file, 'index.html');
      stat = await fs.stat(file).catch(() => null);
    }
    if (!stat?.isFile()) return send(res, 404, 'not found\n');

    const etag = `W/"${stat.size.toString(16)}-${Math.floor(stat.mtimeMs).toString(16)}"`;
    const headers = {
      ...base,
      'Content-Type': mimeOf(file),
      ETag: etag,
      'Last-Modified': stat.mtime.toUTCString(),
      // Revalidate every time (a 304 is cheap); the package keeps its own copy of model files.
      'Cache-Control': 'no-cache',
      'Accept-Ranges': 'bytes',
    };
    const tags = (req.headers['if-none-match'] ?? '').split(',').map((tag) => tag.trim());
    if (tags.includes(etag) || tags.includes('*')) {
      res.writeHead(304, headers);
      return res.end();
    }
    let start = 0;
    let end = stat.size - 1;
    let status = 200;
    const range = req.headers.range ? parseRange(req.headers.range, stat.size) : null;
    if (range === false) return send(res, 416, 'range not satisfiable\n', { 'Content-Range': `bytes */${stat.size}` });
    if (range) {
      ({ start, end } = range);
      status = 206;
      headers['Content-Range'] = `bytes ${start}-${end}/${stat.size}`;
    }
    headers['Content-Length'] = Math.max(0, end - start + 1);
    res.writeHead(status, headers);
    if (req.method === 'HEAD' || stat.size === 0) return res.end();
    const stream = createReadStream(file, { start, end });
    stream.on('error', () => res.destroy());
    res.on('close', () => stream.destroy());
    stream.pipe(res);
  }

  return async (req, res) => {
    const started = Date.now();
    res.on('finish', () => log(`${res.statusCode} ${req.method} ${req.url} ${Date.now() - started} ms`));
    try {
      const host = (req.headers.host ?? '').replace(/:\d+$/, '');
      if (!['127.0.0.1', 'localhost', '[::1]'].includes(host)) return send(res, 421, 'unknown host\n');
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'method not allowed\n', { Allow: 'GET, HEAD' });
      const url = new URL(req.url, 'http://127.0.0.1');
      if (url.pathname === '/demo-config.json') return send(res, 200, { ...config, files: await pageFiles() });
      const mount = mounts.find(([prefix]) => url.pathname.startsWith(prefix));
      if (!mount || !mount[1]) return send(res, 404, 'not found\n');
      const file = resolveInside(mount[1], url.pathname.slice(mount[0].length));
      if (!file) return send(res, 403, 'forbidden\n');
      await serveFile(req, res, file);
    } catch (error) {
      if (!res.headersSent) send(res, 500, `server error: ${error.message}\n`);
      else res.destroy();
    }
  };
}

// Starts the server; resolves to {server, url}. Exported for tools that embed it.
export async function startServer({ port = 8080, models, dist, isolated = true, quiet = false } = {}) {
  let modelsDir = models ? path.resolve(models) : null;
  if (!modelsDir && (await isDirectory(path.join(repo, 'models', REAL_MODEL)))) modelsDir = path.join(repo, 'models');
  if (modelsDir && !(await isDirectory(modelsDir))) throw new Error(`--models: not a directory: ${modelsDir}`);
  const localModels = await listModels(modelsDir);
  const preferred = localModels.includes(REAL_MODEL) ? REAL_MODEL : models ? localModels[0] : undefined;
  const config = {
    isolated,
    models: localModels.map((name) => ({ name, url: `/models/${name}/` })),
    // null: the page uses the package's documented Hugging Face hub URL.
    defaultModel: preferred ? `/models/${preferred}/` : null,
  };
  const distDir = path.resolve(dist ?? path.join(repo, 'js', 'dist'));
  const mounts = [
    ['/js/dist/', distDir],
    ['/js/', path.join(repo, 'js')],
    ['/models/', modelsDir],
    ['/', here],
  ];
  const log = quiet ? () => {} : (line) => console.log(line);
  // What the page needs offline: itself, the package's modules and its wasm build.
  const pageFiles = async () => [
    ...(await listFiles(here, '', new Set(['server.mjs', 'sw.js']))),
    ...(await listFiles(path.join(repo, 'js', 'src'), 'js/src/')),
    ...(await listFiles(distDir, 'js/dist/')),
  ];
  const server = createServer(createHandler({ mounts, isolated, config, pageFiles, log }));
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, HOST, resolve);
  });
  return { server, url: `http://${HOST}:${server.address().port}/`, config, modelsDir };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const { server, url, config, modelsDir } = await startServer(options());
    console.log(`clip-wasm demo: ${url}`);
    console.log(`  models: ${modelsDir ?? '(none here: the page loads from the Hugging Face hub)'}` +
      (config.models.length ? ` [${config.models.map((m) => m.name).join(', ')}]` : ''));
    console.log(`  cross-origin isolation: ${config.isolated ? 'on (threads)' : 'off (--no-isolation: one thread)'}`);
    const stop = () => {
      server.close(() => process.exit(0));
      server.closeAllConnections();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  } catch (error) {
    console.error(`server: ${error.message}`);
    process.exit(1);
  }
}
