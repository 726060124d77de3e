// A strict JSON reader (RFC 8259) that reports what it reads to a handler as it goes, for the JSON
// a load parses once: the safetensors header, vocab.json and the config files.
//
// Why not nlohmann's parser (nlohmann's document type still holds the config files): in wasm, V8
// runs a function in its baseline tier until it has used up a budget charged by code size at
// every loop turn and return, then compiles it again with its optimizing compiler on another
// thread. nlohmann's lexer loops over one large switch, so parsing ViT-B/32's 47 KB header used
// up that budget: 45 ms of optimizing compiles (parse_safetensors_header 27 ms, the lexer 13 ms)
// on every load, competing with the load for 2 cores, for code that had finished running before
// it was ready. This reader's loops are short: that header's parse now compiles 12 ms of it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common.h"

namespace clip {

// What read_json throws on text that is not JSON; a handler's own errors pass through as they are.
class JsonSyntaxError : public Error {
 public:
  using Error::Error;
};

// Callbacks in document order. A handler rejects what it does not accept by throwing.
class JsonHandler {
 public:
  virtual ~JsonHandler() = default;
  virtual void null() = 0;
  virtual void boolean(bool value) = 0;
  virtual void number_unsigned(uint64_t value) = 0;      // an integer >= 0 that fits 64 bits
  virtual void number_integer(int64_t value) = 0;        // an integer < 0 (or -0) that fits 64 bits
  virtual void number_float(std::string_view text) = 0;  // any other number, as written
  virtual void string(std::string& value) = 0;  // UTF-8; the handler may take it (std::move)
  virtual void start_object() = 0;
  virtual void key(std::string& key) = 0;
  virtual void end_object() = 0;
  virtual void start_array() = 0;
  virtual void end_array() = 0;
};

// Reads exactly one JSON value (whitespace around it allowed) and reports it to `handler`.
// Throws JsonSyntaxError ("<problem> at offset <n>") on anything else: bad syntax, ill-formed
// UTF-8 or a lone surrogate escape in a string, a NUL byte anywhere. Nesting depth is limited
// only by memory (no recursion).
void read_json(std::string_view text, JsonHandler& handler);

}  // namespace clip
