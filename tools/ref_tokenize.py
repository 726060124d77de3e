#!/usr/bin/env python3
"""Reference fixtures for the native tokenizer (tests/native/tokenizer_test.cpp).

Usage: ref_tokenize.py OUTDIR

Writes OUTDIR/tokenizer/:
  cases.json                    test strings with OpenAI's ids (see below)
  bpe_simple_vocab_16e6.txt.gz  OpenAI's merges, copied from the openai-clip package
  vocab.json, merges.txt        the same vocabulary in Hugging Face's layout, as written by
                                transformers' CLIPTokenizer.save_vocabulary
and OUTDIR/fuzz/tokenizer/*.txt, a seed corpus for tests/fuzz/tokenizer_fuzz.cpp.
It first checks that src/tokenizer-tables.h is what tools/gen_tokenizer_tables.py derives from
the installed reference packages.

The reference is OpenAI's own package: for each string, `ids` is
clip.simple_tokenizer.SimpleTokenizer().encode(text) and `tokens` is
clip.tokenize(text, truncate=True)[0] cut at its true length (min(len(ids) + 2, 77)), and
`decoded_ids` is SimpleTokenizer().decode(ids).

Inputs are NFC-normalized first, as the JavaScript layer does before calling the tokenizer.
Cases given as bytes (`bytes_hex`, e.g. invalid UTF-8) are decoded for the reference with
bytes.decode("utf-8", errors="replace"), the behaviour the native decoder reproduces.

Cases whose reference output depends on what the native tokenizer documents as not reproduced
(ftfy's mojibake repair, detected by comparing ftfy.fix_text with and without fix_encoding;
ftfy's NFC of sequences its own fixes created, detected by running fix_text without
normalization; and a few hand-picked ones, e.g. HTML5 names outside the table) go to
`known_gaps`: the test reports how many of them still match but does not require it.

The Hugging Face layout: vocab.json and merges.txt are first written from SimpleTokenizer's own
encoder and bpe_ranks, loaded into transformers' (slow) CLIPTokenizer, and saved again with its
save_vocabulary, so the files the test reads are HF's own serialization. The saved files are
reloaded and their ids compared with OpenAI's on every case; disagreements are printed (HF
skips SimpleTokenizer's html.unescape and splits special tokens first, so some are expected).
"""
import gzip
import json
import os
import random
import shutil
import sys
import tempfile
import unicodedata

import clip
import ftfy
from clip.simple_tokenizer import SimpleTokenizer
from transformers import CLIPTokenizer

CONTEXT = 77


