// Text cleanup and pre-tokenization of OpenAI's SimpleTokenizer, reproduced without ICU.
//
// The reference (clip/simple_tokenizer.py, with ftfy 6.3.1 and regex 2024.11.6) computes
//   text = ftfy.fix_text(text); text = html.unescape(html.unescape(text)); text = text.strip()
//   text = re.sub(r"\s+", " ", text).strip().lower()
//   words = re.findall(pattern, text)   # pattern below, IGNORECASE
// Reproduced exactly (tables in tokenizer-tables.h are generated from the reference packages):
//  - ftfy's segmentation (lines, cut at 1,000,000 code points; a line containing '<' turns
//    ftfy's entity decoding off for that line and every later one, as fix_text does), its
//    repeat-until-unchanged loop, and these fixers in ftfy's order: unescape_html (ftfy's rules:
//    only names ending in ';', the ALL-CAPS spellings, numeric references only when fully
//    consumed), fix_c1_controls, fix_latin_ligatures, fix_character_width, uncurl_quotes,
//    fix_line_breaks, remove_terminal_escapes, remove_control_chars.
//  - html.unescape: numeric references (decimal and hex, any length, with or without ';',
//    Python's replacements for invalid ones), named references with and without ';', and the
//    longest-prefix rule for legacy names written without ';' ("&ampx" -> "&x").
//  - str.strip / str.isspace, regex's \s, str.lower for every code point of Unicode 14 (full
//    mapping: U+0130 -> "i\u0307"; final sigma with Cased / Case_Ignorable context).
//  - The pre-tokenization pattern with the IGNORECASE equivalences that matter: U+017F (long s)
//    matches 's' in "'s" and in the special tokens, and U+0345 is matched by no branch.
// Not reproduced:
//  - ftfy's mojibake repair (fix_encoding: encoding detection and re-decoding, restore_byte_a0,
//    replace_lossy_sequences, decode_inconsistent_utf8). Text that ftfy would re-decode, such as
//    "CafÃ©", is kept as given.
//  - NFC normalization: the caller normalizes before tokenizing (the JS layer calls
//    String.prototype.normalize("NFC")). ftfy normalizes again after its fixes; of the
//    compositions that only become possible after a fix, only halfwidth katakana followed by
//    a (semi-)voicing mark is composed here. Others (a combining mark after an entity or a
//    ligature, e.g. "e&#769;") stay decomposed.
//  - Named references outside the subset in tokenizer-tables.h (the HTML 4 names, &apos;, the
//    legacy names, the HTML5 names that begin with one, and HTML5's other-case spellings of all
//    of these: 430 of HTML5's 2231). Others, such as "&check;", are left as written where the
//    reference decodes them; so are ftfy's ALL-CAPS spellings of them ("&CHECK;").
//  - ftfy's loop is capped at kMaxFixRounds (32) rounds per line, so that untrusted input runs
//    in bounded time; only entities nested more than 34 levels deep ("&amp;amp;...;": 32 rounds,
//    then html.unescape twice) come out differently.
//  - Unicode versions: classes follow the regex module's tables and lowercasing Python 3.11's
//    Unicode 14; the caller's NFC follows its own engine.
#include "tokenizer-text.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>

#include "tokenizer-tables.h"

