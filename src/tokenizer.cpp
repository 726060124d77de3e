// Vocabulary loading and byte-level BPE of CLIP's tokenizer (OpenAI's simple_tokenizer.py).
//
// encode(text) = utf8_decode (invalid UTF-8 -> U+FFFD, as Python's errors="replace"), clean
// (ftfy subset, html.unescape twice, strip, whitespace collapse, str.lower), the reference's
// pre-tokenization pattern, then BPE per word. The BPE, the vocabulary (both layouts), the
// special tokens and the truncation are exact. The cleanup is exact except for what the top of
// tokenizer-text.cpp lists as not reproduced: ftfy's mojibake repair, NFC (the caller's job),
// HTML5 names outside a 430-name subset, entities nested more than 34 levels deep.
#include "tokenizer.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <queue>

#include "common.h"
#include "json-reader.h"
#include "tokenizer-text.h"
#include "utf8.h"

namespace clip {
namespace {

namespace text = tokenizer_text;

constexpr std::string_view kWordEnd = "</w>";
constexpr std::string_view kStartToken = "<|startoftext|>";
constexpr std::string_view kEndToken = "<|endoftext|>";
constexpr uint64_t kNoMerge = ~uint64_t{0};  // ids are below 2^31, so no key is all ones

// GPT-2's bytes_to_unicode, in the reference's order: printable bytes keep their code point,
// the others map to U+0100 onwards. `order` lists bytes as the reference's dict iterates them.
struct ByteMap {
  std::array<char32_t, 256> to_char{};
  std::array<uint8_t, 256> order{};
  std::array<int16_t, 324> to_byte{};  // code point -> byte, -1 where none

  ByteMap() {
    to_byte.fill(-1);
    auto printable = [](int b) {
      return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
    };
    int k = 0, extra = 0;
    for (int b = 0; b < 256; ++b) {
      if (printable(b)) {
        to_char[b] = static_cast<char32_t>(b);
        order[k++] = static_cast<uint8_t>(b);
      }
    }
    for (int b = 0; b < 256; ++b) {
      if (!printable(b)) {
        to_char[b] = static_cast<char32_t>(256 + extra++);
        order[k++] = static_cast<uint8_t>(b);
      }
    }
    for (int b = 0; b < 256; ++b) to_byte[to_char[b]] = static_cast<int16_t>(b);
  }

  std::string token(uint8_t byte) const {
    std::string s;
    utf8_append(s, to_char[byte]);
    return s;
  }
};

const ByteMap& byte_map() {
  static const ByteMap map;
  return map;
}

bool is_python_ascii_space(char c) {
  return c == ' ' || (c >= '\t' && c <= '\r') || (c >= '\x1c' && c <= '\x1f');
}

// Splits "left right" as str.split() does; fails unless there are exactly two fields.
std::pair<std::string_view, std::string_view> split_merge(std::string_view line, size_t line_number,
                                                          const char* source) {
  std::string_view fields[3];
  int count = 0;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && is_python_ascii_space(line[i])) ++i;
    const size_t begin = i;
    while (i < line.size() && !is_python_ascii_space(line[i])) ++i;
    if (i > begin) {
      if (count == 3) break;
      fields[count++] = line.substr(begin, i - begin);
    }
  }
  if (count != 2) {
    fail(source, " line ", line_number, ": expected a merge of two symbols, got '",
         line.substr(0, 80), "'");
  }
  return {fields[0], fields[1]};
}

// Lines 1 .. kMergeCount of `lines` (line 0 is the version header), as both references read.
std::vector<std::pair<std::string_view, std::string_view>> parse_merges(std::string_view lines,
                                                                        const char* source) {
  std::vector<std::pair<std::string_view, std::string_view>> merges;
  merges.reserve(Tokenizer::kMergeCount);
  size_t pos = lines.find('\n');
  size_t line_number = 2;
  while (pos != std::string_view::npos && merges.size() < size_t(Tokenizer::kMergeCount)) {
    const size_t begin = pos + 1;
    pos = lines.find('\n', begin);
    const size_t end = pos == std::string_view::npos ? lines.size() : pos;
    merges.push_back(split_merge(lines.substr(begin, end - begin), line_number++, source));
  }
  if (merges.size() < size_t(Tokenizer::kMergeCount)) {
    fail(source, ": found ", merges.size(),
         " merges after the header line; CLIP's vocabulary needs ", Tokenizer::kMergeCount);
  }
  return merges;
}

