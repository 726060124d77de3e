#include "json-reader.h"

#include <cstdint>
#include <vector>

#include "utf8.h"

namespace clip {
namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// The functions below are kept out of line ([[gnu::noinline]]) where inlining them would put
// them inside a loop that runs per value: V8 charges a loop's whole size to its tier-up budget on
// every turn (json-reader.h says why that matters).
class Reader {
 public:
  Reader(std::string_view text, JsonHandler& handler)
      : begin_(text.data()), p_(text.data()), end_(text.data() + text.size()), handler_(handler) {}

  // Iterative, with the open containers on a stack, so that deep nesting cannot overflow the
  // call stack.
  [[gnu::noinline]] void read() {
    std::vector<char> open;  // '{' or '[' of each container being read
    skip_space();
    for (;;) {
      const char c = peek();
      if (c == '{' || c == '[') {
        ++p_;
        const bool object = c == '{';
        object ? handler_.start_object() : handler_.start_array();
        skip_space();
        if (peek() != (object ? '}' : ']')) {
          open.push_back(c);
          if (object) read_key();
          continue;  // its first value
        }
        ++p_;
        object ? handler_.end_object() : handler_.end_array();
      } else {
        read_scalar(c);
      }
      // After a value: the next one in the same container, or the container's end.
      for (;;) {
        skip_space();
        if (open.empty()) {
          if (p_ != end_) error("text after the end of the JSON value");
          return;
        }
        const bool object = open.back() == '{';
        const char next = peek();
        if (next == ',') {
          ++p_;
          skip_space();
          if (object) read_key();
          break;
        }
        if (next != (object ? '}' : ']'))
          error(object ? "expected ',' or '}'" : "expected ',' or ']'");
        ++p_;
        open.pop_back();
        object ? handler_.end_object() : handler_.end_array();
      }
    }
  }

 private:
  char peek() const { return p_ != end_ ? *p_ : '\0'; }

  [[noreturn]] void error(const char* problem) const {
    const char* what = p_ == end_ ? "unexpected end of input" : *p_ == '\0' ? "NUL byte" : problem;
    throw JsonSyntaxError(std::string(what) + " at offset " + std::to_string(p_ - begin_));
  }

  void skip_space() {
    while (p_ != end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }

  void expect(std::string_view word) {
    if (static_cast<size_t>(end_ - p_) < word.size() || std::string_view(p_, word.size()) != word) {
      error("expected a value");
    }
    p_ += word.size();
  }

  [[gnu::noinline]] void read_key() {
    if (peek() != '"') error("expected a string key");
    read_string(text_);
    handler_.key(text_);
    skip_space();
    if (peek() != ':') error("expected ':'");
    ++p_;
    skip_space();
  }

  [[gnu::noinline]] void read_scalar(char c) {
    if (c == '"') {
      read_string(text_);
      handler_.string(text_);
    } else if (c == '-' || is_digit(c)) {
      read_number();
    } else if (c == 't') {
      expect("true");
      handler_.boolean(true);
    } else if (c == 'f') {
      expect("false");
      handler_.boolean(false);
    } else if (c == 'n') {
      expect("null");
      handler_.null();
    } else {
      error("expected a value");
    }
  }

  [[gnu::noinline]] void read_string(std::string& out) {
    ++p_;  // the opening quote
    out.clear();
    for (;;) {
      const char* run = p_;
      // Printable ASCII other than '"' and '\', the bulk of any key or value, in one short loop.
      while (p_ != end_ && static_cast<unsigned char>(*p_ - 0x20) < 0x60 && *p_ != '"' &&
             *p_ != '\\') {
        ++p_;
      }
      out.append(run, p_);
      const auto c = static_cast<unsigned char>(peek());
      if (c == '"') {
        ++p_;
        return;
      }
      if (c == '\\') {
        read_escape(out);
      } else if (c >= 0x80) {
        read_utf8(out);
      } else {
        error("control character in a string");  // or the end of the input
      }
    }
  }

  // One multi-byte UTF-8 sequence, checked as Unicode 15 table 3-7 defines well-formed ones.
  [[gnu::noinline]] void read_utf8(std::string& out) {
    const auto b0 = static_cast<unsigned char>(*p_);
    int length = 0;
    unsigned char low = 0x80, high = 0xBF;  // allowed range of the second byte
    if (b0 >= 0xC2 && b0 <= 0xDF) {
      length = 2;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
      length = 3;
      if (b0 == 0xE0) low = 0xA0;
      if (b0 == 0xED) high = 0x9F;  // no UTF-16 surrogates
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      length = 4;
      if (b0 == 0xF0) low = 0x90;
      if (b0 == 0xF4) high = 0x8F;  // nothing above U+10FFFF
    } else {
      error("ill-formed UTF-8 in a string");
    }
    if (end_ - p_ < length) error("ill-formed UTF-8 in a string");
    for (int i = 1; i < length; ++i) {
      const auto b = static_cast<unsigned char>(p_[i]);
      if (b < (i == 1 ? low : 0x80) || b > (i == 1 ? high : 0xBF)) {
        error("ill-formed UTF-8 in a string");
      }
    }
    out.append(p_, static_cast<size_t>(length));
    p_ += length;
  }

  [[gnu::noinline]] void read_escape(std::string& out) {
    ++p_;  // the backslash
    const char c = peek();
    const char* simple = "\"\\/bfnrt";
    const char* decoded = "\"\\/\b\f\n\r\t";
    for (int i = 0; simple[i]; ++i) {
      if (c == simple[i]) {
        out += decoded[i];
        ++p_;
        return;
      }
    }
    if (c != 'u') error("invalid escape in a string");
    ++p_;
    uint32_t code = read_hex4();
    if (code >= 0xDC00 && code <= 0xDFFF) error("lone low surrogate escape in a string");
    if (code >= 0xD800 && code <= 0xDBFF) {
      if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') {
        error("high surrogate escape not followed by a low one");
      }
      p_ += 2;
      const uint32_t low = read_hex4();
      if (low < 0xDC00 || low > 0xDFFF) error("high surrogate escape not followed by a low one");
      code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
    }
    utf8_append(out, code);
  }