namespace clip::tokenizer_text {
namespace {

namespace tables = clip::tokenizer_tables;

constexpr char32_t kReplacement = 0xFFFD;
constexpr int kMaxFixRounds = 32;
// ftfy fixes text in segments of at most this many code points (max_decode_length).
constexpr size_t kMaxSegment = 1000000;

enum CharClass : uint8_t { kOther, kLetter, kNumber, kDigit, kSpace, kUnmatched };

template <typename T, size_t N>
bool in_ranges(const T (&table)[N], char32_t c) {
  auto it = std::upper_bound(std::begin(table), std::end(table), c,
                             [](char32_t v, const T& r) { return v < r.first; });
  return it != std::begin(table) && c <= std::prev(it)->last;
}

CharClass char_class_slow(char32_t c) {
  auto it = std::upper_bound(std::begin(tables::kClassStarts), std::end(tables::kClassStarts), c,
                             [](char32_t v, const tables::ClassStart& s) { return v < s.first; });
  return static_cast<CharClass>(std::prev(it)->cls);
}

CharClass char_class(char32_t c) {
  static const std::array<CharClass, 128> ascii = [] {
    std::array<CharClass, 128> a{};
    for (char32_t i = 0; i < 128; ++i) a[i] = char_class_slow(i);
    return a;
  }();
  return c < 128 ? ascii[c] : char_class_slow(c);
}

bool is_python_space(char32_t c) {
  return std::binary_search(std::begin(tables::kPythonSpaces), std::end(tables::kPythonSpaces),
                            static_cast<uint32_t>(c));
}

bool is_ascii_digit(char32_t c) {
  return c >= '0' && c <= '9';
}
bool is_ascii_letter(char32_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_ascii_alnum(char32_t c) {
  return is_ascii_digit(c) || is_ascii_letter(c);
}
bool is_hex_digit(char32_t c) {
  return is_ascii_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
int hex_value(char32_t c) {
  return is_ascii_digit(c) ? int(c - '0') : int((c | 0x20) - 'a' + 10);
}

void append_utf8_as_u32(std::u32string& out, const char* utf8) {
  out += utf8_decode(utf8);
}

// ---- HTML references ----

// A named reference from `table`, matched against code points that must all be ASCII.
template <size_t N>
const char* find_entity(const tables::Entity (&table)[N], std::u32string_view name) {
  char key[40];
  if (name.size() >= sizeof key) return nullptr;
  for (size_t i = 0; i < name.size(); ++i) {
    if (name[i] >= 128) return nullptr;
    key[i] = static_cast<char>(name[i]);
  }
  key[name.size()] = '\0';
  auto it = std::lower_bound(
      std::begin(table), std::end(table), key,
      [](const tables::Entity& e, const char* k) { return std::strcmp(e.name, k) < 0; });
  return it != std::end(table) && std::strcmp(it->name, key) == 0 ? it->utf8 : nullptr;
}

// html.unescape's _replace_charref for a numeric reference whose value is `value` (saturated
// above U+10FFFF).
void append_numeric_reference(std::u32string& out, uint32_t value) {
  for (const tables::CodeMap& m : tables::kHtmlInvalidCharrefs) {
    if (m.from == value) {
      out += static_cast<char32_t>(m.to);
      return;
    }
  }
  if ((value >= 0xD800 && value <= 0xDFFF) || value > 0x10FFFF) {
    out += kReplacement;
  } else if (!in_ranges(tables::kHtmlInvalidCodePoints, value)) {
    out += static_cast<char32_t>(value);
  }
}

// Parses one html.unescape match starting at text[at] == '&'. Appends the replacement and
// returns the end of the match, or returns `at` when the pattern does not match there.
size_t unescape_one(std::u32string_view text, size_t at, std::u32string& out) {
  const size_t n = text.size();
  size_t i = at + 1;
  if (i < n && text[i] == '#') {
    ++i;
    const bool hex = i < n && (text[i] == 'x' || text[i] == 'X');
    if (hex) ++i;
    const size_t digits = i;
    uint32_t value = 0;
    while (i < n && (hex ? is_hex_digit(text[i]) : is_ascii_digit(text[i]))) {
      const uint32_t d = hex ? hex_value(text[i]) : text[i] - '0';
      value = std::min<uint32_t>(value * (hex ? 16 : 10) + d, 0x110000);
      ++i;
    }
    if (i == digits) return at;  // "&#" or "&#x" without digits: no match
    if (i < n && text[i] == ';') ++i;
    append_numeric_reference(out, value);
    return i;
  }
  // Named: [^\t\n\f <&#;]{1,32};?
  const size_t name_begin = i;
  while (i < n && i - name_begin < 32) {
    const char32_t c = text[i];
    if (c == '\t' || c == '\n' || c == '\f' || c == ' ' || c == '<' || c == '&' || c == '#' ||
        c == ';') {
      break;
    }
    ++i;
  }
  if (i == name_begin) return at;
  if (i < n && text[i] == ';') ++i;
  const std::u32string_view name = text.substr(name_begin, i - name_begin);
  if (const char* value = find_entity(tables::kEntities, name)) {
    append_utf8_as_u32(out, value);
    return i;
  }
  // The longest prefix of at least two characters that is a name (only legacy names, written
  // without ';', can match a proper prefix).
  for (size_t len = name.size() - 1; len >= 2 && len < name.size(); --len) {
    if (const char* value = find_entity(tables::kEntities, name.substr(0, len))) {
      append_utf8_as_u32(out, value);
      out += name.substr(len);
      return i;
    }
  }
  out += U'&';
  out += name;
  return i;
}

// ftfy.fixes.unescape_html: matches &#?[0-9A-Za-z]{1,24}; and decodes only what it fully
// understands.
std::u32string ftfy_unescape(std::u32string_view text) {
  std::u32string out;
  out.reserve(text.size());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    if (text[i] != '&') {
      out += text[i++];
      continue;
    }
    size_t j = i + 1;
    const bool numeric = j < n && text[j] == '#';
    if (numeric) ++j;
    const size_t name_begin = j;
    while (j < n && j - name_begin < 24 && is_ascii_alnum(text[j])) ++j;
    if (j == name_begin || j >= n || text[j] != ';') {
      out += text[i++];
      continue;
    }
    const size_t end = j + 1;
    const std::u32string_view match = text.substr(i, end - i);
    const char* value = nullptr;
    if (!numeric) {
      const std::u32string_view name = text.substr(name_begin, end - name_begin);
      value = find_entity(tables::kEntities, name);
      if (!value) value = find_entity(tables::kUppercaseEntities, name);
    }
    if (value) {
      append_utf8_as_u32(out, value);
    } else if (numeric) {
      const std::u32string decoded = html_unescape(match);
      if (decoded.find(U';') == std::u32string::npos) {
        out += decoded;
      } else {
        out += match;
      }
    } else {
      out += match;
    }
    i = end;
  }
  return out;
}

// ---- ftfy's character fixers ----

char32_t fix_c1(char32_t c) {
  return c >= 0x80 && c <= 0x9F ? static_cast<char32_t>(tables::kC1ToWindows1252[c - 0x80]) : c;
}

void append_ligature_fixed(std::u32string& out, char32_t c) {
  for (const tables::Ligature& l : tables::kLigatures) {
    if (l.code_point == c) {
      append_utf8_as_u32(out, l.utf8);
      return;
    }
  }
  out += c;
}

void append_width_fixed(std::u32string& out, char32_t c) {
  if (c == 0x3000 || (c >= 0xFF01 && c <= 0xFFEF)) {
    for (const tables::Ligature& m : tables::kWidthMulti) {
      if (m.code_point == c) {
        append_utf8_as_u32(out, m.utf8);
        return;
      }
    }
    for (const tables::WidthRun& r : tables::kWidthRuns) {
      if (c >= r.first && c <= r.last) {
        out += static_cast<char32_t>(static_cast<int32_t>(c) + r.delta);
        return;
      }
    }
  }
  out += c;
}

char32_t uncurl(char32_t c) {
  if (c == 0x02BC || (c >= 0x2018 && c <= 0x201B)) return U'\'';
  if (c >= 0x201C && c <= 0x201F) return U'"';
  return c;
}

// fix_c1_controls, fix_latin_ligatures, fix_character_width and uncurl_quotes, in that order.
std::u32string fix_characters(std::u32string_view text) {
  std::u32string after_ligatures;
  after_ligatures.reserve(text.size());
  for (char32_t c : text) append_ligature_fixed(after_ligatures, fix_c1(c));
  std::u32string out;
  out.reserve(after_ligatures.size());
  for (char32_t c : after_ligatures) append_width_fixed(out, c);
  for (char32_t& c : out) c = uncurl(c);
  return out;
}

std::u32string fix_line_breaks(std::u32string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char32_t c = text[i];
    if (c == '\r') {
      out += U'\n';
      if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
    } else if (c == 0x2028 || c == 0x2029 || c == 0x85) {
      out += U'\n';
    } else {
      out += c;
    }
  }
  return out;
}

// ESC [ (\d|;)* [a-zA-Z], where \d is re's Unicode decimal digit.
std::u32string remove_terminal_escapes(std::u32string_view text) {
  std::u32string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] == 0x1B && i + 1 < text.size() && text[i + 1] == '[') {
      size_t j = i + 2;
      while (j < text.size() && (text[j] == ';' || char_class(text[j]) == kDigit)) ++j;
      if (j < text.size() && is_ascii_letter(text[j])) {
        i = j + 1;
        continue;
      }
    }
    out += text[i++];
  }
  return out;
}