// Reads vocab.json ({"token": id, ...}) as events: several times faster than building a
// document of 49408 entries, which dominated the loading time.
struct VocabJsonReader : JsonHandler {
  std::vector<std::pair<std::string, uint64_t>> entries;
  std::string key_;
  int depth = 0;

  [[noreturn]] void value_is_not_an_id(const char* kind) const {
    if (depth == 0) fail("vocab.json: expected an object of token -> id, got ", kind);
    fail("vocab.json: token '", key_, "' has a ", kind, " id; ids must be integers");
  }
  void null() override { value_is_not_an_id("null"); }
  void boolean(bool) override { value_is_not_an_id("boolean"); }
  void number_integer(int64_t) override { value_is_not_an_id("negative"); }
  void number_unsigned(uint64_t id) override {
    if (depth != 1) value_is_not_an_id("number");
    entries.emplace_back(std::move(key_), id);
  }
  void number_float(std::string_view) override { value_is_not_an_id("fractional"); }
  void string(std::string&) override { value_is_not_an_id("string"); }
  void start_object() override {
    if (depth != 0) value_is_not_an_id("object");
    depth = 1;
    entries.reserve(1 << 16);
  }
  void key(std::string& k) override { key_ = std::move(k); }
  void end_object() override { depth = 2; }
  void start_array() override { value_is_not_an_id("array"); }
  void end_array() override {}  // never reached: start_array() throws
};

// Token text -> id for a vocabulary under construction: open addressing over (hash, id) slots,
// the text itself read from `tokens`. Building a vocabulary takes ~200k lookups; with
// std::unordered_map (a node per entry, a chain walk per lookup) they were half of the ~35 ms
// the tokenizer took to build in wasm.
class TokenIds {
 public:
  explicit TokenIds(const PackedTexts& tokens) : tokens_(tokens) {
    size_t capacity = 16;
    while (capacity < 2 * tokens.size()) capacity *= 2;
    slots_.assign(capacity, Slot{0, -1});
  }
  // Sets the id of `id`'s text; with `replace`, a text seen before takes the new id (Python's
  // dict(zip(...))), otherwise it keeps the first.
  void insert(int32_t id, bool replace) {
    const std::string_view text = tokens_[static_cast<size_t>(id)];
    const uint32_t h = hash(text);
    Slot& slot = slots_[probe(text, h)];
    if (slot.id < 0 || replace) slot = Slot{h, id};
  }
  int32_t find(std::string_view text) const {
    return slots_[probe(text, hash(text))].id;  // -1: absent
  }

 private:
  struct Slot {
    uint32_t hash;
    int32_t id;  // -1: empty
  };
  static uint32_t hash(std::string_view text) {  // FNV-1a
    uint32_t h = 2166136261u;
    for (char c : text) h = (h ^ static_cast<uint8_t>(c)) * 16777619u;
    return h;
  }
  // The slot holding `text`, or the empty slot where it would go.
  size_t probe(std::string_view text, uint32_t h) const {
    const size_t mask = slots_.size() - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
      const Slot& slot = slots_[i];
      if (slot.id < 0 || (slot.hash == h && tokens_[static_cast<size_t>(slot.id)] == text)) {
        return i;
      }
    }
  }

  const PackedTexts& tokens_;
  std::vector<Slot> slots_;
};

}  // namespace

struct Tokenizer::Vocabulary {
  PackedTexts tokens;                                                 // by id
  std::vector<std::pair<std::string_view, std::string_view>> merges;  // by rank
  std::optional<TokenIds> ids;                                        // over tokens, once complete
};