def text_cases():
    """(category, name, text) triples."""
    out = []

    def add(category, *texts):
        for i, t in enumerate(texts):
            out.append((category, "%s-%d" % (category, i), t))

    add("plain", "a photo of a cat", "a diagram", "a dog.", "A photo of a dog on the beach at sunset",
        "an oil painting of a lighthouse", "two people playing chess in a park",
        "the quick brown fox jumps over the lazy dog", "hello world")
    add("punctuation", "hello, world!", "what?!?", "wait... what", "(parenthesis) [brackets] {braces}",
        "a-b_c/d\\e", "semi;colon:colon", "#hashtag @mention", "email: someone@example.com",
        "https://example.com/path?q=1&x=2", "~~~tilde~~~", "!!!", "...", "--", "a--b",
        "price: $9.99 (50% off)", "C++ and C#", "x*y=z^2", "\"quoted\" 'single'", "<html> tag",
        "1,000,000", "`code` | pipe", "&", "a & b", "&&", "; ;")
    add("numbers", "123", "2024-06-01", "3.14159", "1st 2nd 3rd 4th", "007", "9876543210",
        "v2.0.1", "10x faster", "-42", "1e10", "\u0661\u0662\u0663 arabic digits",
        "\u0967\u0968 devanagari digits", "\u2460\u2461 circled", "\u00bd half \u00b2 squared",
        "\u2167 roman numeral")
    add("contractions", "it's", "don't", "we're", "they've", "I'm", "we'll", "she'd", "IT'S",
        "DON'T", "'s", "'ll'll", "rock'n'roll", "o'clock", "it\u2019s curly", "can\u2019t",
        "'S at start", "it\u017ft", "l'amour", "the dogs' bowls")
    add("accents", "caf\u00e9", "na\u00efve r\u00e9sum\u00e9", "Stra\u00dfe", "\u00fcber",
        "se\u00f1or ni\u00f1o", "Cr\u00e8me Br\u00fbl\u00e9e", "\u0142\u00f3d\u017a", "\u010desk\u00fd",
        "Ti\u1ebfng Vi\u1ec7t", "ISTANBUL \u0130stanbul \u0131", "\u00c5NGSTR\u00d6M",
        "e\u0301 decomposed", "A\u030a decomposed ring", "\u1e9e capital sharp s",
        "\u00c6SIR \u00e6sir", "\u00d8resund", "\u0110\u0111")
    add("greek_cyrillic", "\u039f\u0394\u039f\u03a3", "\u03a3", "\u03a3\u0391\u03a3.", "\u0391\u03a3 \u03a3\u0391",
        "\u039a\u03b1\u03bb\u03b7\u03bc\u03ad\u03c1\u03b1 \u03ba\u03cc\u03c3\u03bc\u03b5",
        "\u03a3'\u03a3", "\u0391\u03a3\u0345", "\u041f\u0420\u0418\u0412\u0415\u0422 \u043c\u0438\u0440",
        "\u0401\u043b\u043a\u0430", "\u0423\u043a\u0440\u0430\u0457\u043d\u0430 \u0490",
        "\u0531\u0532\u0533 armenian")
    add("emoji", "\U0001F600", "I \u2764\ufe0f NY", "\U0001F44D\U0001F3FD", "\U0001F468\u200d\U0001F469\u200d\U0001F467",
        "\U0001F1EF\U0001F1F5 flag", "1\ufe0f\u20e3 keycap", "\U0001F3F4\U000E0067\U000E0062\U000E0077\U000E006C\U000E0073\U000E007F wales",
        "\U0001F431\U0001F436\U0001F42D", "\u2600\ufe0f sunny", "emoji at end \U0001F680",
        "\U0001F9D1\u200d\U0001F4BB coder", "\u00a9\u00ae\u2122")
    add("cjk", "\u732b", "\u4e00\u53ea\u732b\u7684\u7167\u7247", "\u65e5\u672c\u8a9e\u306e\u6587\u7ae0",
        "\u3072\u3089\u304c\u306a \u30ab\u30bf\u30ab\u30ca", "\ud55c\uad6d\uc5b4 \ubb38\uc7a5",
        "\u4e2d\u6587English\u6df7\u5408", "\u3002\u3001\u300c\u300d", "\uff76\uff9e\uff77\uff9e\uff8a\uff9f",
        "\uff73\uff9e \uff9c\uff9e", "\u30ac\u30ae halfwidth composed", "\uffa1\uffa4 halfwidth hangul",
        "\u3000ideographic\u3000space\u3000")
    add("scripts", "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645",
        "\u05e9\u05dc\u05d5\u05dd", "\u0928\u092e\u0938\u094d\u0924\u0947", "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35",
        "\u10d2\u10d0\u10db\u10d0\u10e0\u10ef\u10dd\u10d1\u10d0 \u1c93\u1c90", "\u13a0\u13a1\u13a2 cherokee",
        "\U00010400\U00010401 deseret", "\u2c00 glagolitic", "\U0001E900 adlam")
    add("html", "&amp;", "fish &amp; chips", "&lt;b&gt;bold&lt;/b&gt;", "&quot;quoted&quot;",
        "it&#39;s", "it&#x27;s", "&#8217;curly&#8217;", "non&nbsp;breaking", "caf&eacute;",
        "CAF&EACUTE;", "STRA&SZLIG;E", "&hellip; and &mdash;", "&copy; 2024 &reg; &trade;",
        "&amp;amp; double", "&amp;amp;amp;amp; nested", "&euro;100", "&alpha;&beta;&Gamma;",
        "&ampfoo", "&amplifier", "&notit; &notin;", "&ltfoo", "&#0;", "&#128;", "&#x85;",
        "&#1114112;", "&#xD800;", "&#99999999999999999999;", "&#65", "&#x41 and &#X42;", "&#;",
        "&#x;", "& amp;", "&unknownentity;", "&AMP; &LT;", "a <b> &amp; &eacute; here",
        "line one\n&amp; line two <tag>\n&amp; line three", "first &amp;\nthen <b>\n&eacute;",
        "&#x1F600;", "&#12;", "&#13;", "&apos;", "&APOS;", "&Ntilde; &NTILDE; &nTILDE;",
        "&centerdot;", "&frac12;", "&#x2028;", "&#160;", "&nbsp;&nbsp;x&nbsp;&nbsp;", "&#x3000;",
        "&lt;|endoftext|&gt;")
    add("curly", "\u201cquoted\u201d", "\u2018single\u2019", "\u201elow\u201c", "\u201bhigh\u201f",
        "\u02bcokina", "don\u2019t \u201cstop\u201d", "\u00abguillemets\u00bb", "\u2039single\u203a")
    add("ligatures", "\ufb01nd \ufb02ow", "o\ufb03ce wa\ufb04e", "\ufb00", "\ufb05 \ufb06",
        "\u0132sselmeer \u0133s", "\u01c4 \u01c5 \u01c6", "\u01c7 \u01c8 \u01c9 \u01ca \u01cb \u01cc",
        "\u01f1 \u01f2 \u01f3", "\u0149 afrikaans")
    add("fullwidth", "\uff2c\uff2f\uff35\uff24\u3000\uff2e\uff2f\uff29\uff33\uff25\uff33",
        "\uff11\uff12\uff13", "\uff01\uff1f", "\uff41\uff42\uff43", "\uff08\uff09",
        "\uff07s fullwidth apostrophe", "\uffe5100 \uffe0", "\uffe3 macron", "\uff5f\uff60",
        "\uffe8\uffe9")
    add("whitespace", "line one\nline two", "tab\tseparated", "windows\r\nline", "old mac\rline",
        "  leading and trailing  ", "multiple     spaces", "non\u00a0breaking\u00a0space",
        "line\u2028separator", "para\u2029separator", "thin\u2009space", "zero\u200bwidth",
        "vertical\x0btab", "form\x0cfeed", "\n\nnewlines\n\n", "nel\x85char", "mixed \t\n\r\x0c all",
        "ogham\u1680space", "narrow\u202fnbsp", "em\u2003space", "word\u200djoiner")
    add("empty", "", " ", "   ", "\n", "\t\n\r ", "\u3000", "\u00a0\u2003", "\x00", "\u200b")
    add("case", "HELLO World", "mIxEd CaSe", "ALL CAPS SENTENCE", "CamelCaseWord", "iPhone",
        "McDONALD's", "\u0130I\u0131i", "\u01c5", "\u1f88 greek", "\u212a kelvin \u212b angstrom",
        "\u2126 ohm")
    add("controls", "a\x00b", "nul\x00\x00", "\x01\x02\x03text", "bell\x07", "del\x7f",
        "\x1b[31mred\x1b[0m", "\x1b[1;32mbold green\x1b[m", "\x1b[\x1b[31mm", "esc\x1bx",
        "\ufeffbom", "\u206aarabic control", "\ufffcobj", "c1 \x80 \x91 \x92 \x9d", "\x1c\x1d\x1e\x1f",
        "\u200e\u200f marks", "\U000E0001 tag", "\x1b[\u0661m arabic digit")
    add("special", "<|startoftext|>", "<|endoftext|>", "a<|endoftext|>b", "<|STARTOFTEXT|>",
        "<|\u017ftartoftext|>", "<|endoftext|><|endoftext|>", "<|endoftext", "<|startoftext|>hello")
    add("misc", "\u0345", "a\u0345b", "\u00b5 micro", "\u2202\u2211\u221a\u221e", "\u2190\u2192\u2194",
        "\u266a\u266b music", "\u2605\u2606 stars", "\u00b0C and \u00b0F", "\ufffd replacement",
        "\U0001D400\U0001D401 math bold", "\u2014em\u2013en dash", "\u00ad soft hyphen",
        "__init__.py", "a_b-c.d", "snake_case_name", "'''triple'''", "''", "'", "'x", "x'")

    words = ("photo picture image cat dog bird tree mountain river city night day red green blue "
             "small large old new running sleeping beautiful painting sketch drawing of the a an "
             "with on in at by").split()
    rng = random.Random(20240601)
    long_texts = [
        " ".join(rng.choice(words) for _ in range(120)),
        " ".join(rng.choice(words) for _ in range(75)),
        " ".join(rng.choice(words) for _ in range(76)),
        "1234567890" * 20,
        "a" * 500,
        "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(600)),
        "!?" * 200,
        "\U0001F600" * 100,
        "\u732b" * 100,
        ("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor "
         "incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud "
         "exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat."),
        "word " * 100,
        "supercalifragilisticexpialidocious " * 10,
    ]
    add("long", *long_texts)

    # Seeded random strings over characters the cleanup treats specially.
    pool = (list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") +
            list(" \t\n\r.,;:!?'\"-&#<>/()") +
            ["&amp;", "&lt;", "&#39;", "&eacute;", "&nbsp;", "&#x2019;", "'s", "'ll"] +
            [chr(c) for c in (0xE9, 0xFC, 0xDF, 0x3A3, 0x3C3, 0x130, 0x131, 0x41F, 0x436, 0x17F,
                              0x2018, 0x2019, 0x201C, 0x201D, 0xFB01, 0xFF21, 0xFF41, 0xFF11,
                              0xFF76, 0xFF9E, 0x3000, 0x3042, 0x732B, 0xD55C, 0x1F600, 0x1F44D,
                              0x200B, 0x2028, 0xA0, 0x345, 0x301, 0x660, 0x2160, 0xFEFF, 0x1B,
                              0x7F, 0x0, 0x85, 0x92, 0xAD, 0x10400, 0x13A0, 0x1C90, 0x2126)])
    for _ in range(60):
        n = rng.randint(1, 40)
        out.append(("random", "random-%d" % len([c for c in out if c[0] == "random"]),
                    "".join(rng.choice(pool) for _ in range(n))))
    return out


