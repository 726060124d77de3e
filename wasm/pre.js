// Runs first inside the module factory. Emscripten 3.1.6's ES-module output still takes the
// CommonJS path under Node (require, __dirname), which an ES module does not have: recreate them
// so users need no flags. In a pthread worker, Emscripten's worker.js has already set `require`.
// _scriptDir is the glue's own import.meta.url.
if (typeof process == 'object' && process.versions && process.versions.node) {
  var require =
    globalThis.require || process.getBuiltinModule('module').createRequire(_scriptDir);
  var __filename = require('url').fileURLToPath(_scriptDir);
  var __dirname = require('path').dirname(__filename);
}