Tokenizer Tokenizer::from_openai_bpe(std::string_view bpe_text) {
  const char* source = "bpe_simple_vocab_16e6.txt";
  Vocabulary vocab;
  vocab.merges = parse_merges(bpe_text, source);
  const ByteMap& bytes = byte_map();
  // SimpleTokenizer.__init__: bytes, bytes + "</w>", one token per merge, then the specials.
  vocab.tokens.reserve(512 + vocab.merges.size() + 2, bpe_text.size());
  for (uint8_t b : bytes.order) vocab.tokens.push(bytes.token(b));
  for (uint8_t b : bytes.order) vocab.tokens.push(bytes.token(b), kWordEnd);
  for (const auto& [left, right] : vocab.merges) vocab.tokens.push(left, right);
  vocab.tokens.push(kStartToken);
  vocab.tokens.push(kEndToken);
  vocab.ids.emplace(vocab.tokens);
  for (size_t id = 0; id < vocab.tokens.size(); ++id) {
    vocab.ids->insert(static_cast<int32_t>(id), /*replace=*/true);  // dict(zip(...)): last wins
  }
  return build(vocab, source);
}

Tokenizer Tokenizer::from_hf_files(std::string_view vocab_json, std::string_view merges_txt) {
  Vocabulary vocab;
  VocabJsonReader reader;
  try {
    read_json(vocab_json, reader);
  } catch (const JsonSyntaxError& e) {
    fail("vocab.json: not valid JSON: ", e.what());
  }
  std::vector<const std::string*> by_id(reader.entries.size(), nullptr);
  size_t bytes = 0;
  for (const auto& [token, id] : reader.entries) {
    if (id >= reader.entries.size()) {
      fail("vocab.json: token '", token, "' has id ", id, "; ids must be 0..",
           reader.entries.size() - 1);
    }
    if (by_id[id] || token.empty()) {
      fail("vocab.json: id ", id, " is given twice or to an empty token");
    }
    by_id[id] = &token;
    bytes += token.size();
  }
  vocab.tokens.reserve(by_id.size(), bytes);
  for (const std::string* token : by_id) vocab.tokens.push(*token);
  vocab.ids.emplace(vocab.tokens);
  for (size_t id = 0; id < vocab.tokens.size(); ++id) {
    vocab.ids->insert(static_cast<int32_t>(id), /*replace=*/false);
  }
  // CLIPTokenizer reads merges_handle.read().strip().split("\n")[1:48895].
  size_t begin = 0, end = merges_txt.size();
  while (begin < end && is_python_ascii_space(merges_txt[begin])) ++begin;
  while (end > begin && is_python_ascii_space(merges_txt[end - 1])) --end;
  vocab.merges = parse_merges(merges_txt.substr(begin, end - begin), "merges.txt");
  return build(vocab, "merges.txt");
}

