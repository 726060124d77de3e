// clip-wasm: OpenAI's CLIP in WebAssembly for browsers and Node.js. The public surface:
export { load, Clip, DEFAULT_MODEL } from './clip.mjs';
export { createWorkerClip } from './worker-client.mjs';
export { clearCache } from './cache.mjs';