def byte_cases():
    """(category, name, bytes): ill-formed UTF-8 and raw NULs."""
    raw = [
        b"caf\xe9",                      # Latin-1 byte
        b"\xff\xfe",                     # never valid
        b"ok\xc3",                       # truncated 2-byte sequence at the end
        b"\xe2\x82 euro truncated",      # truncated 3-byte sequence
        b"\xed\xa0\x80 surrogate",       # encoded surrogate
        b"\xc0\xaf overlong",            # overlong '/'
        b"\xf4\x90\x80\x80 too big",     # above U+10FFFF
        b"\x80\x80 stray continuations",
        b"\xf0\x9f\x98 cut emoji \xf0\x9f\x98\x80",
        b"a\x00b\x00c",
        b"\xe0\x80\x80 overlong 3",
        b"mixed \xe6\x97\xa5 \xe6\x97 \xe6",
    ]
    return [("bytes", "bytes-%d" % i, b) for i, b in enumerate(raw)]


# Hand-picked cases that depend on behaviour documented as not reproduced.
GAP_CASES = [
    ("gap-mojibake-1", "Caf\u00c3\u00a9"),                  # UTF-8 read as Latin-1
    ("gap-mojibake-2", "\u00e2\u20ac\u0153quoted\u00e2\u20ac\u009d"),
    ("gap-mojibake-3", "The Mona Lisa doesn\u00c3\u00a2\u00e2\u201a\u00ac\u00e2\u201e\u00a2t"),
    ("gap-html5-name", "&check; &hearts; &NewLine;x"),
    ("gap-html5-name-2", "&bigstar; &rarrw;"),
    ("gap-nfc-after-fix", "e&#769; and \ufb01\u0301"),
]


