// Relaxed SIMD for the module's f32 GEMMs: whether the engine has it, and the module made to use
// it. The build leaves a placeholder where each fused multiply-add goes and lists their offsets in
// a custom section (tools/wasm-relaxed-opcodes.py); patchRelaxedMadd() writes the instruction.

import { nodeModule } from './node.mjs';

// The smallest module that uses f32x4.relaxed_madd (on three splatted zeros): validates where
// relaxed SIMD is on.
export const RELAXED_SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 3, 2, 1, 0, 10, 20, 1, 18, 0, 65, 0, 253, 15, 65, 0, 253, 15, 65,
  0, 253, 15, 253, 133, 2, 26, 11,
]);

// Relaxed SIMD is on by default in Chromium 114+ and Node 22+. Node 20's engine has it behind
// the V8 flag --experimental-wasm-relaxed-simd. The package turns that flag on only while it
// checks for and compiles its own module, then off again: a compiled module keeps the features it
// was compiled with (its worker threads run it), and a changed flag would otherwise linger in the
// user's process and slow every worker thread's start (Node's code cache is refused when V8's
// flags differ: 26 -> 49-58 ms per worker here).
const setFlag = (on) => nodeModule('v8').setFlagsFromString(`--${on ? '' : 'no-'}experimental-wasm-relaxed-simd`);

// 'native', 'flag' (Node 20) or 'none'; found once, before the package ever sets the flag.
let support = null;
function relaxedSimdSupport() {
  if (support === null) {
    if (WebAssembly.validate(RELAXED_SIMD_PROBE)) {
      support = 'native';
    } else if (nodeModule('v8')) {
      setFlag(true);
      support = WebAssembly.validate(RELAXED_SIMD_PROBE) ? 'flag' : 'none';
      setFlag(false);
    } else {
      support = 'none';
    }
  }
  return support;
}

export function relaxedSimdAvailable() {
  return relaxedSimdSupport() !== 'none';
}

// Runs `work` (a compile) with the flag on where the engine needs it. Every caller holds the flag
// until its work is done: V8 reads it while compiling, after WebAssembly.compile() returns.
let flagHolders = 0;
export async function withRelaxedSimdFlag(work) {
  if (relaxedSimdSupport() !== 'flag') return work();
  if (flagHolders++ === 0) setFlag(true);
  try {
    return await work();
  } finally {
    if (--flagHolders === 0) setFlag(false);
  }
}

function readLeb(bytes, at) {
  let value = 0;
  let shift = 0;
  for (;;) {
    const byte = bytes[at.pos++];
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
    if (byte < 0x80) return value;
  }
}

// Writes f32x4.relaxed_madd (0xfd 0x105) over each placeholder the build recorded in the
// custom section "clip.relaxed_madd".
export function patchRelaxedMadd(bytes) {
  const name = new TextEncoder().encode('clip.relaxed_madd');
  const at = { pos: 8 };
  while (at.pos < bytes.length) {
    const id = bytes[at.pos++];
    const size = readLeb(bytes, at);
    const end = at.pos + size;
    if (id === 0) {
      const nameLength = readLeb(bytes, at);
      const found = nameLength === name.length && name.every((b, i) => bytes[at.pos + i] === b);
      at.pos += nameLength;
      if (found) {
        for (let count = readLeb(bytes, at); count > 0; count--) {
          const offset = readLeb(bytes, at);
          if (bytes[offset] !== 0xd2 || bytes[offset + 1] !== 0x00) throw new Error('clip-wasm: the module does not match its relaxed SIMD offsets');
          bytes[offset] = 0x85;
          bytes[offset + 1] = 0x02;
        }
        return bytes;
      }
    }
    at.pos = end;
  }
  throw new Error('clip-wasm: the module has no relaxed SIMD offsets');
}
