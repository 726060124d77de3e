#!/usr/bin/env python3
"""Writes src/tokenizer-tables.h: the Unicode and text-repair tables the native tokenizer needs
to reproduce OpenAI's SimpleTokenizer (ftfy.fix_text, html.unescape, str.lower, and the `regex`
pre-tokenization pattern) without ICU.

Every table is derived from the behaviour of the reference packages themselves (Python's str
methods, the `regex` module, ftfy, html), not from a Unicode data file, so it agrees with what the
reference actually does. usage: gen_tokenizer_tables.py [OUTPUT] (default src/tokenizer-tables.h)
"""

import html
import html.entities
import os
import re
import sys
import unicodedata

import ftfy
import ftfy.chardata as chardata
import regex

MAX_CP = 0x110000
DEFAULT_OUTPUT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src",
                                               "tokenizer-tables.h"))


def code_points():
    for c in range(MAX_CP):
        if not 0xD800 <= c <= 0xDFFF:
            yield c


def ranges(members):
    """Sorted code points -> [(first, last)]; a range may span the surrogates, never looked up."""
    out = []
    for c in sorted(members):
        if out and (out[-1][1] + 1 == c or (out[-1][1] == 0xD7FF and c == 0xE000)):
            out[-1][1] = c
        else:
            out.append([c, c])
    return out


def cxx_string(s):
    """A C++ string literal holding the UTF-8 bytes of s (octal escapes never run on)."""
    out = '"'
    for b in s.encode("utf-8"):
        ch = chr(b)
        out += ch if 0x20 <= b < 0x7F and ch not in '"\\?' else "\\%03o" % b
    return out + '"'


def wrap(items, indent="    ", width=100):
    lines, line = [], indent
    for item in items:
        if len(line) + len(item) + 1 > width and line.strip():
            lines.append(line.rstrip())
            line = indent
        line += item + " "
    if line.strip():
        lines.append(line.rstrip())
    return "\n".join(lines)


# ---- pre-tokenization classes, as the reference's compiled pattern (IGNORECASE) sees them ----
# Class codes; kept in sync with tokenizer-text.cpp.
OTHER, LETTER, NUMBER, DIGIT, SPACE, UNMATCHED = range(6)


# Every code point but the surrogates, as one string: the patterns scan it in one pass.
ALL_CHARS = "".join(chr(c) for c in range(MAX_CP) if not 0xD800 <= c <= 0xDFFF)


def index_to_code_point(i):
    return i if i < 0xD800 else i + 0x800


def matching(pattern, flags=0):
    """Code points that `pattern` (one character wide) matches."""
    hits = set()
    for m in regex.finditer(pattern + "+", ALL_CHARS, flags):
        hits.update(index_to_code_point(i) for i in range(m.start(), m.end()))
    return hits


def char_classes():
    letter = matching(r"[\p{L}]", regex.IGNORECASE)
    number = matching(r"[\p{N}]", regex.IGNORECASE)
    other = matching(r"[^\s\p{L}\p{N}]", regex.IGNORECASE)
    space = matching(r"\s")  # whitespace_clean's pattern, no flags
    # ftfy's terminal-escape pattern uses the re module's \d.
    py_digit = {index_to_code_point(m.start()) for m in re.finditer(r"\d", ALL_CHARS)}
    assert not (letter & number) and not (letter & other) and not (number & other)
    assert not (space & (letter | number | other))
    assert py_digit <= number, "re's \\d must be a subset of regex's \\p{N}"
    classes = {}
    for c in code_points():
        if c in py_digit:
            cls = DIGIT
        elif c in letter:
            cls = LETTER
        elif c in number:
            cls = NUMBER
        elif c in other:
            cls = OTHER
        elif c in space:
            cls = SPACE
        else:
            cls = UNMATCHED  # e.g. U+0345: IGNORECASE makes no branch match it
        classes[c] = cls
    starts = []
    prev = None
    for c in range(MAX_CP):
        cls = classes.get(c, prev)  # surrogates continue the previous run
        if cls != prev:
            starts.append((c, cls))
            prev = cls
    return starts


