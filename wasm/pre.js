// Runs first inside the module factory. Emscripten 3.1.6's ES-module output still takes the
// CommonJS path under Node (require, __dirname), which an ES module does not have: recreate them
// so users need no flags. In a pthread worker, Emscripten's worker.js has already set `require`.
// _scriptDir is the glue's own import.meta.url.
var ENVIRONMENT_IS_NODE_HOST =
  typeof process == 'object' && process.versions != null && process.versions.node != null;
if (ENVIRONMENT_IS_NODE_HOST) {
  var require =
    globalThis.require || process.getBuiltinModule('module').createRequire(_scriptDir);
  var __filename = require('url').fileURLToPath(_scriptDir);
  var __dirname = require('path').dirname(__filename);
}
// Under Node the glue publishes worker_threads' Worker (and performance) as globals, which would
// change what the host program's own feature checks see. Both stay inside the module instead:
// `global` here is a view of globalThis that takes the writes, and `Worker` the one the glue uses.
var global = ENVIRONMENT_IS_NODE_HOST ? Object.create(globalThis) : undefined;
var Worker = ENVIRONMENT_IS_NODE_HOST ? require('worker_threads').Worker : globalThis.Worker;
