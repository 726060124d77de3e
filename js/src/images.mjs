// Turns the image inputs embedImage() accepts into one of three forms the module takes:
//   {kind: 'encoded', bytes}                         JPEG / PNG / BMP / GIF file bytes
//   {kind: 'pixels', data, width, height, channels}  raw 8-bit pixels (1, 3 or 4 channels)
//   {kind: 'preprocessed', data}                     a Float32Array [3, S, S], already normalized

const has = (name) => typeof globalThis[name] === 'function';

// Inputs a canvas can draw: their pixels are read back as RGBA.
function isDrawable(input) {
  return (
    (has('ImageBitmap') && input instanceof ImageBitmap) ||
    (has('HTMLImageElement') && input instanceof HTMLImageElement) ||
    (has('HTMLCanvasElement') && input instanceof HTMLCanvasElement) ||
    (has('HTMLVideoElement') && input instanceof HTMLVideoElement) ||
    (has('OffscreenCanvas') && input instanceof OffscreenCanvas) ||
    (has('VideoFrame') && input instanceof VideoFrame) ||
    (has('SVGImageElement') && input instanceof SVGImageElement)
  );
}

function drawableSize(input) {
  const width = input.naturalWidth || input.videoWidth || input.displayWidth || input.width;
  const height = input.naturalHeight || input.videoHeight || input.displayHeight || input.height;
  return { width, height };
}

function readDrawable(input) {
  const { width, height } = drawableSize(input);
  if (!(width > 0 && height > 0)) throw new Error('image has no pixels yet (not loaded, or zero size)');
  checkSize('image', width, height);
  if (!has('OffscreenCanvas')) throw new Error('reading pixels from this image needs OffscreenCanvas');
  const context = new OffscreenCanvas(width, height).getContext('2d', { willReadFrequently: true });
  context.drawImage(input, 0, 0, width, height);
  const { data } = context.getImageData(0, 0, width, height);
  return { kind: 'pixels', data, width, height, channels: 4 };
}

function describe(input) {
  if (input === null) return 'null';
  if (typeof input !== 'object') return typeof input;
  return input.constructor?.name ?? 'object';
}

// The same caps as the core's ImageLimits (src/image.h), checked here before any pixel reaches
// WebAssembly memory, which never shrinks. Exported so that a page can refuse an image before it
// draws it.
export const IMAGE_LIMITS = Object.freeze({ maxSide: 16384, maxPixels: 64 * 1024 * 1024 });
const { maxSide: MAX_SIDE, maxPixels: MAX_PIXELS } = IMAGE_LIMITS;

function checkSize(what, width, height) {
  if (width > MAX_SIDE || height > MAX_SIDE) {
    throw new Error(`${what}: image ${width}x${height} exceeds the maximum side of ${MAX_SIDE} pixels`);
  }
  if (width * height > MAX_PIXELS) {
    throw new Error(`${what}: image ${width}x${height} has ${width * height} pixels, more than the limit of ${MAX_PIXELS}`);
  }
}

function rawPixels(input) {
  const { data, width, height } = input;
  if (!(data instanceof Uint8Array || data instanceof Uint8ClampedArray)) {
    throw new TypeError('raw pixels: data must be a Uint8Array or Uint8ClampedArray');
  }
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new TypeError(`raw pixels: width and height must be positive integers, got ${width}x${height}`);
  }
  checkSize('raw pixels', width, height);
  const channels = input.channels ?? data.length / (width * height);
  if (![1, 3, 4].includes(channels) || data.length !== width * height * channels) {
    throw new TypeError(
      `raw pixels: ${data.length} bytes do not fit ${width}x${height} with 1, 3 or 4 channels` +
        (input.channels === undefined ? '' : ` (channels: ${input.channels})`),
    );
  }
  return { kind: 'pixels', data, width, height, channels };
}

// One image input -> one staged form (async: a Blob must be read).
export async function normalizeImage(input) {
  if (input instanceof Float32Array) return { kind: 'preprocessed', data: input };
  if (input instanceof Uint8Array) return { kind: 'encoded', bytes: input };
  if (input instanceof ArrayBuffer) return { kind: 'encoded', bytes: new Uint8Array(input) };
  if (has('Blob') && input instanceof Blob) return { kind: 'encoded', bytes: new Uint8Array(await input.arrayBuffer()) };
  if (input && typeof input === 'object' && 'data' in input && 'width' in input && 'height' in input) {
    return rawPixels(input); // {data, width, height, channels} and ImageData
  }
  if (input && typeof input === 'object' && isDrawable(input)) return readDrawable(input);
  throw new TypeError(
    `unsupported image input (${describe(input)}): pass encoded bytes (Uint8Array, Buffer, Blob), ` +
      '{data, width, height, channels}, ImageData, ImageBitmap, an image or canvas element, ' +
      'or a preprocessed Float32Array',
  );
}
