#!/usr/bin/env python3
"""Makes a module whose relaxed-SIMD multiply-adds load everywhere, and records where they are.

Debian's clang 14 knows relaxed SIMD only from the proposal's early drafts: it encodes the f32x4
multiply-add as 0xfd 0xaf, an opcode no engine reads today (the standard's f32x4.relaxed_madd is
0xfd 0x105, computing a * b + c; the kernels pass their arguments in that order). A module
holding it, or the standard opcode, would not even compile where relaxed SIMD is missing. So
each one is rewritten to v128.bitselect, a standard SIMD128 instruction with the same operands
and result types, its opcode written in the same two LEB128 bytes (0xd2 0x00; nothing in the
module moves), and the byte offsets of those opcodes are appended as a custom section
"clip.relaxed_madd" (a LEB128 count, then LEB128 offsets). The package compiles the module as it
is where relaxed SIMD is missing (the relaxed kernels are then never called), and elsewhere
writes 0x85 0x02 (0x105) at each offset before compiling (js/src/relaxed-simd.mjs).

No installed tool (binaryen, wabt) reads the draft opcode, hence this decoder: it walks every
instruction of every function body, so a byte pattern inside an immediate is never touched, and
stops on any other draft relaxed-SIMD opcode.

A program that only ever runs where relaxed SIMD is on (the benchmark probes in bench/) takes
--standard: the standard opcode is written directly, and no section is added.

usage: wasm-relaxed-opcodes.py [--standard] MODULE.wasm   (rewrites it in place)
"""
import sys

DRAFT_F32X4_FMA = 0xAF
DRAFT_F32X4_FMA_BYTES = bytes([0xAF, 0x01])
V128_BITSELECT_BYTES = bytes([0xD2, 0x00])  # 0x52, in two LEB128 bytes
RELAXED_MADD_BYTES = bytes([0x85, 0x02])  # 0x105
SECTION_NAME = b"clip.relaxed_madd"
# SIMD opcodes the standard leaves unassigned below 0x100: clang 14 puts its other draft
# relaxed instructions there. Seeing one means a kernel used a relaxed builtin this tool
# cannot translate.
SIMD_UNASSIGNED = {0x9A, 0xA2, 0xA5, 0xA6, 0xAF, 0xB0, 0xB2, 0xB3, 0xB4, 0xBB, 0xC2, 0xC5,
                   0xC6, 0xCF, 0xD0, 0xD2, 0xD3, 0xD4, 0xE2, 0xEE}
BLOCK_TYPES_ONE_BYTE = {0x40, 0x7F, 0x7E, 0x7D, 0x7C, 0x7B, 0x70, 0x6F}


class Reader:
    def __init__(self, data, pos, end):
        self.data, self.pos, self.end = data, pos, end

    def byte(self):
        if self.pos >= self.end:
            raise ValueError(f"truncated instruction at byte {self.pos}")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def uleb(self):
        result = shift = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return result

    def sleb(self):
        while self.byte() & 0x80:
            pass

    def skip(self, n):
        self.pos += n

    def memarg(self):
        self.uleb()  # alignment
        self.uleb()  # offset


def simd_op(r, opcode_pos, rewrites):
    op = r.uleb()
    if op == DRAFT_F32X4_FMA:
        rewrites.append(opcode_pos)
    elif op in SIMD_UNASSIGNED or op > 0xFF:
        raise ValueError(f"SIMD opcode {op:#x} at byte {opcode_pos}: not standard SIMD128 and "
                         "not the draft f32x4 multiply-add this tool translates")
    if op <= 11 or op in (92, 93):  # loads, store, load zero
        r.memarg()
    elif op in (12, 13):  # v128.const, i8x16.shuffle
        r.skip(16)
    elif 21 <= op <= 34:  # extract_lane / replace_lane
        r.skip(1)
    elif 84 <= op <= 91:  # load_lane / store_lane
        r.memarg()
        r.skip(1)


def misc_op(r):
    op = r.uleb()
    if op <= 7:  # saturating truncations
        return
    if op == 8:  # memory.init
        r.uleb()
        r.skip(1)
    elif op in (9, 13, 15, 16, 17):  # data.drop, elem.drop, table.grow/size/fill
        r.uleb()
    elif op == 10:  # memory.copy
        r.skip(2)
    elif op == 11:  # memory.fill
        r.skip(1)
    elif op in (12, 14):  # table.init, table.copy
        r.uleb()
        r.uleb()
    else:
        raise ValueError(f"unknown 0xfc opcode {op}")


