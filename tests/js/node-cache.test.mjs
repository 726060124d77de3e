// Node's download cache: a model loaded from a URL is kept in a folder, revalidated by ETag,
// read from the file on the next load, never kept when the download fails, and removed by
// clearCache(dir).

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';

import { teeBounded } from '../../js/src/cache.mjs';
import { clearCache, load } from '../../js/src/index.mjs';
import { FIXTURES, ROOT, cosine, modelDir, serveFixtures } from './helpers.mjs';

describe('Node download cache', () => {
  let server, dir;
  let gone = false;
  const weights = '/tiny-hf/model.safetensors';
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'clip-wasm-cache-'));
    const file = (name) => readFileSync(`${modelDir('tiny-hf')}/${name}`);
    const plain = (body) => (req, res) => res.writeHead(200, { 'Content-Length': body.length }).end(body);
    const routes = {
      // Without ETags, and a copy whose weights break off halfway.
      '/cut/tiny-hf/model.safetensors': (req, res) => {
        const body = file('model.safetensors');
        res.writeHead(200, { 'Content-Length': body.length });
        res.write(body.subarray(0, body.length >> 1), () => res.destroy());
      },
    };
    // Weights that the server stops having once `gone` is set.
    routes['/gone/tiny-hf/model.safetensors'] = (req, res) => {
      if (gone) return res.writeHead(404).end('not found');
      const body = file('model.safetensors');
      res.writeHead(200, { 'Content-Length': body.length, ETag: '"gone-test"' }).end(body);
    };
    for (const name of ['config.json', 'vocab.json', 'merges.txt', 'model.safetensors']) {
      if (name !== 'model.safetensors') routes[`/gone/tiny-hf/${name}`] = plain(file(name));
      routes[`/plain/tiny-hf/${name}`] = plain(file(name));
      if (name !== 'model.safetensors') routes[`/cut/tiny-hf/${name}`] = plain(file(name));
    }
    server = await serveFixtures(routes);
  });
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const weightRequests = (path) => server.requests.filter((r) => r.path === path);
  // The cache file of a URL: <sha256 of the URL>.body.
  const entry = (path) => join(dir, `${createHash('sha256').update(`${server.url}${path}`).digest('hex')}.body`);

  test('stored, revalidated by ETag and read from the file on the next load', async () => {
    const first = await load(`${server.url}/tiny-hf/`, { threads: 1, cache: dir });
    const expected = await first.embedText('a photo of a cat');
    first.dispose();
    assert.equal(statSync(entry(weights)).size, statSync(`${modelDir('tiny-hf')}/model.safetensors`).size);
    assert.ok(readdirSync(dir).every((n) => !n.endsWith('.tmp')), 'no temporary files left');

    const before = weightRequests(weights).length;
    const second = await load(`${server.url}/tiny-hf/`, { threads: 1, cache: dir });
    assert.ok(cosine(await second.embedText('a photo of a cat'), expected) > 0.99999);
    second.dispose();
    const revalidations = weightRequests(weights).slice(before);
    assert.equal(revalidations.length, 1);
    assert.ok(revalidations[0].headers['if-none-match'], 'conditional request');

    // cache: false bypasses it; the default folder comes from CLIP_WASM_CACHE_DIR.
    const uncached = await load(`${server.url}/tiny-hf/`, { threads: 1, cache: false });
    uncached.dispose();
    assert.equal(weightRequests(weights).at(-1).headers['if-none-match'], undefined);

    assert.equal(await clearCache(dir), true);
    assert.deepEqual(readdirSync(dir), []);
  });

  test('a download cut short is not kept, and the load fails naming the file', async () => {
    await clearCache(dir);
    await assert.rejects(load(`${server.url}/cut/tiny-hf/`, { threads: 1, cache: dir }), /model\.safetensors/);
    assert.ok(!existsSync(entry('/cut/tiny-hf/model.safetensors')), 'the cut download is not an entry');
    assert.ok(existsSync(entry('/cut/tiny-hf/config.json')), 'whole files are');
    // The failed write removes its temporary file by itself, shortly after the load rejects.
    const leftovers = () => readdirSync(dir).filter((n) => n.endsWith('.tmp'));
    for (let waited = 0; leftovers().length && waited < 5000; waited += 50) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.deepEqual(leftovers(), [], 'no temporary files left');
  });

  test('a file the server no longer has (404) leaves the cache, and the load says it is missing', async () => {
    await clearCache(dir);
    gone = false;
    (await load(`${server.url}/gone/tiny-hf/`, { threads: 1, cache: dir })).dispose();
    assert.ok(existsSync(entry('/gone/tiny-hf/model.safetensors')));
    gone = true;
    await assert.rejects(load(`${server.url}/gone/tiny-hf/`, { threads: 1, cache: dir }), /no model\.safetensors/);
    assert.ok(!existsSync(entry('/gone/tiny-hf/model.safetensors')), 'the entry is removed');
  });

  test('files a server does not have are remembered: a cached model loads offline', async () => {
    // open_clip layout (no config.json, no tokenizer JSON) and q8 from a repository without
    // model.q8.safetensors: each load asks for files that answer 404.
    const own = await serveFixtures();
    const loads = [
      [`${own.url}/tiny-openclip/`, { threads: 1, cache: dir }],
      [`${own.url}/tiny-hf/`, { threads: 1, cache: dir, dtype: 'q8' }],
    ];
    const online = [];
    for (const [url, options] of loads) {
      const clip = await load(url, options);
      online.push(await clip.embedText('a photo of a cat'));
      await clip.dispose();
    }
    const absent = own.requests.filter((r) => r.path.endsWith('config.json') || r.path.endsWith('.q8.safetensors'));
    assert.ok(absent.length > 0);
    await own.close(); // offline from here: its port refuses connections
    for (const [i, [url, options]] of loads.entries()) {
      const clip = await load(url, options);
      assert.deepEqual(await clip.embedText('a photo of a cat'), online[i], url);
      await clip.dispose();
    }
  });

  test('a recorded absence is asked again: a file that appears on the server is used', async () => {
    await clearCache(dir);
    let published = false;
    const hf = (name) => readFileSync(`${modelDir('tiny-hf')}/${name}`);
    const routes = {};
    for (const name of ['config.json', 'vocab.json', 'merges.txt', 'model.safetensors']) {
      routes[`/late/${name}`] = (req, res) => res.writeHead(200, { 'Content-Length': hf(name).length }).end(hf(name));
    }
    // Its normalization differs from the defaults a model without one gets.
    routes['/late/preprocessor_config.json'] = (req, res) => {
      if (!published) return res.writeHead(404).end('not found');
      res.writeHead(200, { 'Content-Length': hf('preprocessor_config.json').length }).end(hf('preprocessor_config.json'));
    };
    const own = await serveFixtures(routes);
    const photo = readFileSync(join(FIXTURES, 'images/photo.png'));
    const first = await load(`${own.url}/late/`, { threads: 1, cache: dir });
    const withDefaults = await first.embedImage(photo);
    await first.dispose();
    published = true;
    const second = await load(`${own.url}/late/`, { threads: 1, cache: dir });
    assert.ok(cosine(await second.embedImage(photo), withDefaults) < 0.99999, 'the published config is used');
    await second.dispose();
    await own.close();
  });

  test('a server that cannot be reached: the error names the URL and the reason', async () => {
    const closed = await serveFixtures();
    await closed.close(); // its port now refuses connections
    await assert.rejects(
      load(`${closed.url}/tiny-hf/`, { threads: 1, cache: false }),
      (error) => error.message.includes(`${closed.url}/tiny-hf/config.json could not be fetched: ECONNREFUSED`),
    );
  });

  test('a cache folder that cannot be made: an error naming it when asked for, no cache by default', async () => {
    const file = join(dir, 'not-a-folder');
    writeFileSync(file, 'x');
    await assert.rejects(load(`${server.url}/tiny-hf/`, { threads: 1, cache: join(file, 'cache') }), (error) =>
      error.message.startsWith(`cache folder ${join(file, 'cache')} cannot be used (ENOTDIR`),
    );
    // The default folder under $XDG_CACHE_HOME: the load goes on without a cache, with a warning.
    const script = `import { load } from ${JSON.stringify(join(ROOT, 'js/src/index.mjs'))};
      const clip = await load(${JSON.stringify(`${server.url}/tiny-hf/`)}, { threads: 1 });
      console.log(JSON.stringify(Array.from(await clip.embedText('a photo of a cat'))));
      await clip.dispose();`;
    const env = { ...process.env, XDG_CACHE_HOME: file };
    delete env.CLIP_WASM_CACHE_DIR;
    // Asynchronous: the server answering the child runs in this process.
    const run = await new Promise((resolve) =>
      execFile(process.execPath, ['--input-type=module', '-e', script], { env, timeout: 60000 }, (error, stdout, stderr) =>
        resolve({ error, stdout, stderr }),
      ),
    );
    assert.equal(run.error, null, run.stderr);
    assert.match(run.stderr, /the download cache .*not-a-folder\/clip-wasm cannot be used \(ENOTDIR/);
    assert.equal(JSON.parse(run.stdout).length > 0, true);
  });

  test('an entry without an ETag is used without asking the server', async () => {
    await clearCache(dir);
    const first = await load(`${server.url}/plain/tiny-hf/`, { threads: 1, cache: dir });
    first.dispose();
    const before = weightRequests('/plain/tiny-hf/model.safetensors').length;
    const second = await load(`${server.url}/plain/tiny-hf/`, { threads: 1, cache: dir });
    second.dispose();
    assert.equal(weightRequests('/plain/tiny-hf/model.safetensors').length, before);
  });
});

