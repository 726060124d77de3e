// Worker entry of createWorkerClip(): hosts one Clip and answers {id, method, args} messages
// with {id, result} or {id, error}; load progress goes out as {progress}. Runs as a module Web
// Worker in browsers and as a worker_threads Worker in Node.

import { load } from './clip.mjs';
import { isNode } from './node.mjs';
import { onThreadCreation } from './runtime.mjs';

let port = null; // Node: worker_threads' parentPort (messages wait in it until it is listened to)

const post = (message, transfer = []) => (port ? port.postMessage(message, transfer) : self.postMessage(message, transfer));

onThreadCreation((stage) => post({ threads: stage }));

const METHODS = new Set(['embedImage', 'embedText', 'tokenize', 'classify', 'similarity', 'memory']);

let clip = null;
let loading = null; // AbortController of a load in progress
const answering = new Set(); // calls not answered yet

// Float32Array results are fresh copies: move their memory instead of copying it again.
function transferables(result) {
  const arrays = Array.isArray(result) ? result : [result];
  return arrays.filter((a) => a instanceof Float32Array || a instanceof Int32Array).map((a) => a.buffer);
}

// earlier: the calls received before this one, not answered yet.
async function handle({ id, method, args = [] }, earlier) {
  if (method === 'abort') {
    loading?.abort(args[0]);
    return;
  }
  try {
    let result;
    if (method === 'load') {
      loading = new AbortController();
      const options = { ...args[1], signal: loading.signal, onProgress: (progress) => post({ progress }) };
      clip = await load(args[0], options);
      result = clip.info;
    } else if (method === 'ready') {
      if (!clip) throw new Error('ready: the model is not loaded');
      await clip.ready;
      result = clip.info;
    } else if (method === 'dispose') {
      await clip?.dispose();
      // The client ends the worker on this answer: the calls before it are answered first.
      await Promise.all(earlier);
    } else if (!clip || !METHODS.has(method)) {
      throw new Error(clip ? `unknown method ${method}` : `${method}: the model is not loaded`);
    } else {
      result = await clip[method](...args);
    }
    post({ id, result }, transferables(result));
  } catch (error) {
    post({ id, error: { name: error?.name, message: error?.message ?? String(error) } });
  } finally {
    if (method === 'load') loading = null;
  }
}

function receive(message) {
  const answered = handle(message, [...answering]); // never rejects
  answering.add(answered);
  answered.then(() => answering.delete(answered));
}

if (isNode) {
  import(/* webpackIgnore: true */ 'node:worker_threads').then((threads) => {
    port = threads.parentPort;
    port.on('message', receive);
  });
} else {
  self.onmessage = (event) => receive(event.data);
}
