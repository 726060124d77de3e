// libFuzzer target for the tokenizer. An input is, by its first byte:
//   0xFE  an edit of the real merges file (offset and replacement bytes from the input), loaded
//         with from_openai_bpe: it must load or throw clip::Error;
//   0xFF  vocab.json and merges.txt texts separated by the first NUL, loaded with from_hf_files:
//         the same;
//   else  text for encode/tokenize/decode, whose results must keep their invariants.
// Anything but a clip::Error escaping, or a broken invariant, is a crash.
//
// The real vocabulary comes from the reference fixtures ($CLIP_FIXTURES, default
// build-tok/fixtures; written by tools/ref_tokenize.py). Build and run (clang with compiler-rt):
//   .venv/bin/python tools/ref_tokenize.py build-tok/fixtures
//   clang++ -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
//     -Isrc tests/fuzz/tokenizer_fuzz.cpp src/tokenizer.cpp src/tokenizer-text.cpp \
//     src/json-reader.cpp -o build-tok/tokenizer_fuzz
//   mkdir -p build-tok/fuzz-corpus
//   CLIP_FIXTURES=build-tok/fixtures build-tok/tokenizer_fuzz -max_total_time=20 \
//     build-tok/fuzz-corpus build-tok/fixtures/fuzz/tokenizer
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "common.h"
#include "tokenizer-text.h"
#include "tokenizer.h"
#include "utf8.h"

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

std::string read_fixture(const char* name) {
  const char* root = std::getenv("CLIP_FIXTURES");
  const std::string path = std::string(root ? root : "build-tok/fixtures") + "/tokenizer/" + name;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "tokenizer_fuzz: cannot read %s (run tools/ref_tokenize.py)\n",
                 path.c_str());
    std::abort();
  }
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

struct Fixture {
  std::string vocab_json = read_fixture("vocab.json");
  std::string merges_txt = read_fixture("merges.txt");
  clip::Tokenizer tokenizer = clip::Tokenizer::from_hf_files(vocab_json, merges_txt);
};

const Fixture& fixture() {
  static const Fixture f;
  return f;
}

void fuzz_text(const std::string& text) {
  const clip::Tokenizer& t = fixture().tokenizer;
  const std::vector<int32_t> ids = t.encode(text);
  for (int32_t id : ids) check(id >= 0 && size_t(id) < t.vocab_size());
  const std::vector<int32_t> tokens = t.tokenize(text);
  check(tokens.size() == std::min<size_t>(ids.size() + 2, 77));
  check(tokens.front() == clip::Tokenizer::kStartOfText);
  check(tokens.back() == clip::Tokenizer::kEndOfText);
  for (size_t i = 1; i + 1 < tokens.size(); ++i) check(tokens[i] == ids[i - 1]);
  const std::vector<int32_t> short_tokens = t.tokenize(text, 1 + text.size() % 5);
  check(short_tokens.size() <= 1 + text.size() % 5 && short_tokens.back() == tokens.back());
  // decode never fails on ids encode produced, and yields valid UTF-8.
  const std::string decoded = t.decode(ids);
  std::string reencoded;
  for (char32_t c : clip::tokenizer_text::utf8_decode(decoded)) {
    clip::utf8_append(reencoded, c);
  }
  check(reencoded == decoded);
  // The cleaned text holds only Unicode scalar values.
  for (char32_t c : clip::tokenizer_text::clean(clip::tokenizer_text::utf8_decode(text))) {
    check(c <= 0x10FFFF && (c < 0xD800 || c > 0xDFFF));
  }
}

template <typename Load>
void fuzz_loader(Load load) {
  try {
    const clip::Tokenizer t = load();
    // A file that loads is a usable tokenizer.
    const std::vector<int32_t> ids = t.tokenize("a photo of a cat");
    check(ids.front() == clip::Tokenizer::kStartOfText);
    for (int32_t id : ids) check(id >= 0 && size_t(id) < t.vocab_size());
  } catch (const clip::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  if (size > 0 && data[0] == 0xFE) {
    // An edit: bytes 1-4 give the offset into the real merges file, the rest replaces bytes.
    std::string merges = fixture().merges_txt;
    uint32_t offset = 0;
    for (size_t i = 1; i < 5 && i < size; ++i) offset = offset << 8 | data[i];
    offset %= merges.size();
    const std::string patch = size > 5 ? input.substr(5) : std::string();
    merges.replace(offset, std::min(patch.size(), merges.size() - offset), patch);
    fuzz_loader([&] { return clip::Tokenizer::from_openai_bpe(merges); });
  } else if (size > 0 && data[0] == 0xFF) {
    const size_t nul = input.find('\0', 1);
    const std::string vocab = input.substr(1, nul == std::string::npos ? nul : nul - 1);
    const std::string merges = nul == std::string::npos ? std::string() : input.substr(nul + 1);
    fuzz_loader([&] { return clip::Tokenizer::from_hf_files(vocab, merges); });
  } else {
    fuzz_text(input);
  }
  return 0;
}
