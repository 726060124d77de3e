// Tokenizer parity with OpenAI's clip package (tools/ref_tokenize.py), for both vocabulary
// layouts, plus the failure modes of untrusted text and vocabulary files.
#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "common.h"
#include "gzip.h"
#include "test-support.h"
#include "tokenizer-text.h"
#include "tokenizer.h"

namespace clip {
namespace {

using test::expect_error;
using test::fixture_path;
using test::read_file;
using test::record_figure;

double ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

std::string openai_bpe_text() {
  return gunzip(read_file(fixture_path("tokenizer/bpe_simple_vocab_16e6.txt.gz")));
}

// Both layouts, loaded once for the whole file.
struct Tokenizers {
  Tokenizer openai;
  Tokenizer hf;
};

const Tokenizers& tokenizers() {
  static const Tokenizers t{
      Tokenizer::from_openai_bpe(openai_bpe_text()),
      Tokenizer::from_hf_files(read_file(fixture_path("tokenizer/vocab.json")),
                               read_file(fixture_path("tokenizer/merges.txt")))};
  return t;
}

nlohmann::json load_cases() {
  return nlohmann::json::parse(read_file(fixture_path("tokenizer/cases.json")));
}

std::string case_input(const nlohmann::json& c) {
  if (!c.contains("bytes_hex")) return c.at("text").get<std::string>();
  const std::string hex = c.at("bytes_hex").get<std::string>();
  std::string bytes;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    bytes += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  }
  return bytes;
}

std::string show(const std::vector<int32_t>& ids) {
  std::string s = "[";
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? ", " : "") + std::to_string(ids[i]);
  return s + "]";
}

// Whether one tokenizer reproduces a case: encode, tokenize(77) and decode.
bool matches(const Tokenizer& t, const nlohmann::json& c, std::string* why) {
  const std::string input = case_input(c);
  const auto ids = t.encode(input);
  const auto tokens = t.tokenize(input, c.value("context_length", 77));
  const auto want_ids = c.at("ids").get<std::vector<int32_t>>();
  const auto want_tokens = c.at("tokens").get<std::vector<int32_t>>();
  if (ids != want_ids) {
    *why = "encode " + show(ids) + "\n   want " + show(want_ids);
    return false;
  }
  if (tokens != want_tokens) {
    *why = "tokenize " + show(tokens) + "\n     want " + show(want_tokens);
    return false;
  }
  if (t.decode(ids) != c.at("decoded_ids").get<std::string>()) {
    *why = "decode '" + t.decode(ids) + "'";
    return false;
  }
  return true;
}

TEST(Tokenizer, LoadsBothLayoutsQuickly) {
  const std::string bpe = openai_bpe_text();
  const std::string vocab = read_file(fixture_path("tokenizer/vocab.json"));
  const std::string merges = read_file(fixture_path("tokenizer/merges.txt"));
  // Best of five: the machine is shared, and one slow run says nothing about the loader.
  double openai_ms = 1e9, hf_ms = 1e9;
  for (int run = 0; run < 5; ++run) {
    auto start = std::chrono::steady_clock::now();
    const Tokenizer a = Tokenizer::from_openai_bpe(bpe);
    openai_ms = std::min(openai_ms, ms_since(start));
    start = std::chrono::steady_clock::now();
    const Tokenizer b = Tokenizer::from_hf_files(vocab, merges);
    hf_ms = std::min(hf_ms, ms_since(start));
    EXPECT_EQ(a.vocab_size(), 49408u);
    EXPECT_EQ(b.vocab_size(), 49408u);
  }
  // Figures, not pass/fail checks: speed is judged by benchmarks, never by timed tests.
  record_figure("TOKENIZER", "load_openai_bpe_ms", openai_ms);
  record_figure("TOKENIZER", "load_hf_vocab_merges_ms", hf_ms);
}

