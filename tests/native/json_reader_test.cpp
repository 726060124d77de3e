// read_json against RFC 8259: what it must accept (and report, event by event) and what it must
// reject, with where.
#include <gtest/gtest.h>

#include <string>

#include "json-reader.h"
#include "test-support.h"

namespace clip {
namespace {

// Writes the events as text: {  }  [  ]  k:key  s:string  u:unsigned  i:integer  f:text  b:1  n
class Recorder : public JsonHandler {
 public:
  std::string events;
  void null() override { add("n"); }
  void boolean(bool value) override { add(value ? "b:1" : "b:0"); }
  void number_unsigned(uint64_t value) override { add("u:" + std::to_string(value)); }
  void number_integer(int64_t value) override { add("i:" + std::to_string(value)); }
  void number_float(std::string_view text) override { add("f:" + std::string(text)); }
  void string(std::string& value) override { add("s:" + value); }
  void start_object() override { add("{"); }
  void key(std::string& key) override { add("k:" + key); }
  void end_object() override { add("}"); }
  void start_array() override { add("["); }
  void end_array() override { add("]"); }

 private:
  void add(const std::string& event) { events += (events.empty() ? "" : " ") + event; }
};

std::string events_of(const std::string& json) {
  Recorder recorder;
  read_json(json, recorder);
  return recorder.events;
}

// The JsonSyntaxError message for `json`, or "" if it was accepted.
std::string syntax_error(const std::string& json) {
  Recorder recorder;
  try {
    read_json(json, recorder);
  } catch (const JsonSyntaxError& error) {
    return error.what();
  }
  return "";
}

TEST(JsonReader, ReportsEveryKindOfValueInOrder) {
  EXPECT_EQ(events_of(R"({"a": [1, -2, 1.5, "x", true, false, null, {}, []], "b": {"c": "d"}})"),
            "{ k:a [ u:1 i:-2 f:1.5 s:x b:1 b:0 n { } [ ] ] k:b { k:c s:d } }");
  EXPECT_EQ(events_of(" \t\r\n7 \n"), "u:7");  // a scalar at the top, JSON's four spaces around it
  EXPECT_EQ(events_of("[[[[]]]]"), "[ [ [ [ ] ] ] ]");
}

TEST(JsonReader, ReportsIntegersThatFit64BitsAsIntegers) {
  EXPECT_EQ(events_of("18446744073709551615"), "u:18446744073709551615");  // 2^64 - 1
  EXPECT_EQ(events_of("18446744073709551616"), "f:18446744073709551616");  // 2^64: as text
  EXPECT_EQ(events_of("-9223372036854775808"), "i:-9223372036854775808");  // INT64_MIN
  EXPECT_EQ(events_of("-9223372036854775809"), "f:-9223372036854775809");
  EXPECT_EQ(events_of("-0"), "i:0");
  EXPECT_EQ(events_of("[0, 10, 1e3, 2E-2, 0.5e+1]"), "[ u:0 u:10 f:1e3 f:2E-2 f:0.5e+1 ]");
}

TEST(JsonReader, RejectsNumbersOutsideTheGrammar) {
  for (const char* bad : {"01", "1.", ".5", "+1", "-", "1e", "1e+", "0x10", "1.e5", "--1", "NaN",
                          "Infinity", "-Infinity"}) {
    EXPECT_NE(syntax_error(bad), "") << bad;
  }
}

TEST(JsonReader, DecodesEscapesAndKeepsUtf8) {
  EXPECT_EQ(events_of(R"("a\"b\\c\/d\b\f\n\r\t")"), "s:a\"b\\c/d\b\f\n\r\t");
  EXPECT_EQ(events_of(R"("\u0041\u00e9\u20AC\ud83d\ude00")"),
            "s:A\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80");
  EXPECT_EQ(events_of("\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\x7F\""),
            "s:\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\x7F");
  EXPECT_EQ(events_of(R"({"\u006b": 1})"), "{ k:k u:1 }");
}

TEST(JsonReader, RejectsBadStrings) {
  EXPECT_EQ(syntax_error("\"abc"), "unexpected end of input at offset 4");
  EXPECT_EQ(syntax_error("\"a\nb\""), "control character in a string at offset 2");
  EXPECT_EQ(syntax_error(R"("\x")"), "invalid escape in a string at offset 2");
  EXPECT_EQ(syntax_error(R"("\u12G4")"), "expected 4 hexadecimal digits after \\u at offset 5");
  EXPECT_EQ(syntax_error(R"("\udc00")"), "lone low surrogate escape in a string at offset 7");
  EXPECT_EQ(syntax_error(R"("\ud800")"),
            "high surrogate escape not followed by a low one at offset 7");
  EXPECT_EQ(syntax_error(R"("\ud800\u0041")"),
            "high surrogate escape not followed by a low one at offset 13");
  // Ill-formed UTF-8 (Unicode table 3-7): a lone continuation byte, an overlong form, a
  // surrogate, a code point past U+10FFFF, a truncated sequence, a byte that never occurs.
  for (const char* bad : {"\"\x80\"", "\"\xC0\xAF\"", "\"\xE0\x80\xAF\"", "\"\xED\xA0\x80\"",
                          "\"\xF4\x90\x80\x80\"", "\"\xE2\x82\"", "\"\xFF\""}) {
    EXPECT_NE(syntax_error(bad).find("ill-formed UTF-8 in a string at offset 1"), std::string::npos)
        << syntax_error(bad);
  }
}

TEST(JsonReader, RejectsBadStructure) {
  EXPECT_EQ(syntax_error(""), "unexpected end of input at offset 0");
  EXPECT_EQ(syntax_error("{\"a\" 1}"), "expected ':' at offset 5");
  EXPECT_EQ(syntax_error("{\"a\": 1,}"), "expected a string key at offset 8");
  EXPECT_EQ(syntax_error("[1,]"), "expected a value at offset 3");
  EXPECT_EQ(syntax_error("[1 2]"), "expected ',' or ']' at offset 3");
  EXPECT_EQ(syntax_error("{\"a\": 1 \"b\": 2}"), "expected ',' or '}' at offset 8");
  EXPECT_EQ(syntax_error("{1: 2}"), "expected a string key at offset 1");
  EXPECT_EQ(syntax_error("{} {}"), "text after the end of the JSON value at offset 3");
  EXPECT_EQ(syntax_error("tru"), "expected a value at offset 0");
  EXPECT_EQ(syntax_error("[1\f]"), "expected ',' or ']' at offset 2");  // \f is not JSON space
  EXPECT_EQ(syntax_error(std::string("{}\0", 3)), "NUL byte at offset 2");
  EXPECT_EQ(syntax_error(std::string("\"a\0\"", 4)), "NUL byte at offset 2");
  EXPECT_EQ(syntax_error("[[["), "unexpected end of input at offset 3");
}

TEST(JsonReader, NestsAsDeepAsMemoryAllows) {
  const size_t depth = 1'000'000;  // far past what a recursive reader's stack would take
  const std::string json = std::string(depth, '[') + std::string(depth, ']');
  Recorder recorder;
  read_json(json, recorder);
  EXPECT_EQ(recorder.events.size(), 2 * depth + (2 * depth - 1));
}

TEST(JsonReader, HandlerErrorsPassThroughUnchanged) {
  struct Refuses : Recorder {
    void boolean(bool) override { fail("no booleans here"); }
  } handler;
  try {
    read_json("[true]", handler);
    ADD_FAILURE() << "expected the handler's error";
  } catch (const JsonSyntaxError&) {
    ADD_FAILURE() << "a handler's error is not a syntax error";
  } catch (const Error& error) {
    EXPECT_STREQ(error.what(), "no booleans here");
  }
}

}  // namespace
}  // namespace clip
