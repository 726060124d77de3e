// clip-wasm: OpenAI's CLIP in WebAssembly for browsers and Node.js. The public surface:
export { load, Clip, DEFAULT_MODEL, weightFileNames } from './clip.mjs';
export { IMAGE_LIMITS } from './images.mjs';
export { createWorkerClip } from './worker-client.mjs';
export { clearCache } from './cache.mjs';