TEST(Tokenizer, LayoutsHoldTheSameVocabulary) {
  const Tokenizers& t = tokenizers();
  ASSERT_EQ(t.openai.vocab_size(), t.hf.vocab_size());
  for (int32_t id = 0; id < static_cast<int32_t>(t.openai.vocab_size()); ++id) {
    ASSERT_EQ(t.openai.decode({id}), t.hf.decode({id})) << "id " << id;
  }
  EXPECT_EQ(t.openai.decode({Tokenizer::kStartOfText, 320, Tokenizer::kEndOfText}),
            "<|startoftext|>a <|endoftext|>");
}

TEST(Tokenizer, MatchesOpenAiOnEveryCase) {
  const Tokenizers& t = tokenizers();
  const nlohmann::json fixture = load_cases();
  const auto& cases = fixture.at("cases");
  ASSERT_GE(cases.size(), 200u);
  int exact = 0, hf_disagreements = 0;
  for (const auto& c : cases) {
    std::string why_openai, why_hf;
    const bool ok_openai = matches(t.openai, c, &why_openai);
    const bool ok_hf = matches(t.hf, c, &why_hf);
    exact += ok_openai && ok_hf;
    EXPECT_TRUE(ok_openai) << c.at("name").get<std::string>() << " (OpenAI layout): " << why_openai;
    EXPECT_TRUE(ok_hf) << c.at("name").get<std::string>() << " (HF layout): " << why_hf;
    hf_disagreements += !c.at("hf_agrees").get<bool>();
  }
  record_figure("PARITY", "tokenizer_exact",
                std::to_string(exact) + "/" + std::to_string(cases.size()));
  record_figure("TOKENIZER", "hf_cliptokenizer_disagrees_with_openai",
                std::to_string(hf_disagreements) + "/" + std::to_string(cases.size()));

  // Documented gaps (mojibake repair, HTML5 names outside the table, NFC after fixes): reported,
  // not required. A change here means the comment in tokenizer-text.cpp needs revisiting.
  int gaps_matching = 0;
  for (const auto& c : fixture.at("known_gaps")) {
    std::string why;
    const bool ok = matches(t.openai, c, &why);
    gaps_matching += ok;
    std::printf("known gap %s (%s): %s\n", c.at("name").get<std::string>().c_str(),
                c.at("gap").get<std::string>().c_str(), ok ? "matches anyway" : "differs");
  }
  record_figure(
      "TOKENIZER", "known_gap_cases_matching",
      std::to_string(gaps_matching) + "/" + std::to_string(fixture.at("known_gaps").size()));
}

TEST(Tokenizer, TruncatesLikeClipTokenize) {
  const Tokenizer& t = tokenizers().openai;
  std::string long_text;
  for (int i = 0; i < 200; ++i) long_text += "word ";
  const auto ids = t.encode(long_text);
  ASSERT_EQ(ids.size(), 200u);
  const auto tokens = t.tokenize(long_text);
  ASSERT_EQ(tokens.size(), 77u);
  EXPECT_EQ(tokens.front(), Tokenizer::kStartOfText);
  EXPECT_EQ(tokens.back(), Tokenizer::kEndOfText);
  EXPECT_TRUE(std::equal(tokens.begin() + 1, tokens.end() - 1, ids.begin()));
  // Exactly 75 ids fit untruncated; 76 lose the last id to the end token.
  const auto fit = t.tokenize(long_text.substr(0, 75 * 5));
  EXPECT_EQ(fit.size(), 77u);
  EXPECT_EQ(fit[75], ids[74]);
  EXPECT_EQ(t.tokenize("a cat", 3),
            (std::vector<int32_t>{Tokenizer::kStartOfText, 320, Tokenizer::kEndOfText}));
  EXPECT_EQ(t.tokenize("a cat", 1), std::vector<int32_t>{Tokenizer::kEndOfText});
  EXPECT_EQ(t.tokenize(""), (std::vector<int32_t>{Tokenizer::kStartOfText, Tokenizer::kEndOfText}));
  EXPECT_THROW(t.tokenize("a cat", 0), Error);
}

