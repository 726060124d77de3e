// Text side of CLIP's tokenizer: UTF-8 decoding, the cleanup OpenAI's SimpleTokenizer applies
// (ftfy.fix_text, html.unescape twice, whitespace collapse, str.lower) and its pre-tokenization
// regex. What is and is not reproduced is documented in tokenizer-text.cpp.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace clip::tokenizer_text {

// Decodes UTF-8 like Python's bytes.decode("utf-8", errors="replace"): each maximal ill-formed
// subsequence (Unicode's "maximal subpart" rule, which CPython follows) becomes one U+FFFD.
// Surrogates and overlong forms are ill-formed. Never throws.
std::u32string utf8_decode(std::string_view bytes);

// whitespace_clean(basic_clean(text)).lower(), as SimpleTokenizer.encode does.
std::u32string clean(std::u32string_view text);

// One pre-tokenization match: [begin, end) into the cleaned text.
struct Span {
  size_t begin, end;
};
// re.findall(SimpleTokenizer.pat, cleaned_text), as spans.
std::vector<Span> pre_tokenize(std::u32string_view cleaned);

// The steps of clean(), exposed for unit tests.
std::u32string ftfy_fix_text(std::u32string_view text);
std::u32string html_unescape(std::u32string_view text);
std::u32string python_lower(std::u32string_view text);

}  // namespace clip::tokenizer_text
