// CLIP's byte-level BPE tokenizer, reproducing OpenAI's SimpleTokenizer (and Hugging Face's
// CLIPTokenizer with ftfy installed) id for id. Text cleanup limits: see tokenizer-text.cpp.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace clip {

// Strings back to back in one buffer, each one's end recorded: one allocation rather than one
// per string, for the tokenizer's ~49k token texts (a string each took a fifth of its build time
// in wasm).
class PackedTexts {
 public:
  void reserve(size_t texts, size_t bytes) {
    ends_.reserve(texts);
    chars_.reserve(bytes);
  }
  void push(std::string_view text, std::string_view suffix = {}) {
    chars_.append(text).append(suffix);
    ends_.push_back(static_cast<uint32_t>(chars_.size()));
  }
  std::string_view operator[](size_t i) const {
    const uint32_t begin = i ? ends_[i - 1] : 0;
    return std::string_view(chars_).substr(begin, ends_[i] - begin);
  }
  size_t size() const { return ends_.size(); }
  size_t bytes() const { return chars_.size(); }

 private:
  std::string chars_;
  std::vector<uint32_t> ends_;
};

class Tokenizer {
 public:
  static constexpr int32_t kStartOfText = 49406;
  static constexpr int32_t kEndOfText = 49407;
  // Merges the reference reads from either file: 49152 - 256 - 2.
  static constexpr int kMergeCount = 48894;

  // Hugging Face layout: vocab.json ({"token</w>": id}) and merges.txt. Throws clip::Error on
  // malformed input (bad JSON, missing byte or special tokens, merges that are not two
  // symbols, merge results missing from the vocabulary, too few merges).
  static Tokenizer from_hf_files(std::string_view vocab_json, std::string_view merges_txt);
  // OpenAI layout: the (already decompressed) text of bpe_simple_vocab_16e6.txt.
  static Tokenizer from_openai_bpe(std::string_view bpe_text);

  // BPE ids of the cleaned text, without start/end tokens. Invalid UTF-8 is decoded as Python's
  // errors="replace" does (each maximal ill-formed subsequence becomes U+FFFD). The caller
  // should NFC-normalize first (see tokenizer-text.cpp). Thread-safe: no mutable state.
  std::vector<int32_t> encode(std::string_view utf8_text) const;
  // [start, ids..., end] at its true length, truncated to context_length (the last id is then
  // always end-of-text, as OpenAI's clip.tokenize(truncate=True) does). context_length >= 1.
  std::vector<int32_t> tokenize(std::string_view utf8_text, int context_length = 77) const;
  // Inverse of encode, as SimpleTokenizer.decode: "</w>" becomes a space, invalid UTF-8 U+FFFD.
  std::string decode(const std::vector<int32_t>& ids) const;
  size_t vocab_size() const { return decoded_.size(); }

 private:
  struct Merge {
    int32_t rank;
    int32_t merged_id;
  };
  struct Vocabulary;  // loader input shared by both layouts (tokenizer.cpp)

  Tokenizer() = default;
  static Tokenizer build(const Vocabulary& vocab, const char* source);
  // Appends the ids of one pre-tokenized word (its UTF-8 bytes) to out.
  void bpe(std::string_view word, std::vector<int32_t>& out) const;
  // The merge of the pair (left, right), or null.
  const Merge* find_merge(int32_t left, int32_t right) const;
  bool insert_merge(int32_t left, int32_t right, Merge merge);  // false if already there

  std::array<int32_t, 256> byte_id_{};      // token of a byte inside a word
  std::array<int32_t, 256> byte_end_id_{};  // the same byte ending a word ("</w>")
  // Open-addressing hash table (left id << 32 | right id) -> merge, linear probing. Loading and
  // BPE spend most of their time in it; std::unordered_map would allocate a node per entry.
  struct MergeSlot {
    uint64_t key;  // all ones where empty
    Merge merge;
  };
  std::vector<MergeSlot> merges_;
  int merge_shift_ = 64;
  PackedTexts decoded_;  // what each id decodes to, "</w>" included
};

}  // namespace clip