  uint32_t read_hex4() {
    uint32_t code = 0;
    for (int i = 0; i < 4; ++i, ++p_) {
      const char c = peek();
      const int digit = is_digit(c)              ? c - '0'
                        : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                        : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                                 : -1;
      if (digit < 0) error("expected 4 hexadecimal digits after \\u");
      code = code * 16 + static_cast<uint32_t>(digit);
    }
    return code;
  }

  // -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?; an integer that fits 64 bits is reported as
  // one, anything else with its text.
  [[gnu::noinline]] void read_number() {
    const char* start = p_;
    const bool negative = *p_ == '-';
    if (negative) ++p_;
    if (!is_digit(peek())) error("expected a digit");
    const char* digits = p_;
    if (*p_ == '0') {
      ++p_;
    } else {
      while (is_digit(peek())) ++p_;
    }
    const char* digits_end = p_;
    bool integer = true;
    if (peek() == '.') {
      integer = false;
      ++p_;
      if (!is_digit(peek())) error("expected a digit after '.'");
      while (is_digit(peek())) ++p_;
    }
    if (peek() == 'e' || peek() == 'E') {
      integer = false;
      ++p_;
      if (peek() == '+' || peek() == '-') ++p_;
      if (!is_digit(peek())) error("expected a digit in the exponent");
      while (is_digit(peek())) ++p_;
    }
    uint64_t magnitude = 0;
    for (const char* d = digits; integer && d != digits_end; ++d) {
      const uint64_t digit = static_cast<uint64_t>(*d - '0');
      if (magnitude > (UINT64_MAX - digit) / 10) integer = false;  // does not fit 64 bits
      magnitude = magnitude * 10 + digit;
    }
    constexpr uint64_t kMostNegative = uint64_t{1} << 63;  // magnitude of INT64_MIN
    if (integer && !negative) {
      handler_.number_unsigned(magnitude);
    } else if (integer && magnitude <= kMostNegative) {
      handler_.number_integer(magnitude == kMostNegative ? INT64_MIN
                                                         : -static_cast<int64_t>(magnitude));
    } else {
      handler_.number_float(std::string_view(start, static_cast<size_t>(p_ - start)));
    }
  }

  const char* begin_;
  const char* p_;
  const char* end_;
  JsonHandler& handler_;
  std::string text_;  // the string or key being read, reused
};

}  // namespace

void read_json(std::string_view text, JsonHandler& handler) {
  Reader(text, handler).read();
}

}  // namespace clip
