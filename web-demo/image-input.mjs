// Image inputs of the demo page: file picker, drag and drop, paste, webcam snapshot and the sample
// photos; and the browser-side decode into RGBA pixels.

import { IMAGE_LIMITS } from './js/src/index.mjs';

const $ = (id) => document.getElementById(id);

// An image over the package's caps is refused before its pixels are drawn and read back, which
// would hold up the page for seconds only to be refused by the package.
const { maxSide: MAX_SIDE, maxPixels: MAX_PIXELS } = IMAGE_LIMITS;

const count = (n) => n.toLocaleString('en-US');

// Decodes an image file into RGBA pixels, which the worker takes as they are. The browser applies
// the EXIF orientation, as the preview shows it; embedded color profiles are ignored, as Pillow does.
// The pixels are the file's own, never rescaled here: the package's preprocessing needs them so.
// Throws a RangeError for an image over the package's size limits.
export async function pixelsOf(blob) {
  const bitmap = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  try {
    const { width, height } = bitmap;
    if (width > MAX_SIDE || height > MAX_SIDE || width * height > MAX_PIXELS) {
      throw new RangeError(
        `the image is ${width} × ${height} pixels, more than clip-wasm accepts: at most ` +
          `${count(MAX_SIDE)} pixels on a side and ${count(MAX_PIXELS)} in all (${Math.sqrt(MAX_PIXELS)} × ${Math.sqrt(MAX_PIXELS)}).`,
      );
    }
    const context = new OffscreenCanvas(width, height).getContext('2d', { willReadFrequently: true });
    context.drawImage(bitmap, 0, 0);
    const { data } = context.getImageData(0, 0, width, height);
    return { pixels: { data, width, height, channels: 4 } };
  } finally {
    bitmap.close();
  }
}

// Wires the file picker, the drop zone, paste and the webcam. `use(blob, name)` takes each image;
// `fail(error)` shows a problem; `hasImage()` says whether an image is already shown.
export function setUpImageInputs({ use, fail, hasImage }) {
  // A file's type comes from its name: one without a known extension has none (or the generic
  // application/octet-stream) and may still be an image, which decoding tells. Vector images
  // have no pixels to take.
  const untyped = (type) => type === '' || type === 'application/octet-stream';
  const imageFromFiles = (files) => {
    const file = [...(files ?? [])].find((f) => f.type.startsWith('image/') || untyped(f.type));
    const name = file?.name || 'pasted image';
    if (file?.type === 'image/svg+xml') fail(new Error(`${name}: SVG images are not supported; use PNG, JPEG, GIF, BMP or WebP.`));
    else if (file) use(file, name);
    else if (files?.length) fail(new Error('That is not an image file (PNG, JPEG, GIF, BMP or WebP).'));
  };
  const zone = $('dropzone');
  const input = $('file');
  input.addEventListener('change', () => {
    imageFromFiles(input.files);
    input.value = ''; // so that picking the same file again is a change too
  });
  // The input is visually hidden behind its label: Enter and Space open the picker.
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' || event.key === ' ') {
      event.preventDefault();
      input.click();
    }
  });
  zone.addEventListener('click', () => input.click());
  zone.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' || event.key === ' ') {
      event.preventDefault();
      input.click();
    }
  });
  zone.addEventListener('dragover', (event) => {
    event.preventDefault();
    zone.classList.add('dragging');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('dragging'));
  zone.addEventListener('drop', (event) => {
    event.preventDefault();
    zone.classList.remove('dragging');
    imageFromFiles(event.dataTransfer?.files);
  });
  document.addEventListener('paste', (event) => {
    const files = [...(event.clipboardData?.items ?? [])].filter((item) => item.kind === 'file').map((item) => item.getAsFile());
    if (files.some((f) => f?.type.startsWith('image/'))) {
      event.preventDefault();
      imageFromFiles(files);
    }
  });
  setUpCamera({ use, fail, hasImage });
}

// Stops the webcam, if it is on (set by setUpCamera).
let endCamera = () => {};
export function stopCamera() {
  endCamera();
}

function setUpCamera({ use, fail, hasImage }) {
  if (!navigator.mediaDevices?.getUserMedia) return; // e.g. not a secure context
  const video = $('camera');
  const [start, snap, stop] = [$('camera-start'), $('camera-snap'), $('camera-stop')];
  let stream = null;
  start.hidden = false;
  const showCamera = (on) => {
    video.hidden = !on;
    $('preview').hidden = on || !hasImage();
    start.hidden = on;
    snap.hidden = !on;
    stop.hidden = !on;
    $('dropzone').classList.toggle('has-image', on || hasImage());
  };
  const end = () => {
    if (!stream) return;
    const focused = document.activeElement === snap || document.activeElement === stop;
    stream.getTracks().forEach((track) => track.stop());
    stream = null;
    video.srcObject = null;
    showCamera(false);
    if (focused) start.focus(); // the focused button is hidden now
  };
  endCamera = end;
  start.addEventListener('click', async () => {
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 } }, audio: false });
      video.srcObject = stream;
      await video.play();
      showCamera(true);
      snap.focus();
    } catch (error) {
      fail(new Error(`The webcam could not be opened: ${error.message}`));
    }
  });
  snap.addEventListener('click', async () => {
    const canvas = document.createElement('canvas');
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext('2d').drawImage(video, 0, 0);
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/png'));
    end();
    if (blob) await use(blob, 'webcam snapshot');
  });
  stop.addEventListener('click', end);
}

// Buttons for the sample photos listed in samples/samples.json (tools/copy_sample_images.py).
export async function setUpSamples({ use, fail }) {
  const block = $('samples-block');
  let samples;
  try {
    const response = await fetch('samples/samples.json');
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    samples = await response.json();
  } catch {
    block.hidden = true; // run tools/copy_sample_images.py to get them
    return;
  }
  const list = $('samples');
  for (const sample of samples) {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'sample';
    button.dataset.name = sample.name;
    button.setAttribute('aria-pressed', 'false');
    button.title = sample.title;
    const img = document.createElement('img');
    img.src = `samples/${sample.file}`;
    img.alt = '';
    img.loading = 'lazy';
    img.decoding = 'async';
    const caption = document.createElement('span');
    caption.textContent = sample.name;
    button.append(img, caption);
    button.setAttribute('aria-label', `Sample photo: ${sample.title}`);
    button.addEventListener('click', async () => {
      let blob;
      try {
        const response = await fetch(`samples/${sample.file}`);
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        blob = await response.blob();
      } catch (error) {
        return fail(new Error(`samples/${sample.file}: ${error.message}`));
      }
      await use(blob, sample.name);
    });
    list.append(button);
  }
}