bool is_removed_control(char32_t c) {
  if (c < 0x80) return (c < 0x20 && c != '\t' && c != '\n' && c != '\f' && c != '\r') || c == 0x7F;
  return in_ranges(tables::kControlChars, c);
}

std::u32string remove_control_chars(std::u32string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (char32_t c : text) {
    if (!is_removed_control(c)) out += c;
  }
  return out;
}

// The part of ftfy's NFC step that the caller's NFC cannot have done already: katakana made
// from halfwidth forms, followed by a voicing mark.
std::u32string compose_kana(std::u32string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (char32_t c : text) {
    if ((c == 0x3099 || c == 0x309A) && !out.empty()) {
      bool composed = false;
      for (const tables::Composition& k : tables::kKanaCompositions) {
        if (k.base == out.back() && k.mark == c) {
          out.back() = static_cast<char32_t>(k.composed);
          composed = true;
          break;
        }
      }
      if (composed) continue;
    }
    out += c;
  }
  return out;
}

// ftfy.fix_and_explain on one segment, minus fix_encoding (see the top of this file).
std::u32string fix_segment(std::u32string text, bool unescape_html) {
  // Each fixer runs only where it can change something (a cheap scan first): ftfy loops until
  // nothing changes, and deeply nested entities would otherwise cost every pass every round.
  auto any = [](const std::u32string& s, auto predicate) {
    return std::any_of(s.begin(), s.end(), predicate);
  };
  for (int round = 0; round < kMaxFixRounds; ++round) {
    std::u32string fixed = text;
    if (unescape_html && fixed.find(U'&') != std::u32string::npos) fixed = ftfy_unescape(fixed);
    if (any(fixed, [](char32_t c) { return c >= 0x80; })) fixed = fix_characters(fixed);
    if (any(fixed, [](char32_t c) { return c == '\r' || c >= 0x80; })) {
      fixed = fix_line_breaks(fixed);
    }
    // fix_surrogates has nothing to do: decoded text never holds surrogates.
    if (fixed.find(char32_t{0x1B}) != std::u32string::npos) fixed = remove_terminal_escapes(fixed);
    if (any(fixed, is_removed_control)) fixed = remove_control_chars(fixed);
    if (any(fixed, [](char32_t c) { return c == 0x3099 || c == 0x309A; })) {
      fixed = compose_kana(fixed);
    }
    if (fixed == text) break;
    text = std::move(fixed);
  }
  return text;
}

