// gzip decompression for native callers (zlib). Not part of the WebAssembly build: there the
// JavaScript layer decompresses with the platform's DecompressionStream or node:zlib.
#pragma once

#include <string>
#include <string_view>

namespace clip {

// Decompresses a whole gzip stream (one or more members). Throws clip::Error on corrupt or
// truncated input.
std::string gunzip(std::string_view compressed);

}  // namespace clip