def reference(tokenizer, text):
    ids = tokenizer.encode(text)
    row = clip.tokenize(text, context_length=CONTEXT, truncate=True)[0].tolist()
    length = min(len(ids) + 2, CONTEXT)
    assert all(v == 0 for v in row[length:]), text
    tokens = row[:length]
    expected = ([49406] + ids + [49407])[:CONTEXT]
    expected[-1] = 49407
    assert tokens == expected, text
    return ids, tokens


def depends_on_mojibake_repair(text):
    return ftfy.fix_text(text) != ftfy.fix_text(text, fix_encoding=False)


def depends_on_nfc_after_fixes(text):
    """Whether ftfy's own NFC composes something its fixes created (the input is already NFC),
    beyond the katakana + voicing mark compositions the native side reproduces."""
    fixed = ftfy.fix_text(text, normalization=None)
    width_outputs = {v for v in ftfy.chardata.WIDTH_MAP.values() if len(v) == 1}
    kana = []
    for ch in fixed:
        if ch in "\u3099\u309a" and kana and kana[-1] in width_outputs:
            composed = unicodedata.normalize("NFC", kana[-1] + ch)
            if len(composed) == 1:
                kana[-1] = composed
                continue
        kana.append(ch)
    return unicodedata.normalize("NFC", fixed) != "".join(kana)