// ---- whitespace and case ----

std::u32string_view python_strip(std::u32string_view text) {
  size_t begin = 0, end = text.size();
  while (begin < end && is_python_space(text[begin])) ++begin;
  while (end > begin && is_python_space(text[end - 1])) --end;
  return text.substr(begin, end - begin);
}

// re.sub(r"\s+", " ", text) with the regex module's \s.
std::u32string collapse_whitespace(std::u32string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    if (char_class(text[i]) == kSpace) {
      while (i < text.size() && char_class(text[i]) == kSpace) ++i;
      out += U' ';
    } else {
      out += text[i++];
    }
  }
  return out;
}

char32_t lower_simple(char32_t c) {
  if (c < 128) return c >= 'A' && c <= 'Z' ? c + 32 : c;
  auto it = std::upper_bound(std::begin(tables::kLowerRuns), std::end(tables::kLowerRuns), c,
                             [](char32_t v, const tables::LowerRun& r) { return v < r.first; });
  if (it == std::begin(tables::kLowerRuns)) return c;
  const tables::LowerRun& r = *std::prev(it);
  if (c > r.last || (c - r.first) % r.stride != 0) return c;
  return static_cast<char32_t>(static_cast<int32_t>(c) + r.delta);
}

// CPython's handle_capital_sigma: final form when preceded by a cased letter and not followed
// by one, skipping case-ignorable characters on both sides.
bool is_final_sigma(std::u32string_view text, size_t at) {
  size_t j = at;
  while (j > 0 && in_ranges(tables::kCaseIgnorable, text[j - 1])) --j;
  if (j == 0 || !in_ranges(tables::kCasedNotIgnorable, text[j - 1])) return false;
  j = at + 1;
  while (j < text.size() && in_ranges(tables::kCaseIgnorable, text[j])) ++j;
  return j == text.size() || !in_ranges(tables::kCasedNotIgnorable, text[j]);
}

// Compares text[at...] with an ASCII pattern the way the IGNORECASE pattern does.
bool matches_ignore_case(std::u32string_view text, size_t at, std::string_view pattern) {
  if (text.size() - at < pattern.size()) return false;
  for (size_t k = 0; k < pattern.size(); ++k) {
    const char32_t c = text[at + k];
    const char32_t p = static_cast<unsigned char>(pattern[k]);
    const bool letter = p >= 'a' && p <= 'z';
    if (c != p && !(letter && c == p - 32) && !(p == 's' && c == 0x17F)) return false;
  }
  return true;
}

}  // namespace