Tokenizer Tokenizer::build(const Vocabulary& vocab, const char* source) {
  const ByteMap& bytes = byte_map();
  Tokenizer t;
  auto id_of = [&](std::string_view token, const char* what) {
    const int32_t id = vocab.ids->find(token);
    if (id < 0) fail("tokenizer vocabulary: ", what, " '", token, "' is missing");
    return id;
  };
  for (int b = 0; b < 256; ++b) {
    const std::string token = bytes.token(static_cast<uint8_t>(b));
    t.byte_id_[b] = id_of(token, "byte token");
    t.byte_end_id_[b] = id_of(token + std::string(kWordEnd), "byte token");
  }
  if (id_of(kStartToken, "special token") != kStartOfText ||
      id_of(kEndToken, "special token") != kEndOfText) {
    fail("tokenizer vocabulary: <|startoftext|> and <|endoftext|> must have ids ", kStartOfText,
         " and ", kEndOfText);
  }

  // The heap-ordered BPE in bpe() equals the reference's rank-by-rank loop only if every merge
  // uses symbols that exist before it (true of any file BPE training writes): check it.
  constexpr int32_t kNever = std::numeric_limits<int32_t>::max();
  std::vector<int32_t> created(vocab.tokens.size(), kNever);
  for (int b = 0; b < 256; ++b) created[t.byte_id_[b]] = created[t.byte_end_id_[b]] = -1;
  size_t capacity = 16;
  while (capacity < 2 * vocab.merges.size()) capacity *= 2;
  t.merges_.assign(capacity, MergeSlot{kNoMerge, Merge{}});
  t.merge_shift_ = 64;
  for (size_t c = capacity; c > 1; c /= 2) --t.merge_shift_;
  std::string joined;
  for (size_t rank = 0; rank < vocab.merges.size(); ++rank) {
    const auto& [left, right] = vocab.merges[rank];
    const int32_t r = static_cast<int32_t>(rank);
    const int32_t left_id = id_of(left, "merge symbol");
    const int32_t right_id = id_of(right, "merge symbol");
    joined.assign(left).append(right);
    const int32_t merged_id = id_of(joined, "merge result");
    if (created[left_id] >= r || created[right_id] >= r) {
      fail(source, " line ", rank + 2, ": merge '", left, " ", right,
           "' uses a symbol that no earlier merge creates");
    }
    created[merged_id] = std::min(created[merged_id], r);
    if (!t.insert_merge(left_id, right_id, Merge{r, merged_id})) {
      fail(source, " line ", rank + 2, ": merge '", left, " ", right, "' appears twice");
    }
  }

  t.decoded_.reserve(vocab.tokens.size(), vocab.tokens.bytes());
  std::string out;
  for (size_t id = 0; id < vocab.tokens.size(); ++id) {
    const std::string_view token = vocab.tokens[id];
    out.clear();
    // Byte-level symbols are U+0021..U+0143: one or two UTF-8 bytes each.
    for (size_t i = 0; i < token.size();) {
      const auto b0 = static_cast<uint8_t>(token[i]);
      int c = -1;
      if (b0 < 0x80) {
        c = b0;
        i += 1;
      } else if ((b0 & 0xE0) == 0xC0 && i + 1 < token.size() &&
                 (static_cast<uint8_t>(token[i + 1]) & 0xC0) == 0x80) {
        c = ((b0 & 0x1F) << 6) | (static_cast<uint8_t>(token[i + 1]) & 0x3F);
        i += 2;
      }
      const int byte = c >= 0 && size_t(c) < bytes.to_byte.size() ? bytes.to_byte[c] : -1;
      if (byte < 0) fail("tokenizer vocabulary: token '", token, "' is not byte-level text");
      out += static_cast<char>(byte);
    }
    t.decoded_.push(out);
  }
  return t;
}

const Tokenizer::Merge* Tokenizer::find_merge(int32_t left, int32_t right) const {
  const uint64_t key = (uint64_t(uint32_t(left)) << 32) | uint32_t(right);
  const size_t mask = merges_.size() - 1;
  for (size_t slot = (key * 0x9E3779B97F4A7C15ull) >> merge_shift_;; slot = (slot + 1) & mask) {
    if (merges_[slot].key == key) return &merges_[slot].merge;
    if (merges_[slot].key == kNoMerge) return nullptr;
  }
}

bool Tokenizer::insert_merge(int32_t left, int32_t right, Merge merge) {
  const uint64_t key = (uint64_t(uint32_t(left)) << 32) | uint32_t(right);
  const size_t mask = merges_.size() - 1;
  for (size_t slot = (key * 0x9E3779B97F4A7C15ull) >> merge_shift_;; slot = (slot + 1) & mask) {
    if (merges_[slot].key == key) return false;
    if (merges_[slot].key == kNoMerge) {
      merges_[slot] = MergeSlot{key, merge};
      return true;
    }
  }
}