def atomic_op(r):
    op = r.uleb()
    if op == 3:  # atomic.fence
        r.skip(1)
    else:
        r.memarg()


def instruction(r, rewrites):
    start = r.pos
    op = r.byte()
    if op in (0x02, 0x03, 0x04, 0x06):  # block, loop, if, try
        if r.data[r.pos] in BLOCK_TYPES_ONE_BYTE:
            r.skip(1)
        else:
            r.sleb()
    elif op in (0x07, 0x08, 0x09, 0x0C, 0x0D, 0x10, 0x18, 0xD2) or 0x20 <= op <= 0x26:
        r.uleb()  # tag, label, function, local, global or table index
    elif op == 0x0E:  # br_table
        for _ in range(r.uleb() + 1):
            r.uleb()
    elif op == 0x11:  # call_indirect
        r.uleb()
        r.uleb()
    elif op == 0x1C:  # select with types
        r.skip(r.uleb())
    elif 0x28 <= op <= 0x3E:
        r.memarg()
    elif op in (0x3F, 0x40, 0xD0):  # memory.size, memory.grow, ref.null
        r.skip(1)
    elif op in (0x41, 0x42):
        r.sleb()
    elif op == 0x43:
        r.skip(4)
    elif op == 0x44:
        r.skip(8)
    elif op == 0xFC:
        misc_op(r)
    elif op == 0xFD:
        simd_op(r, start + 1, rewrites)
    elif op == 0xFE:
        atomic_op(r)
    elif op in (0x00, 0x01, 0x05, 0x0B, 0x0F, 0x19, 0x1A, 0x1B, 0xD1) or 0x45 <= op <= 0xC4:
        pass
    else:
        raise ValueError(f"unknown opcode {op:#x} at byte {start}")


def leb(value):
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        out.append(b | (0x80 if value else 0))
        if not value:
            return bytes(out)


def draft_fma_offsets(data):
    """Offsets of the draft opcode's two bytes (after the 0xfd prefix), in code order."""
    if data[:8] != b"\0asm\1\0\0\0":
        raise ValueError("not a WebAssembly module (version 1)")
    rewrites = []
    r = Reader(data, 8, len(data))
    while r.pos < len(data):
        section_id = r.byte()
        size = r.uleb()
        end = r.pos + size
        if section_id == 0:
            name = Reader(data, r.pos, end)
            name_length = name.uleb()
            if data[name.pos:name.pos + name_length] == SECTION_NAME:
                raise ValueError("module already rewritten")
        if section_id == 10:
            for _ in range(r.uleb()):
                body_size = r.uleb()
                body = Reader(data, r.pos, r.pos + body_size)
                for _ in range(body.uleb()):  # local declarations: count, type
                    body.uleb()
                    body.skip(1)
                while body.pos < body.end:
                    instruction(body, rewrites)
                r.pos += body_size
        r.pos = end
    return rewrites


def main():
    args = sys.argv[1:]
    standard = args[:1] == ["--standard"]
    if standard:
        args = args[1:]
    if len(args) != 1:
        sys.exit(__doc__.strip().splitlines()[-1])
    path = args[0]
    data = bytearray(open(path, "rb").read())
    offsets = draft_fma_offsets(data)
    for pos in offsets:
        if data[pos:pos + 2] != DRAFT_F32X4_FMA_BYTES:
            raise ValueError(f"unexpected encoding of the draft opcode at byte {pos}")
        data[pos:pos + 2] = RELAXED_MADD_BYTES if standard else V128_BITSELECT_BYTES
    if standard:
        open(path, "wb").write(data)
        print(f"{path}: {len(offsets)} f32x4.relaxed_madd")
        return
    payload = leb(len(SECTION_NAME)) + SECTION_NAME + leb(len(offsets))
    payload += b"".join(leb(pos) for pos in offsets)
    data += bytes([0]) + leb(len(payload)) + payload
    open(path, "wb").write(data)
    print(f"{path}: {len(offsets)} relaxed multiply-adds, recorded in custom section "
          f"{SECTION_NAME.decode()}")


if __name__ == "__main__":
    main()
