// web-demo/server.mjs over raw HTTP: isolation headers, MIME types, path traversal, Host check,
// loopback-only listening, ranges, revalidation, and the page config.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { startServer } from '../../web-demo/server.mjs';

// GET (or another method) with the path sent exactly as given: no client-side normalization.
function request(port, rawPath, { method = 'GET', headers = {}, host = '127.0.0.1' } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port, path: rawPath, method, headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('demo server', () => {
  let models;
  let isolated;
  let plain;
  const weights = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));

  before(async () => {
    models = mkdtempSync(path.join(tmpdir(), 'clip-demo-models-'));
    mkdirSync(path.join(models, 'tiny'));
    writeFileSync(path.join(models, 'tiny', 'config.json'), '{}');
    writeFileSync(path.join(models, 'tiny', 'model.safetensors'), weights);
    writeFileSync(path.join(models, 'tiny', 'module.wasm'), Buffer.from([0, 97, 115, 109, 1, 0, 0, 0]));
    writeFileSync(path.join(models, 'tiny', 'glue.mjs'), 'export {};\n');
    writeFileSync(path.join(models, 'tiny', '.secret'), 'hidden');
    mkdirSync(path.join(models, 'not-a-model'));
    isolated = await startServer({ port: 0, models, quiet: true });
    plain = await startServer({ port: 0, models, isolated: false, quiet: true });
  });

  after(async () => {
    for (const s of [isolated, plain]) {
      s?.server.closeAllConnections();
      await new Promise((resolve) => (s ? s.server.close(resolve) : resolve()));
    }
    rmSync(models, { recursive: true, force: true });
  });

  const port = (s) => s.server.address().port;

  test('listens on 127.0.0.1 only', async () => {
    assert.equal(isolated.server.address().address, '127.0.0.1');
    // Another loopback address reaches a server bound to all interfaces, never this one.
    await assert.rejects(request(port(isolated), '/', { host: '127.0.0.2' }), { code: 'ECONNREFUSED' });
  });

  test('sends the cross-origin isolation headers, and leaves COOP/COEP out with --no-isolation', async () => {
    const page = await request(port(isolated), '/');
    assert.equal(page.status, 200);
    assert.equal(page.headers['cross-origin-opener-policy'], 'same-origin');
    assert.equal(page.headers['cross-origin-embedder-policy'], 'require-corp');
    assert.equal(page.headers['cross-origin-resource-policy'], 'same-origin');
    assert.match(page.headers['content-type'], /^text\/html/);
    assert.match(page.headers['content-security-policy'], /default-src 'self'/);
    assert.match(page.body.toString(), /<title>/);

    const open = await request(port(plain), '/');
    assert.equal(open.status, 200);
    assert.equal(open.headers['cross-origin-opener-policy'], undefined);
    assert.equal(open.headers['cross-origin-embedder-policy'], undefined);
    assert.equal(open.headers['cross-origin-resource-policy'], 'same-origin');
  });

  test('serves JavaScript modules and WebAssembly with their MIME types', async () => {
    const cases = [
      ['/models/tiny/glue.mjs', /^text\/javascript/],
      ['/models/tiny/module.wasm', /^application\/wasm$/],
      ['/models/tiny/config.json', /^application\/json/],
      ['/models/tiny/model.safetensors', /^application\/octet-stream$/],
      ['/app.mjs', /^text\/javascript/],
      ['/style.css', /^text\/css/],
      ['/js/src/index.mjs', /^text\/javascript/],
    ];
    for (const [file, type] of cases) {
      const response = await request(port(isolated), file);
      assert.equal(response.status, 200, file);
      assert.match(response.headers['content-type'], type, file);
      assert.equal(response.headers['x-content-type-options'], 'nosniff');
    }
  });

  test('blocks path traversal and hidden files', async () => {
    const attempts = [
      '/../../../../etc/passwd',
      '/models/../../../../etc/passwd',
      '/models/..%2f..%2f..%2f..%2fetc%2fpasswd',
      '/models/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
      '/models/tiny/..%5c..%5c..%5cetc%5cpasswd',
      '/js/..%2f..%2fCMakeLists.txt',
      '/models/tiny/.secret',
      '/models/tiny/%2esecret',
      '/models/%00/x',
      '/models/%zz',
    ];
    for (const attempt of attempts) {
      const response = await request(port(isolated), attempt);
      assert.ok([403, 404, 400].includes(response.status), `${attempt}: HTTP ${response.status}`);
      assert.doesNotMatch(response.body.toString(), /root:|hidden|cmake_minimum_required/, attempt);
    }
  });

  test('answers only Host names that point to this machine, and only GET/HEAD', async () => {
    assert.equal((await request(port(isolated), '/', { headers: { host: 'attacker.example' } })).status, 421);
    assert.equal((await request(port(isolated), '/', { headers: { host: `localhost:${port(isolated)}` } })).status, 200);
    const post = await request(port(isolated), '/', { method: 'POST' });
    assert.equal(post.status, 405);
    const head = await request(port(isolated), '/models/tiny/model.safetensors', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(Number(head.headers['content-length']), weights.length);
    assert.equal(head.body.length, 0);
  });

  test('serves byte ranges and revalidates by ETag', async () => {
    const file = '/models/tiny/model.safetensors';
    const part = await request(port(isolated), file, { headers: { range: 'bytes=10-19' } });
    assert.equal(part.status, 206);
    assert.equal(part.headers['content-range'], `bytes 10-19/${weights.length}`);
    assert.deepEqual(part.body, weights.subarray(10, 20));
    const tail = await request(port(isolated), file, { headers: { range: 'bytes=-5' } });
    assert.deepEqual(tail.body, weights.subarray(weights.length - 5));
    assert.equal((await request(port(isolated), file, { headers: { range: 'bytes=5000-' } })).status, 416);

    const whole = await request(port(isolated), file);
    assert.deepEqual(whole.body, weights);
    assert.ok(whole.headers.etag);
    const again = await request(port(isolated), file, { headers: { 'if-none-match': whole.headers.etag } });
    assert.equal(again.status, 304);
    assert.equal(again.body.length, 0);
  });

  test('tells the page which models it has and which files to keep offline', async () => {
    const config = JSON.parse((await request(port(isolated), '/demo-config.json')).body);
    assert.deepEqual(config.models, [{ name: 'tiny', url: '/models/tiny/' }]);
    assert.equal(config.defaultModel, '/models/tiny/');
    assert.equal(config.isolated, true);
    for (const file of ['index.html', 'app.mjs', 'style.css', 'js/src/index.mjs', 'js/src/worker.mjs']) {
      assert.ok(config.files.includes(file), `${file} is listed`);
    }
    assert.ok(!config.files.includes('server.mjs'));
    assert.equal(JSON.parse((await request(port(plain), '/demo-config.json')).body).isolated, false);
  });
});
