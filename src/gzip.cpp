#ifndef __EMSCRIPTEN__  // zlib is linked into the native build only

#include "gzip.h"

#include <zlib.h>

#include <algorithm>
#include <climits>

#include "common.h"

namespace clip {

std::string gunzip(std::string_view compressed) {
  z_stream stream{};
  // 16 + MAX_WBITS: expect a gzip header and trailer (checks the CRC and length).
  if (inflateInit2(&stream, 16 + MAX_WBITS) != Z_OK) fail("gunzip: zlib initialisation failed");
  std::string out;
  char buffer[1 << 16];
  const auto* next = reinterpret_cast<const Bytef*>(compressed.data());
  size_t left = compressed.size();
  int status = Z_OK;
  while (true) {
    if (stream.avail_in == 0 && left > 0) {
      const auto chunk = static_cast<uInt>(std::min<size_t>(left, UINT_MAX));
      stream.next_in = const_cast<Bytef*>(next);
      stream.avail_in = chunk;
      next += chunk;
      left -= chunk;
    }
    stream.next_out = reinterpret_cast<Bytef*>(buffer);
    stream.avail_out = sizeof buffer;
    status = inflate(&stream, Z_NO_FLUSH);
    out.append(buffer, sizeof buffer - stream.avail_out);
    if (status == Z_STREAM_END) {
      // Concatenated members are one stream as far as gzip(1) is concerned.
      if (stream.avail_in == 0 && left == 0) break;
      inflateReset(&stream);
      continue;
    }
    if (status != Z_OK && status != Z_BUF_ERROR) break;
    // Z_BUF_ERROR: no progress was possible; with output space free that means input ran out.
    if (status == Z_BUF_ERROR && left == 0) break;
  }
  const char* message = stream.msg;
  inflateEnd(&stream);
  if (status != Z_STREAM_END) {
    fail("gunzip: ",
         status == Z_BUF_ERROR ? "input ends before the gzip stream does"
                               : (message ? message : "corrupt gzip data"),
         " (", compressed.size(), " bytes in, ", out.size(), " out)");
  }
  return out;
}

}  // namespace clip

#endif  // __EMSCRIPTEN__
