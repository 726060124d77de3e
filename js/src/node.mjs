// Where the package runs, and Node's built-in modules that its synchronous code needs (the core
// count, V8's flags, file URLs). They are imported once, by nodeModules(), which every entry
// point awaits first, not by top-level awaits: bundlers refuse those when they build for engines
// without them (Vite 5 and 6 by default). Every import of a `node:` module in the package carries
// webpackIgnore: webpack would otherwise try to bundle it for the browser, and fail.

export const isNode =
  typeof process === 'object' && process.versions != null && process.versions.node != null;

const loaded = { os: null, v8: null, url: null };

let loading = null;
export function nodeModules() {
  if (!isNode) return Promise.resolve();
  loading ??= Promise.all([
    import(/* webpackIgnore: true */ 'node:os'),
    import(/* webpackIgnore: true */ 'node:v8'),
    import(/* webpackIgnore: true */ 'node:url'),
  ]).then(([os, v8, url]) => Object.assign(loaded, { os, v8, url }));
  return loading;
}

// Node's module `name` ('os', 'v8' or 'url') once nodeModules() resolved; null elsewhere.
export function nodeModule(name) {
  if (!isNode) return null;
  if (!loaded[name]) throw new Error('clip-wasm: nodeModules() must be awaited first');
  return loaded[name];
}

export function hardwareThreads() {
  const os = nodeModule('os');
  if (os) return os.availableParallelism?.() ?? os.cpus().length;
  return globalThis.navigator?.hardwareConcurrency ?? 1;
}