void Tokenizer::bpe(std::string_view word, std::vector<int32_t>& out) const {
  const int32_t n = static_cast<int32_t>(word.size());
  if (n == 0) return;
  // Symbols form a linked list over the word's bytes; a merge keeps the left slot.
  std::vector<int32_t> id(n), next(n), prev(n);
  for (int32_t i = 0; i < n; ++i) {
    const auto byte = static_cast<uint8_t>(word[i]);
    id[i] = i + 1 < n ? byte_id_[byte] : byte_end_id_[byte];
    next[i] = i + 1 < n ? i + 1 : -1;
    prev[i] = i - 1;
  }
  // Candidate merges ordered by (rank, position): the reference applies the lowest-ranked pair
  // everywhere, left to right, before any higher rank; build() guarantees that a merge never
  // creates a pair ranked below the one being applied, so this order is the same.
  struct Candidate {
    int32_t rank, pos, left, right, merged;
    bool operator>(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> heap;
  auto push = [&](int32_t pos) {
    if (pos < 0 || next[pos] < 0) return;
    if (const Merge* m = find_merge(id[pos], id[next[pos]])) {
      heap.push({m->rank, pos, id[pos], id[next[pos]], m->merged_id});
    }
  };
  for (int32_t i = 0; i + 1 < n; ++i) push(i);
  while (!heap.empty()) {
    const Candidate c = heap.top();
    heap.pop();
    const int32_t right = next[c.pos];
    if (id[c.pos] != c.left || right < 0 || id[right] != c.right) continue;  // stale
    id[c.pos] = c.merged;
    id[right] = -1;
    next[c.pos] = next[right];
    if (next[right] >= 0) prev[next[right]] = c.pos;
    push(prev[c.pos]);
    push(c.pos);
  }
  for (int32_t i = 0; i >= 0; i = next[i]) out.push_back(id[i]);
}

std::vector<int32_t> Tokenizer::encode(std::string_view utf8_text) const {
  const std::u32string cleaned = text::clean(text::utf8_decode(utf8_text));
  std::vector<int32_t> ids;
  std::string word;
  for (const text::Span& span : text::pre_tokenize(cleaned)) {
    const std::u32string_view piece(cleaned.data() + span.begin, span.end - span.begin);
    // Only the exact spellings are special (the reference's BPE cache); "<|ſtartoftext|>"
    // matches the pattern's branch but is ordinary text.
    if (piece == U"<|startoftext|>") {
      ids.push_back(kStartOfText);
    } else if (piece == U"<|endoftext|>") {
      ids.push_back(kEndOfText);
    } else {
      word.clear();
      for (char32_t c : piece) utf8_append(word, c);
      bpe(word, ids);
    }
  }
  return ids;
}

std::vector<int32_t> Tokenizer::tokenize(std::string_view utf8_text, int context_length) const {
  if (context_length < 1) fail("tokenize: context length must be >= 1, got ", context_length);
  std::vector<int32_t> tokens{kStartOfText};
  const std::vector<int32_t> ids = encode(utf8_text);
  tokens.insert(tokens.end(), ids.begin(), ids.end());
  tokens.push_back(kEndOfText);
  if (tokens.size() > size_t(context_length)) {
    tokens.resize(context_length);
    tokens.back() = kEndOfText;
  }
  return tokens;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string bytes;
  for (int32_t id : ids) {
    if (id < 0 || size_t(id) >= vocab_size()) {
      fail("decode: token id ", id, " is outside the vocabulary (", vocab_size(), ")");
    }
    bytes += decoded_[static_cast<size_t>(id)];
  }
  // "</w>" is ASCII, so replacing it before decoding equals the reference's replacing after.
  std::string spaced;
  spaced.reserve(bytes.size());
  for (size_t i = 0; i < bytes.size();) {
    if (bytes.compare(i, kWordEnd.size(), kWordEnd) == 0) {
      spaced += ' ';
      i += kWordEnd.size();
    } else {
      spaced += bytes[i++];
    }
  }
  std::string out;
  for (char32_t c : text::utf8_decode(spaced)) utf8_append(out, c);
  return out;
}

}  // namespace clip