// Invalid UTF-8 becomes U+FFFD per maximal ill-formed subsequence, as Python's
// bytes.decode("utf-8", errors="replace"); the parity cases check the ids, this the decoding.
TEST(Tokenizer, DecodesInvalidUtf8LikePython) {
  using tokenizer_text::utf8_decode;
  EXPECT_EQ(utf8_decode("caf\xe9"), U"caf\uFFFD");
  EXPECT_EQ(utf8_decode("\xed\xa0\x80"), U"\uFFFD\uFFFD\uFFFD");  // surrogate: each byte
  EXPECT_EQ(utf8_decode("\xf0\x9f\x98"), U"\uFFFD");              // truncated: one
  EXPECT_EQ(utf8_decode("\xf0\x9f\x98!"), U"\uFFFD!");
  EXPECT_EQ(utf8_decode("\xc0\xaf"), U"\uFFFD\uFFFD");  // overlong
  EXPECT_EQ(utf8_decode("\xf4\x90\x80\x80"), U"\uFFFD\uFFFD\uFFFD\uFFFD");
  EXPECT_EQ(utf8_decode("\xe6\x97\xa5"), U"\u65E5");
  const Tokenizer& t = tokenizers().openai;
  EXPECT_EQ(t.encode("caf\xe9"), t.encode("caf\xef\xbf\xbd"));
}

TEST(Tokenizer, KeepsTextAfterNulBytes) {
  const Tokenizer& t = tokenizers().openai;
  // ftfy removes NUL, so "a\0b" tokenizes as "ab"; the input is not cut at the NUL.
  EXPECT_EQ(t.encode(std::string("a\0b", 3)), t.encode("ab"));
  EXPECT_EQ(t.encode(std::string("\0\0\0", 3)), std::vector<int32_t>{});
  EXPECT_EQ(t.encode(std::string("cat\0\0dog", 8)), t.encode("catdog"));
}

// Untrusted 1 MB inputs must finish in bounded time (the reference is quadratic on some).
TEST(Tokenizer, MegabyteInputsInBoundedTime) {
  const Tokenizer& t = tokenizers().openai;
  std::mt19937 rng(7);
  const std::vector<std::string> pieces = {
      "a ", "photo ", "of ",      "\xe7\x8c\xab", "&amp;", "'s ", "\xf0\x9f\x98\x80",
      "\n", "123 ",   "\xce\xa3", "\xff"};
  std::string mixed;
  while (mixed.size() < (1 << 20)) mixed += pieces[rng() % pieces.size()];
  std::string letters;
  while (letters.size() < (1 << 20)) letters += static_cast<char>('a' + rng() % 26);
  std::string nested = "&";
  while (nested.size() < (1 << 20)) nested += "amp;";
  const std::pair<const char*, std::string*> inputs[] = {
      {"mixed", &mixed}, {"one_word", &letters}, {"nested_entities", &nested}};
  for (const auto& [name, input] : inputs) {
    const auto start = std::chrono::steady_clock::now();
    const auto ids = t.encode(*input);
    const double ms = ms_since(start);
    record_figure("TOKENIZER", std::string("encode_1mb_") + name + "_ms", ms);
    EXPECT_FALSE(ids.empty());
    EXPECT_LT(ms, 10000.0) << name;
  }
  // The 1 MB word is one word: its ids decode back to exactly its letters plus the word end.
  std::string decoded = t.decode(t.encode(letters));
  ASSERT_FALSE(decoded.empty());
  decoded.pop_back();  // the "</w>" space
  EXPECT_EQ(decoded, letters);
}

// ---- malformed vocabulary files ----