def write_hf_layout(openai, out_dir):
    """vocab.json + merges.txt as CLIPTokenizer.save_vocabulary writes them."""
    with tempfile.TemporaryDirectory() as tmp:
        vocab_path = os.path.join(tmp, "vocab.json")
        merges_path = os.path.join(tmp, "merges.txt")
        with open(vocab_path, "w", encoding="utf-8") as f:
            json.dump(openai.encoder, f, ensure_ascii=False)
        merges = sorted(openai.bpe_ranks.items(), key=lambda kv: kv[1])
        with open(merges_path, "w", encoding="utf-8") as f:
            f.write("#version: 0.2\n")
            f.write("\n".join(" ".join(pair) for pair, _ in merges) + "\n")
        staged = CLIPTokenizer(vocab_path, merges_path)
        assert staged.encoder == openai.encoder
        assert staged.bpe_ranks == openai.bpe_ranks
        saved = staged.save_vocabulary(out_dir)
    assert sorted(os.path.basename(p) for p in saved) == ["merges.txt", "vocab.json"], saved
    reloaded = CLIPTokenizer(os.path.join(out_dir, "vocab.json"), os.path.join(out_dir, "merges.txt"))
    assert reloaded.encoder == openai.encoder and reloaded.bpe_ranks == openai.bpe_ranks
    return reloaded


def check_tables_current():
    """The committed src/tokenizer-tables.h must be what the generator derives from the
    reference packages installed here; otherwise parity failures would be misleading."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import gen_tokenizer_tables

    with open(gen_tokenizer_tables.DEFAULT_OUTPUT, encoding="utf-8") as f:
        committed = f.read()
    if committed != gen_tokenizer_tables.render():
        sys.exit("src/tokenizer-tables.h differs from what tools/gen_tokenizer_tables.py derives "
                 "from the installed reference packages: regenerate it and review the diff")


def main():
    out = sys.argv[1]
    check_tables_current()
    tok_dir = os.path.join(out, "tokenizer")
    seed_dir = os.path.join(out, "fuzz", "tokenizer")
    os.makedirs(tok_dir, exist_ok=True)
    shutil.rmtree(seed_dir, ignore_errors=True)
    os.makedirs(seed_dir)

    bpe_gz = os.path.join(os.path.dirname(clip.__file__), "bpe_simple_vocab_16e6.txt.gz")
    shutil.copy(bpe_gz, os.path.join(tok_dir, "bpe_simple_vocab_16e6.txt.gz"))
    openai = SimpleTokenizer(bpe_gz)
    hf = write_hf_layout(openai, tok_dir)

    cases, gaps, hf_disagreements = [], [], []
    for category, name, raw in text_cases():
        text = unicodedata.normalize("NFC", raw)
        entry = {"name": name, "category": category, "text": text}
        if text != raw:
            entry["nfc_applied"] = True
        if depends_on_mojibake_repair(text):
            entry["gap"] = "ftfy's mojibake repair changes it"
            gaps.append(entry)
        elif depends_on_nfc_after_fixes(text):
            entry["gap"] = "ftfy's NFC composes what its fixes created"
            gaps.append(entry)
        else:
            cases.append(entry)
    for category, name, raw in byte_cases():
        text = raw.decode("utf-8", errors="replace")
        cases.append({"name": name, "category": category, "bytes_hex": raw.hex(), "reference_text": text})
    for name, raw in GAP_CASES:
        gaps.append({"name": name, "category": "gap", "text": unicodedata.normalize("NFC", raw),
                     "gap": "documented as not reproduced"})

    for entry in cases + gaps:
        text = entry.get("reference_text", entry.get("text"))
        entry["ids"], entry["tokens"] = reference(openai, text)
        entry["decoded_ids"] = openai.decode(entry["ids"])
        hf_ids = hf.encode(text, add_special_tokens=False)
        if hf_ids != entry["ids"]:
            hf_disagreements.append((entry["name"], text, entry["ids"], hf_ids))
        entry["hf_agrees"] = hf_ids == entry["ids"]
    for i, entry in enumerate(cases):
        data = bytes.fromhex(entry["bytes_hex"]) if "bytes_hex" in entry else entry["text"].encode()
        with open(os.path.join(seed_dir, "case-%03d.txt" % i), "wb") as f:
            f.write(data)

    with open(os.path.join(tok_dir, "cases.json"), "w", encoding="utf-8") as f:
        json.dump({"context_length": CONTEXT, "cases": cases, "known_gaps": gaps}, f,
                  ensure_ascii=False, indent=1)
    print("tokenizer fixtures: %d cases, %d known gaps (%d detected), written to %s"
          % (len(cases), len(gaps), len(gaps) - len(GAP_CASES), tok_dir))
    print("HF CLIPTokenizer (slow, ftfy) disagrees with OpenAI on %d of %d strings:"
          % (len(hf_disagreements), len(cases) + len(gaps)))
    for name, text, ids, hf_ids in hf_disagreements:
        print("  %s %r\n    openai %s\n    hf     %s" % (name, text, ids, hf_ids))
    assert len(cases) >= 200, len(cases)


if __name__ == "__main__":
    main()