std::u32string utf8_decode(std::string_view bytes) {
  std::u32string out;
  out.reserve(bytes.size());
  const size_t n = bytes.size();
  size_t i = 0;
  while (i < n) {
    const uint8_t b0 = static_cast<uint8_t>(bytes[i]);
    if (b0 < 0x80) {
      out += static_cast<char32_t>(b0);
      ++i;
      continue;
    }
    int need;
    char32_t cp;
    uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the next byte (Unicode table 3-7)
    if (b0 >= 0xC2 && b0 <= 0xDF) {
      need = 1;
      cp = b0 & 0x1F;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
      need = 2;
      cp = b0 & 0x0F;
      if (b0 == 0xE0) lo = 0xA0;
      if (b0 == 0xED) hi = 0x9F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      need = 3;
      cp = b0 & 0x07;
      if (b0 == 0xF0) lo = 0x90;
      if (b0 == 0xF4) hi = 0x8F;
    } else {
      out += kReplacement;
      ++i;
      continue;
    }
    size_t j = i + 1;
    int got = 0;
    while (got < need && j < n) {
      const uint8_t b = static_cast<uint8_t>(bytes[j]);
      if (b < lo || b > hi) break;
      cp = (cp << 6) | (b & 0x3F);
      lo = 0x80;
      hi = 0xBF;
      ++j;
      ++got;
    }
    out += got == need ? cp : kReplacement;
    i = j;
  }
  return out;
}

std::u32string ftfy_fix_text(std::u32string_view text) {
  std::u32string out;
  out.reserve(text.size());
  bool unescape_html = true;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t newline = text.find(U'\n', pos);
    size_t end = newline == std::u32string_view::npos ? text.size() : newline + 1;
    end = std::min(end, pos + kMaxSegment);
    const std::u32string_view segment = text.substr(pos, end - pos);
    // fix_text turns entity decoding off for good once a segment looks like HTML.
    if (unescape_html && segment.find(U'<') != std::u32string_view::npos) unescape_html = false;
    out += fix_segment(std::u32string(segment), unescape_html);
    pos = end;
  }
  return out;
}

std::u32string html_unescape(std::u32string_view text) {
  if (text.find(U'&') == std::u32string_view::npos) return std::u32string(text);
  std::u32string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '&') {
      const size_t end = unescape_one(text, i, out);
      if (end != i) {
        i = end;
        continue;
      }
    }
    out += text[i++];
  }
  return out;
}

std::u32string python_lower(std::u32string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char32_t c = text[i];
    if (c == 0x3A3) {
      out += is_final_sigma(text, i) ? char32_t{0x3C2} : char32_t{0x3C3};
    } else if (c == 0x130) {
      out += U'i';
      out += char32_t{0x307};
    } else {
      out += lower_simple(c);
    }
  }
  return out;
}

std::u32string clean(std::u32string_view text) {
  std::u32string fixed = ftfy_fix_text(text);
  fixed = html_unescape(html_unescape(fixed));
  const std::u32string collapsed = collapse_whitespace(python_strip(fixed));
  return python_lower(python_strip(collapsed));
}

std::vector<Span> pre_tokenize(std::u32string_view text) {
  static constexpr std::string_view kSpecials[] = {"<|startoftext|>", "<|endoftext|>"};
  static constexpr std::string_view kContractions[] = {"s", "t", "re", "ve", "m", "ll", "d"};
  std::vector<Span> spans;
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    const char32_t c = text[i];
    size_t end = i;
    if (c == '<') {
      for (std::string_view special : kSpecials) {
        if (matches_ignore_case(text, i, special)) {
          end = i + special.size();
          break;
        }
      }
    } else if (c == '\'') {
      for (std::string_view suffix : kContractions) {
        if (matches_ignore_case(text, i + 1, suffix)) {
          end = i + 1 + suffix.size();
          break;
        }
      }
    }
    if (end == i) {
      const CharClass cls = char_class(c);
      if (cls == kLetter || cls == kOther) {
        end = i + 1;
        while (end < n && char_class(text[end]) == cls) ++end;
      } else if (cls == kNumber || cls == kDigit) {
        end = i + 1;
      } else {
        ++i;  // whitespace, or a character no branch matches
        continue;
      }
    }
    spans.push_back({i, end});
    i = end;
  }
  return spans;
}

}  // namespace clip::tokenizer_text