describe('copying a download into the cache', () => {
  const MB = 1 << 20;
  // A 64 MB download in 1 MB chunks.
  const download = () => {
    let sent = 0;
    return new ReadableStream({
      pull(controller) {
        if (sent === 64) controller.close();
        else controller.enqueue(new Uint8Array(MB).fill(sent++));
      },
    });
  };
  const tick = () => new Promise((resolve) => setTimeout(resolve, 2));

  test('a cache that writes slower than the download holds the reader back, not the bytes', async () => {
    const [reader, cache] = teeBounded(download(), 8 * MB);
    let read = 0;
    let cached = 0;
    let lag = 0;
    const writing = (async () => {
      for await (const chunk of cache) {
        await tick();
        cached += chunk.length;
      }
    })();
    for await (const chunk of reader) {
      assert.equal(chunk[0], read / MB, 'chunks in order');
      read += chunk.length;
      lag = Math.max(lag, read - cached);
    }
    await writing;
    assert.equal(read, 64 * MB);
    assert.equal(cached, 64 * MB);
    assert.ok(lag <= 10 * MB, `the reader ran ${lag / MB} MB ahead of the cache (limit 8)`);
  });

  test('a cache write that fails stops holding the reader back; a reader that stops fails the write', async () => {
    const [reader, cache] = teeBounded(download(), 4 * MB);
    const cacheReader = cache.getReader();
    await cacheReader.read();
    await cacheReader.cancel(new Error('disk full'));
    let read = 0;
    for await (const chunk of reader) read += chunk.length;
    assert.equal(read, 64 * MB, 'the whole download reaches the reader');

    const [stopped, copy] = teeBounded(download(), 4 * MB);
    const writing = (async () => {
      for await (const chunk of copy) assert.ok(chunk.length > 0);
    })();
    const stoppedReader = stopped.getReader();
    await stoppedReader.read();
    await stoppedReader.cancel(new Error('load aborted'));
    await assert.rejects(writing, /load aborted/);
  });
});