def case_insensitive_letters():
    """Non-ASCII code points the IGNORECASE pattern treats as equal to the ASCII letters of the
    special tokens and contractions. The C++ side hard-codes the answer; this checks it."""
    extra = {}
    for a in sorted(set("startoftextendofre've'm'll'd") - set("'|<>")):
        found = [index_to_code_point(m.start())
                 for m in regex.finditer(a, ALL_CHARS, regex.IGNORECASE)]
        found = [c for c in found if c >= 0x80]
        if found:
            extra[a] = found
    assert extra == {"s": [0x17F]}, extra


# ---- str.lower ----
def lower_runs():
    """[(first, last, delta, stride)]: first, first+stride, ..., last map to c + delta."""
    pairs = []
    for c in code_points():
        low = chr(c).lower()
        if low == chr(c):
            continue
        if len(low) != 1:
            assert c == 0x130 and low == "i\u0307", hex(c)  # handled in code
            continue
        pairs.append((c, ord(low) - c))
    runs = []
    for c, delta in pairs:
        if runs:
            first, last, d, stride = runs[-1]
            if d == delta and (stride == 0 or c - last == stride) and c - last in (1, 2):
                runs[-1] = (first, c, d, c - last)
                continue
        runs.append((c, c, delta, 0))
    return [(f, l, d, s or 1) for f, l, d, s in runs]


def sigma_context():
    """Case_Ignorable, and Cased-but-not-Case_Ignorable, as CPython's final-sigma rule sees them:
    lower('A' + c + 'Σ') ends in ς iff c is ignorable or cased; lower(c + 'Σ') iff cased only."""
    ignorable, cased = [], []
    for c in code_points():
        after_cased = ("A" + chr(c) + "\u03a3").lower()[-1] == "\u03c2"
        alone = (chr(c) + "\u03a3").lower()[-1] == "\u03c2"
        if alone:
            cased.append(c)
        elif after_cased:
            ignorable.append(c)
    return ranges(ignorable), ranges(cased)


def python_spaces():
    return [c for c in code_points() if chr(c).isspace()]


# ---- ftfy 6.3.1 fixers ----
def width_runs():
    pairs = []
    for c, out in sorted(chardata.WIDTH_MAP.items()):
        if len(out) == 1:
            pairs.append((c, ord(out) - c))
    runs = []
    for c, delta in pairs:
        if runs and runs[-1][1] + 1 == c and runs[-1][2] == delta:
            runs[-1][1] = c
        else:
            runs.append([c, c, delta])
    return runs


def width_multi():
    """fix_character_width results longer than one code point (U+FFE3 -> space + macron)."""
    return sorted((c, out) for c, out in chardata.WIDTH_MAP.items() if len(out) != 1)


def kana_compositions():
    """NFC pairs that fix_character_width can create from halfwidth katakana (base + voicing
    mark); ftfy's NFC step then composes them."""
    out = []
    bases = {ord(v) for v in chardata.WIDTH_MAP.values() if len(v) == 1}
    for base in sorted(bases):
        for mark in (0x3099, 0x309A):
            composed = unicodedata.normalize("NFC", chr(base) + chr(mark))
            if len(composed) == 1:
                out.append((base, mark, ord(composed)))
    return out


def c1_map():
    out = []
    for b in range(0x80, 0xA0):
        fixed = ftfy.fixes.fix_c1_controls(chr(b))
        assert len(fixed) == 1
        out.append(ord(fixed))
    return out


def ligatures():
    return sorted(chardata.LIGATURES.items())


def control_chars():
    return ranges(chardata.CONTROL_CHARS.keys())