TEST(Tokenizer, RejectsMalformedOpenAiFile) {
  const std::string bpe = openai_bpe_text();
  expect_error([] { Tokenizer::from_openai_bpe(""); }, "found 0 merges");
  // Cut at a line end, and in the middle of a line.
  expect_error([&] { Tokenizer::from_openai_bpe(bpe.substr(0, bpe.find('\n', bpe.size() / 10))); },
               "merges after the header line; CLIP's vocabulary needs 48894");
  expect_error([&] { Tokenizer::from_openai_bpe(bpe.substr(0, bpe.find('\n', 1000) + 3)); },
               "expected a merge of two symbols");
  // A merge line with three symbols, and one with one.
  std::string three = bpe;
  three.insert(three.find('\n', three.find('\n') + 1), " extra");
  expect_error([&] { Tokenizer::from_openai_bpe(three); }, "line 2: expected a merge of two");
  std::string one = bpe;
  const size_t line2 = one.find('\n') + 1;
  one.replace(line2, one.find('\n', line2) - line2, "lonely");
  expect_error([&] { Tokenizer::from_openai_bpe(one); }, "line 2: expected a merge of two");
  // A merge that uses a symbol before any merge creates it.
  std::string early = bpe;
  early.insert(line2, "th e</w>\n");  // "th" is made by a later merge
  expect_error([&] { Tokenizer::from_openai_bpe(early); }, "no earlier merge creates");
}

TEST(Tokenizer, RejectsMalformedHfFiles) {
  const std::string vocab = read_file(fixture_path("tokenizer/vocab.json"));
  const std::string merges = read_file(fixture_path("tokenizer/merges.txt"));
  expect_error([&] { Tokenizer::from_hf_files("{\"a\": 0", merges); }, "not valid JSON");
  expect_error([&] { Tokenizer::from_hf_files("[1, 2]", merges); }, "expected an object");
  expect_error([&] { Tokenizer::from_hf_files("{\"a\": \"x\"}", merges); }, "has a string id");
  expect_error([&] { Tokenizer::from_hf_files("{\"a\": 1.5}", merges); }, "has a fractional id");
  expect_error([&] { Tokenizer::from_hf_files("{\"a\": -1}", merges); }, "has a negative id");
  expect_error([&] { Tokenizer::from_hf_files("{\"a\": 7}", merges); }, "ids must be 0..0");
  expect_error([&] { Tokenizer::from_hf_files("{\"a\": 0, \"b\": 0}", merges); }, "given twice");
  expect_error([&] { Tokenizer::from_hf_files("{\"a\": 0}", merges); }, "byte token");
  expect_error([&] { Tokenizer::from_hf_files(vocab, "#version: 0.2\n"); }, "found 0 merges");
  expect_error([&] { Tokenizer::from_hf_files(vocab, ""); }, "found 0 merges");
  // A merge whose result is not in the vocabulary.
  nlohmann::json json = nlohmann::json::parse(vocab);
  const int in_id = json.at("in</w>").get<int>();
  json.erase("in</w>");
  json["placeholder"] = in_id;
  expect_error([&] { Tokenizer::from_hf_files(json.dump(), merges); }, "merge result 'in</w>'");
  // Special tokens at the wrong ids.
  json = nlohmann::json::parse(vocab);
  json["<|startoftext|>"] = 49407;
  json["<|endoftext|>"] = 49406;
  expect_error([&] { Tokenizer::from_hf_files(json.dump(), merges); }, "must have ids");
  // Duplicate merge lines.
  std::string doubled = merges;
  const size_t line2 = doubled.find('\n') + 1;
  doubled.insert(line2, doubled.substr(line2, doubled.find('\n', line2) + 1 - line2));
  expect_error([&] { Tokenizer::from_hf_files(vocab, doubled); }, "appears twice");
}

TEST(Tokenizer, RejectsBadIdsAndBadGzip) {
  const Tokenizer& t = tokenizers().openai;
  expect_error([&] { t.decode({49408}); }, "outside the vocabulary");
  expect_error([&] { t.decode({-1}); }, "outside the vocabulary");
  const std::string gz = read_file(fixture_path("tokenizer/bpe_simple_vocab_16e6.txt.gz"));
  expect_error([&] { gunzip(gz.substr(0, gz.size() / 2)); }, "input ends");
  expect_error([&] { gunzip("not gzip at all"); }, "gunzip");
  expect_error([&] { gunzip(""); }, "gunzip");
}

}  // namespace
}  // namespace clip
