// CLIP's byte-level BPE tokenizer, reproducing OpenAI's SimpleTokenizer (and Hugging Face's
// CLIPTokenizer with ftfy installed) id for id.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace clip {

class Tokenizer {
 public:
  static constexpr int32_t kStartOfText = 49406;
  static constexpr int32_t kEndOfText = 49407;

  // Hugging Face layout: vocab.json ({"token</w>": id}) and merges.txt.
  static Tokenizer from_hf_files(std::string_view vocab_json, std::string_view merges_txt);
  // OpenAI layout: the (already decompressed) text of bpe_simple_vocab_16e6.txt.
  static Tokenizer from_openai_bpe(std::string_view bpe_text);

  // BPE ids of the cleaned text, without start/end tokens.
  std::vector<int32_t> encode(std::string_view utf8_text) const;
  // [start, ids..., end] at its true length, truncated to context_length (the last id is then
  // always end-of-text, as OpenAI's clip.tokenize(truncate=True) does).
  std::vector<int32_t> tokenize(std::string_view utf8_text, int context_length = 77) const;
  // Inverse of encode, for debugging and tests.
  std::string decode(const std::vector<int32_t>& ids) const;
  size_t vocab_size() const { return id_to_token_.size(); }

 private:
  std::unordered_map<std::string, int32_t> token_to_id_;
  std::vector<std::string> id_to_token_;
  std::unordered_map<std::string, int32_t> merge_rank_;  // "left right" -> rank
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;  // word -> ids
};

}  // namespace clip
