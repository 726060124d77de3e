// Types of the public surface of clip-wasm (src/index.mjs).

/** Where a model comes from. */
export type ModelSource =
  /** Base URL of a repository in Hugging Face hub layout, e.g. `https://huggingface.co/ORG/NAME/resolve/main/`. */
  | string
  | GlobalClass<'URL'>
  /** Files in memory, by name: `model.safetensors` or `open_clip_model.safetensors`, plus config and tokenizer files. */
  | Record<string, Uint8Array | ArrayBuffer | GlobalClass<'Blob'> | string>;

/**
 * Load progress: `initiate`, `download`, `progress`..., `done` for each file, then `ready` once,
 * when every call can be answered (with `waitFor: 'image'`, once the text tower is in too). A load
 * that fails sends no `ready`.
 */
export type ProgressEvent =
  | { status: 'initiate'; name: string; file: string }
  | { status: 'download'; name: string; file: string }
  | { status: 'progress'; name: string; file: string; loaded: number; total: number; progress: number }
  | { status: 'done'; name: string; file: string; loaded: number; total: number }
  | { status: 'ready'; name: string; model: string };

/** Options of load() and createWorkerClip(); another key is refused. */
export interface LoadOptions {
  /**
   * Which weights file, and how the weights are kept in memory. `'f32'` (default):
   * `model.safetensors`, exact. `'f16'`: `model.fp16.safetensors` (half the download; computed
   * in f32). `'q8'`: `model.q8.safetensors` when the source has it, else `model.safetensors`
   * quantized at load: int8 with a scale per output channel, about 4x smaller, faster, slightly
   * less exact. The `.fp16` / `.q8` files are written by `tools/convert_weights.py`.
   */
  dtype?: 'f32' | 'f16' | 'q8';
  /**
   * Threads, the calling one included. Default: the number of cores, at most 8, where threads can
   * run (Node, or a crossOriginIsolated page); otherwise 1. Asking for more than 1 on a page that
   * is not crossOriginIsolated warns and runs on 1.
   */
  threads?: number;
  /**
   * Use relaxed SIMD's fused multiply-add in the f32 matrix products where the engine has it
   * (Chromium 114+, Firefox, Node 22+; on Node 20 the package sets V8's flag only while compiling
   * its module). Results can then differ in the last bits between CPUs with and without FMA.
   * Default: where it is the faster choice (V8: Node and Chromium; Firefox runs it slower); true
   * uses it wherever the engine has it; false gives the same rounding everywhere.
   */
  relaxedSimd?: boolean;
  /** Called with each progress event. */
  onProgress?: (event: ProgressEvent) => void;
  /**
   * Keep downloaded files (revalidated by ETag, used as they are when offline). Browser: the
   * Cache API. Node: a folder, this path when a string is given, else $CLIP_WASM_CACHE_DIR, else
   * $XDG_CACHE_HOME/clip-wasm or ~/.cache/clip-wasm. Default true.
   */
  cache?: boolean | string;
  /** Aborts the load: the promise rejects with the signal's reason. */
  signal?: GlobalClass<'AbortSignal'>;
  /**
   * `'all'` (default): resolve once every weight is in. `'image'`: resolve as soon as the image
   * tower is in (files from `tools/convert_weights.py` put it first); text calls then wait for
   * the rest by themselves, and `clip.ready` tells when it has arrived.
   */
  waitFor?: 'all' | 'image';
}

/** Raw 8-bit pixels, rows packed: 1 (gray), 3 (RGB) or 4 (RGBA; alpha is dropped) channels. */
export interface RawPixels {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  /** Default: data.length / (width * height). */
  channels?: 1 | 3 | 4;
}

/**
 * The instance type of a global class where the consumer's TypeScript libs declare it (`dom`, or
 * @types/node for Blob), else `never`: the declarations then work in a Node-only project too.
 */
type GlobalClass<Name extends string> = typeof globalThis extends Record<Name, { prototype: infer T }> ? T : never;

/**
 * An image: encoded file bytes (JPEG, PNG, BMP, GIF; a Node Buffer is a Uint8Array), raw
 * pixels, a preprocessed Float32Array [3, imageSize, imageSize] (normalized, channel-major, no
 * NaN or infinity), a Blob/File, or in browsers ImageData, ImageBitmap, an image/canvas/video
 * element or OffscreenCanvas.
 */
export type ImageInput =
  | Uint8Array
  | ArrayBuffer
  | Float32Array
  | RawPixels
  | GlobalClass<'Blob'>
  | GlobalClass<'ImageData'>
  | GlobalClass<'ImageBitmap'>
  | GlobalClass<'OffscreenCanvas'>
  | GlobalClass<'HTMLImageElement'>
  | GlobalClass<'HTMLCanvasElement'>
  | GlobalClass<'HTMLVideoElement'>;

export interface ModelInfo {
  readonly embedDim: number;
  readonly imageSize: number;
  readonly contextLength: number;
  readonly hasVision: boolean;
  readonly hasText: boolean;
  readonly threads: number;
  readonly weightBytes: number;
  /** CLIP's learned temperature, exp()'d (100 for OpenAI's models). */
  readonly logitScale: number;
  readonly dtype: 'f32' | 'f16' | 'q8';
  /** The WebAssembly build in use: 'clip-wasm-threads' or 'clip-wasm-simd'. */
  readonly build: string;
  /** Whether the f32 matrix products use relaxed SIMD (see LoadOptions.relaxedSimd). */
  readonly relaxedSimd: boolean;
  readonly source: string;
}

