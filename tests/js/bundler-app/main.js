// An app that uses clip-wasm the way a bundled web app does: the package imported by name, the
// model and an image served by the same site. Its outcome goes into window.outcome.
import { createWorkerClip, load } from 'clip-wasm';

async function run(open) {
  const clip = await open('./models/tiny-hf/', { threads: self.crossOriginIsolated ? 2 : 1 });
  try {
    const image = new Uint8Array(await (await fetch('./photo.png')).arrayBuffer());
    const embedding = Array.from(await clip.embedImage(image));
    const ranked = await clip.classify(image, ['cat', 'dog']);
    return { info: clip.info, embedding, ranked };
  } finally {
    await clip.dispose();
  }
}

window.outcome = (async () => {
  try {
    return { inThread: await run(load), inWorker: await run(createWorkerClip) };
  } catch (error) {
    return { error: String(error?.stack ?? error) };
  }
})();