# ---- HTML entities ----
def entity_subset():
    """The named references both unescapers decode. The full HTML5 table has 2231 names; this
    keeps the HTML 4 set (Python's name2codepoint: Latin-1, Greek, math, typographic marks), the
    legacy names that also decode without a semicolon, &apos;, every HTML5 name that starts
    with a legacy name (so html.unescape's longest-prefix rule picks the same match), and the
    other-case spellings HTML5 has of all of these."""
    html5 = html.entities.html5
    legacy = {k for k in html5 if not k.endswith(";")}
    keep = set(legacy) | {"apos;"}
    for name in html5:
        base = name[:-1] if name.endswith(";") else name
        if base in html.entities.name2codepoint or base in legacy:
            keep.add(name)
        if any(name.startswith(l) for l in legacy):
            keep.add(name)
    # Other spellings of kept names (&TRADE;): an ALL-CAPS name must decode as the reference
    # does, whether through HTML5 or through ftfy's upper-casing.
    lowered = {k.lower() for k in keep}
    keep |= {name for name in html5 if name.lower() in lowered}
    return {k: html5[k] for k in sorted(keep)}


def ftfy_uppercase_entities(subset):
    """ftfy also decodes ALL-CAPS spellings of lowercase names (&EACUTE;) when html.unescape
    would leave them alone; the result is upper-cased."""
    out = {}
    for name, char in subset.items():
        if name.endswith(";") and name == name.lower():
            entity_upper = "&" + name.upper()
            if html.unescape(entity_upper) == entity_upper:
                assert chardata.HTML_ENTITIES[entity_upper] == char.upper()
                out[name.upper()] = char.upper()
    return out


def invalid_codepoints():
    return ranges(html._invalid_codepoints)


def invalid_charrefs():
    out = []
    for c, char in sorted(html._invalid_charrefs.items()):
        assert len(char) == 1
        out.append((c, ord(char)))
    return out