/** Options of classify(); another key is refused. */
export interface ClassifyOptions {
  /**
   * Prompt templates with `{}` for the label. Default `['a photo of a {}.']`; `'ensemble'` uses
   * the seven prompts the CLIP authors chose for ImageNet, averaged per label.
   */
  templates?: 'ensemble' | string[];
}

export interface LabelScore {
  label: string;
  /** Softmax over the labels of logitScale x cosine similarity. */
  score: number;
}

export interface MemoryStats {
  heapBytes: number;
  usedBytes: number;
}

/** What embedImage / embedText / similarity accept as a side of a comparison. */
export type SimilarityInput = string | ImageInput;

/** A loaded model. Calls queue and run one at a time; a rejected call leaves the model usable. */
export interface ClipApi {
  readonly info: ModelInfo;
  /** L2-normalized image embedding, Float32Array [embedDim]; an empty array rejects. */
  embedImage(image: ImageInput): Promise<Float32Array>;
  embedImage(images: ImageInput[]): Promise<Float32Array[]>;
  embedImage(input: ImageInput | ImageInput[]): Promise<Float32Array | Float32Array[]>;
  /** L2-normalized text embedding (text is NFC-normalized, then tokenized); an empty array rejects. */
  embedText(text: string): Promise<Float32Array>;
  embedText(texts: string[]): Promise<Float32Array[]>;
  embedText(input: string | string[]): Promise<Float32Array | Float32Array[]>;
  /** Token ids [start, ..., end], truncated to the context length; an empty array rejects. */
  tokenize(text: string): Promise<Int32Array>;
  tokenize(texts: string[]): Promise<Int32Array[]>;
  tokenize(input: string | string[]): Promise<Int32Array | Int32Array[]>;
  /** Labels sorted by score, best first. */
  classify(image: ImageInput, labels: string[], options?: ClassifyOptions | null): Promise<LabelScore[]>;
  classify(images: ImageInput[], labels: string[], options?: ClassifyOptions | null): Promise<LabelScore[][]>;
  classify(input: ImageInput | ImageInput[], labels: string[], options?: ClassifyOptions | null): Promise<LabelScore[] | LabelScore[][]>;
  /**
   * Cosine similarity. A Float32Array of length embedDim is taken as an embedding (normalized
   * here; it must be finite and not all zeros), one of 3 x imageSize x imageSize as a
   * preprocessed image.
   */
  similarity(a: SimilarityInput | Float32Array, b: SimilarityInput | Float32Array): Promise<number>;
  /** Frees the model, its memory and threads once the calls made before it finish; later calls reject. */
  dispose(): Promise<void>;
}

export declare class Clip implements ClipApi {
  private constructor();
  readonly info: ModelInfo;
  /** Resolves once every weight is in (see LoadOptions.waitFor); rejects if the rest failed to load. */
  readonly ready: Promise<void>;
  embedImage(image: ImageInput): Promise<Float32Array>;
  embedImage(images: ImageInput[]): Promise<Float32Array[]>;
  embedImage(input: ImageInput | ImageInput[]): Promise<Float32Array | Float32Array[]>;
  embedText(text: string): Promise<Float32Array>;
  embedText(texts: string[]): Promise<Float32Array[]>;
  embedText(input: string | string[]): Promise<Float32Array | Float32Array[]>;
  tokenize(text: string): Promise<Int32Array>;
  tokenize(texts: string[]): Promise<Int32Array[]>;
  tokenize(input: string | string[]): Promise<Int32Array | Int32Array[]>;
  classify(image: ImageInput, labels: string[], options?: ClassifyOptions | null): Promise<LabelScore[]>;
  classify(images: ImageInput[], labels: string[], options?: ClassifyOptions | null): Promise<LabelScore[][]>;
  classify(input: ImageInput | ImageInput[], labels: string[], options?: ClassifyOptions | null): Promise<LabelScore[] | LabelScore[][]>;
  similarity(a: SimilarityInput | Float32Array, b: SimilarityInput | Float32Array): Promise<number>;
  dispose(): Promise<void>;
  /** Size of this model's WebAssembly memory, and the bytes of it in use; zeros once disposed. */
  memory(): MemoryStats;
}

/** What createWorkerClip() resolves to: the Clip API, every answer from the worker. */
export interface WorkerClip extends ClipApi {
  /** As Clip.ready; info is then the final one. */
  readonly ready: Promise<void>;
  /** As Clip.memory(), from the worker: zeros once disposed. */
  memory(): Promise<MemoryStats>;
}

/** The default source: OpenAI's CLIP ViT-B/32 (safetensors) on the Hugging Face hub. */
export declare const DEFAULT_MODEL: string;

/** The largest image accepted: pixels on a side, and in all. Larger ones are refused. */
export declare const IMAGE_LIMITS: Readonly<{ maxSide: number; maxPixels: number }>;

/**
 * The weights files load() looks for with this dtype, in its order, for either layout (e.g. to
 * check the Cache API for a model before loading it).
 */
export declare function weightFileNames(dtype?: 'f32' | 'f16' | 'q8'): string[];

/** Loads a model; resolves once all weights are in. */
export declare function load(source?: ModelSource, options?: LoadOptions | null): Promise<Clip>;

/**
 * Like load(), with the model in a Worker (worker_threads in Node): the calling thread never
 * blocks. Inputs a worker cannot receive (image and canvas elements) are sent as ImageBitmaps.
 */
export declare function createWorkerClip(source?: ModelSource, options?: LoadOptions | null): Promise<WorkerClip>;

/**
 * Deletes the files load() cached: the Cache API entry in browsers; in Node the cache folder's
 * entries (`dir`: a folder given to load() as `cache`). Resolves to whether there was a cache.
 */
export declare function clearCache(dir?: string): Promise<boolean>;