def render():
    """The header's text."""
    assert ftfy.__version__ == "6.3.1", ftfy.__version__
    case_insensitive_letters()
    subset = entity_subset()
    upper = ftfy_uppercase_entities(subset)
    ignorable, cased = sigma_context()
    w = []
    w.append("// Generated by tools/gen_tokenizer_tables.py; do not edit. Derived from the behaviour of")
    w.append("// Python %s (unicodedata %s), regex %s, ftfy %s and html.unescape."
             % (sys.version.split()[0], unicodedata.unidata_version, regex.__version__,
                ftfy.__version__))
    w.append("#pragma once")
    w.append("")
    w.append("#include <cstdint>")
    w.append("")
    w.append("namespace clip::tokenizer_tables {")
    w.append("")
    w.append("struct Range {")
    w.append("  uint32_t first, last;")
    w.append("};")
    w.append("struct ClassStart {")
    w.append("  uint32_t first;")
    w.append("  uint8_t cls;")
    w.append("};")
    w.append("struct CodeMap {")
    w.append("  uint32_t from, to;")
    w.append("};")
    w.append("struct LowerRun {")
    w.append("  uint32_t first, last;")
    w.append("  int32_t delta;")
    w.append("  uint32_t stride;")
    w.append("};")
    w.append("struct WidthRun {")
    w.append("  uint32_t first, last;")
    w.append("  int32_t delta;")
    w.append("};")
    w.append("struct Composition {")
    w.append("  uint32_t base, mark, composed;")
    w.append("};")
    w.append("struct Ligature {")
    w.append("  uint32_t code_point;")
    w.append("  const char* utf8;")
    w.append("};")
    w.append("struct Entity {")
    w.append("  const char* name;  // without '&'; ';' included where the name has one")
    w.append("  const char* utf8;")
    w.append("};")
    w.append("")

    def emit_ranges(name, comment, rs):
        w.append("// " + comment)
        w.append("inline constexpr Range %s[] = {" % name)
        w.append(wrap(["{0x%X, 0x%X}," % (a, b) for a, b in rs]))
        w.append("};")
        w.append("")

    starts = char_classes()
    w.append("// Pre-tokenization class of every code point from `first` up to the next entry:")
    w.append("// 0 other ([^\\s\\p{L}\\p{N}]), 1 letter, 2 number, 3 number that is also re's \\d,")
    w.append("// 4 regex \\s, 5 matched by no branch under IGNORECASE (skipped like whitespace).")
    w.append("inline constexpr ClassStart kClassStarts[] = {")
    w.append(wrap(["{0x%X, %d}," % (c, k) for c, k in starts]))
    w.append("};")
    w.append("")
    w.append("// str.lower, single code point results (U+0130 and final sigma are handled in code).")
    w.append("inline constexpr LowerRun kLowerRuns[] = {")
    w.append(wrap(["{0x%X, 0x%X, %d, %d}," % r for r in lower_runs()]))
    w.append("};")
    w.append("")
    emit_ranges("kCaseIgnorable", "Case_Ignorable (final-sigma context).", ignorable)
    emit_ranges("kCasedNotIgnorable", "Cased and not Case_Ignorable (final-sigma context).", cased)
    w.append("// str.isspace (str.strip's set).")
    w.append("inline constexpr uint32_t kPythonSpaces[] = {")
    w.append(wrap(["0x%X," % c for c in python_spaces()]))
    w.append("};")
    w.append("")
    w.append("// ftfy fix_character_width: fullwidth/halfwidth forms to standard width.")
    w.append("inline constexpr WidthRun kWidthRuns[] = {")
    w.append(wrap(["{0x%X, 0x%X, %d}," % tuple(r) for r in width_runs()]))
    w.append("};")
    w.append("")
    w.append("// ftfy fix_character_width results of more than one code point.")
    w.append("inline constexpr Ligature kWidthMulti[] = {")
    w.append(wrap(["{0x%X, %s}," % (c, cxx_string(t)) for c, t in width_multi()]))
    w.append("};")
    w.append("")
    w.append("// NFC compositions of katakana with (semi-)voicing marks that width fixing creates.")
    w.append("inline constexpr Composition kKanaCompositions[] = {")
    w.append(wrap(["{0x%X, 0x%X, 0x%X}," % t for t in kana_compositions()]))
    w.append("};")
    w.append("")
    w.append("// ftfy fix_c1_controls: U+0080..U+009F as sloppy Windows-1252.")
    w.append("inline constexpr uint32_t kC1ToWindows1252[32] = {")
    w.append(wrap(["0x%X," % c for c in c1_map()]))
    w.append("};")
    w.append("")
    w.append("// ftfy fix_latin_ligatures.")
    w.append("inline constexpr Ligature kLigatures[] = {")
    w.append(wrap(["{0x%X, %s}," % (c, cxx_string(s)) for c, s in ligatures()]))
    w.append("};")
    w.append("")
    emit_ranges("kControlChars", "ftfy remove_control_chars.", control_chars())
    emit_ranges("kHtmlInvalidCodePoints",
                "html.unescape: numeric references to these decode to nothing.",
                invalid_codepoints())
    w.append("// html.unescape: numeric references that decode to a replacement character.")
    w.append("inline constexpr CodeMap kHtmlInvalidCharrefs[] = {")
    w.append(wrap(["{0x%X, 0x%X}," % t for t in invalid_charrefs()]))
    w.append("};")
    w.append("")
    w.append("// Named references (a subset of HTML5: see entity_subset in the generator), sorted.")
    w.append("inline constexpr Entity kEntities[] = {")
    w.append(wrap(["{%s, %s}," % (cxx_string(n), cxx_string(c)) for n, c in subset.items()]))
    w.append("};")
    w.append("")
    w.append("// ftfy's ALL-CAPS spellings of lowercase names, sorted; values upper-cased.")
    w.append("inline constexpr Entity kUppercaseEntities[] = {")
    w.append(wrap(["{%s, %s}," % (cxx_string(n), cxx_string(upper[n])) for n in sorted(upper)]))
    w.append("};")
    w.append("")
    w.append("}  // namespace clip::tokenizer_tables")
    return "\n".join(w) + "\n"


def main():
    out_path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_OUTPUT
    text = render()
    with open(out_path, "w", encoding="utf-8") as f:
        f.write(text)
    print("wrote %s (%d bytes)" % (out_path, len(text)))


if __name__ == "__main__":
    main()
