// Operators on top of the kernels in src/kernels: work splitting, scratch and packing. The
// kernels do the arithmetic; this file decides which kernel runs on which tile and on which thread.
#include "ops.h"

#include <algorithm>
#include <cmath>

#include "common.h"
#include "kernels/kernels.h"

namespace clip {
namespace {

// Rows split into tiles of gemm_rows() (M) and a remainder r: one tile of r rows, except that
// r = 1 becomes M - 1 and 2 rows (50 rows in 4-row tiles: 12 x 4 + 2; 77: 18 x 4 + 3 + 2). The
// 2-row f32 kernel works on 16 columns at a time and keeps as many accumulators as the 4-row one,
// where 3 rows keep 6 and 1 row 2. Measured (wasm probe build, relaxed SIMD, 50x768x768, 1
// thread): 11 x 4 + 2 x 3 rows 51.6-52.0 GFLOP/s, 12 x 4 + 2 52.9-53.4 (48 rows: 53.2-53.8).
struct RowTiles {
  size_t m, total, full, tail[2], count;
  explicit RowTiles(size_t rows)
      : m(static_cast<size_t>(kernels::gemm_rows())), total(rows), full(rows / m), tail{0, 0} {
    const size_t r = rows % m;
    if (r == 1 && full > 0) {
      --full;
      tail[0] = m - 1;
      tail[1] = 2;
    } else {
      tail[0] = r;
    }
    count = full + (tail[0] != 0) + (tail[1] != 0);
  }
  size_t begin(size_t t) const { return t <= full ? t * m : full * m + tail[0]; }
  size_t rows(size_t t) const { return t < full ? m : tail[t - full]; }
};

// Output columns are cut into chunks of whole panels: with one row tile, the unit of work a
// thread claims. Chunks are visited in groups whose packed weights fit a core's L2; within a
// group, row tile by row tile, so a tile's inputs stay in L1 while the group's weights are reused
// from L2 and each weight is fetched from memory once. Measured on 50x768x3072 f32, one thread
// (GFLOP/s, weights hot in cache / cold as in a model where every layer has its own): this order
// 52 / 44; row tile by row tile over all weights 52 / 36; chunk by chunk 48 / 44.
// The first row tile of a group still waits on its weights' way from memory. So the f32 tiles
// after it read the next group's weights ahead, a slice each, while they compute: two groups
// (~400 KB each) share the L2 (1 MB per core here). Chunks hold an even number of panels, which
// the 2-row tile works on in pairs.
constexpr size_t kChunkBytes = 192 * 1024;
constexpr size_t kChunksPerGroup = 2;
// Reading ahead pays where many tiles share the reads: with few row tiles they come too densely
// to hide behind the arithmetic (text, 8 rows in 2 tiles: 16.8 -> 27.5 ms per embedding).
constexpr size_t kMinTilesReadingAhead = 4;

size_t chunk_panels(size_t panel_bytes, size_t panels) {
  const size_t fit = kChunkBytes / std::max<size_t>(panel_bytes, 1);
  return std::clamp<size_t>(std::max<size_t>(2, fit & ~size_t{1}), 1, panels);
}

// Bytes of the packed weights one tile reads ahead (F32GemmFn): from `offset`, `step` apart.
struct ReadAheadSlice {
  size_t offset = 0, step = 0;
};

// Below this many multiply-adds (~20 us on one core) waking a sleeping worker costs more than
// it saves, so the calling thread does the work alone.
constexpr double kMinParallelMacs = 1 << 19;

ThreadPool* pool_for(double macs, ThreadPool* pool) {
  return macs < kMinParallelMacs ? nullptr : pool;
}

// Weights are packed in runs of panels of about 64 K weights, a task each.
size_t packing_task_panels(size_t in) {
  return std::max<size_t>(1, (size_t{1} << 16) / std::max<size_t>(in, 1));
}

// Runs tile(row_begin, row_count, col_begin, col_count, weights_offset_in_panels, read_ahead)
// over the whole [rows, out] output of a GEMM of depth k, spread over the pool; the row tiles are
// the ones the caller packed its input tiles for. Slices to read ahead are handed out only with
// `read_ahead` (otherwise every slice is empty).
template <typename Tile>
void for_each_gemm_tile(const RowTiles& row_tiles, size_t out, size_t k, size_t panel_bytes,
                        bool read_ahead, ThreadPool* pool, const Tile& tile) {
  const size_t panels = kernels::gemm_panels(out);
  const size_t per_chunk = chunk_panels(panel_bytes, panels);
  const size_t chunks = (panels + per_chunk - 1) / per_chunk;
  const size_t group_panels = kChunksPerGroup * per_chunk;
  const bool reading_ahead = read_ahead && row_tiles.count > kMinTilesReadingAhead;
  pool = pool_for(static_cast<double>(row_tiles.total) * out * k, pool);
  const size_t group_tasks = kChunksPerGroup * row_tiles.count;
  parallel_for(pool, chunks * row_tiles.count, [&](size_t task) {
    const size_t group = task / group_tasks, in_group_task = task % group_tasks;
    const size_t group_chunks = std::min(kChunksPerGroup, chunks - group * kChunksPerGroup);
    const size_t t = in_group_task / group_chunks, chunk_in_group = in_group_task % group_chunks;
    const size_t first_panel = (group * kChunksPerGroup + chunk_in_group) * per_chunk;
    const size_t col = first_panel * kernels::kPanel;
    const size_t cols = std::min(out - col, per_chunk * kernels::kPanel);
    // Tiles 1.. of a (full) group split the next group's weights into one slice each.
    ReadAheadSlice ahead;
    const size_t next_panel = (group + 1) * group_panels;
    if (reading_ahead && t > 0 && next_panel < panels) {
      const size_t bytes = (std::min(panels, next_panel + group_panels) - next_panel) * panel_bytes;
      const size_t slices = (row_tiles.count - 1) * group_chunks;
      const size_t slice = (t - 1) * group_chunks + chunk_in_group;
      const size_t reads = kernels::gemm_panels(cols) * ((k + 3) / 4);  // at most, F32GemmFn
      ahead.offset = next_panel * panel_bytes + bytes * slice / slices;
      ahead.step = bytes / slices / reads;
    }
    tile(row_tiles.begin(t), row_tiles.rows(t), col, cols, first_panel, ahead);
  });
}

}  // namespace

Linear::Linear(const float* weight, const float* bias, int out_features, int in_features,
               WeightFormat format, ThreadPool* pool)
    : in_(in_features), out_(out_features), format_(format) {
  if (out_ <= 0 || in_ <= 0 || !weight) {
    fail("Linear: need a weight of positive shape, got [", out_, ", ", in_, "]");
  }
  const size_t out = static_cast<size_t>(out_), in = static_cast<size_t>(in_);
  const size_t panels = kernels::gemm_panels(out);
  if (format_ == WeightFormat::f32) {
    packed_f32_.resize(kernels::f32_gemm_packed_size(out, in));
  } else {
    packed_q8_.resize(kernels::q8_gemm_packed_size(out, in));
  }
  // Panels are independent: runs of them are packed on the pool's threads (at load, where
  // packing and the first touch of the packed memory are most of the time spent).
  const size_t per_task = packing_task_panels(in);
  const size_t tasks = (panels + per_task - 1) / per_task;
  parallel_for(pool_for(static_cast<double>(out) * in, pool), tasks, [&](size_t t) {
    const size_t first = t * per_task, last = std::min(panels, first + per_task);
    const size_t col = first * kernels::kPanel;
    const size_t cols = std::min(out, last * kernels::kPanel) - col;
    const float* w = weight + col * in;
    const float* b = bias ? bias + col : nullptr;
    if (format_ == WeightFormat::f32) {
      kernels::pack_f32_gemm(cols, in, w, in, b,
                             packed_f32_.data() + kernels::f32_gemm_packed_size(col, in));
    } else {
      kernels::pack_q8_gemm(cols, in, w, b,
                            packed_q8_.data() + kernels::q8_gemm_packed_size(col, in));
    }
  });
}

size_t Linear::in_place_floats(int out_features, int in_features) {
  return kernels::f32_gemm_packed_size(static_cast<size_t>(std::max(out_features, 0)),
                                       static_cast<size_t>(std::max(in_features, 0)));
}

// Panel p's packed form, [8p(in+1), 8(p+1)(in+1)), starts after the rows of every earlier panel
// and ends 8(p+1) floats into the rows of panel p+1 (fewer than one row while p+1 < in). So
// panels are packed last to first, each from a copy of its rows: the rows a panel's packed form
// overwrites were copied before. Runs of panels go to the pool's threads; the first panel of each
// run has its rows saved beforehand, as the previous run's last panel overwrites their start.
Linear Linear::pack_rows_in_place(UninitializedVector<float> buffer, const float* bias,
                                  int out_features, int in_features, ThreadPool* pool) {
  if (out_features <= 0 || in_features <= 0) {
    fail("Linear: need a weight of positive shape, got [", out_features, ", ", in_features, "]");
  }
  const size_t out = static_cast<size_t>(out_features), in = static_cast<size_t>(in_features);
  if (buffer.size() != in_place_floats(out_features, in_features)) {
    fail("Linear: a buffer of ", buffer.size(), " floats cannot be packed in place for [", out,
         ", ", in, "]");
  }
  const size_t panels = kernels::gemm_panels(out), panel_rows = kernels::kPanel;
  const size_t run_panels = panels < in ? packing_task_panels(in) : panels;
  const size_t runs = (panels + run_panels - 1) / run_panels;
  float* data = buffer.data();
  auto rows_of = [&](size_t panel) { return std::min(out - panel * panel_rows, panel_rows); };
  UninitializedVector<float> first_rows(runs * panel_rows * in);
  pool = pool_for(static_cast<double>(out) * in, pool);
  parallel_for(pool, runs, [&](size_t run) {
    const size_t panel = run * run_panels;
    std::copy_n(data + panel * panel_rows * in, rows_of(panel) * in,
                first_rows.data() + run * panel_rows * in);
  });
  parallel_for(pool, runs, [&](size_t run) {
    const size_t first = run * run_panels, last = std::min(panels, first + run_panels);
    UninitializedVector<float> rows(panel_rows * in);
    for (size_t panel = last; panel-- > first;) {
      const float* source = first_rows.data() + run * panel_rows * in;
      if (panel != first) {
        std::copy_n(data + panel * panel_rows * in, rows_of(panel) * in, rows.data());
        source = rows.data();
      }
      kernels::pack_f32_gemm(rows_of(panel), in, source, in,
                             bias ? bias + panel * panel_rows : nullptr,
                             data + kernels::f32_gemm_packed_size(panel * panel_rows, in));
    }
  });
  Linear linear;
  linear.in_ = in_features;
  linear.out_ = out_features;
  linear.format_ = WeightFormat::f32;
  linear.packed_f32_ = std::move(buffer);
  return linear;
}

size_t Linear::packed_bytes() const {
  return packed_f32_.size() * sizeof(float) + packed_q8_.size();
}

void Linear::forward(const float* x, int rows, float* y, Activation act, ThreadPool* pool) const {
  if (rows <= 0 || empty()) return;
  const size_t in = static_cast<size_t>(in_), out = static_cast<size_t>(out_);
  // The kernels read their input rows as interleaved tiles (kernels.h): each row tile is packed
  // (f32) or quantized (q8) once here, before the tiles are spread over the threads. The scratch
  // is kept per thread so repeated calls allocate nothing.
  const RowTiles row_tiles(static_cast<size_t>(rows));
  if (format_ == WeightFormat::f32) {
    thread_local std::vector<float> tiles;
    tiles.resize(static_cast<size_t>(rows) * in);
    for (size_t t = 0; t < row_tiles.count; ++t) {
      const size_t r = row_tiles.begin(t);
      kernels::pack_f32_gemm_rows(row_tiles.rows(t), in, x + r * in, in, tiles.data() + r * in);
    }
    const float* a = tiles.data();
    const size_t panel_floats = kernels::kPanel * (1 + in);
    const auto* weight_bytes = reinterpret_cast<const uint8_t*>(packed_f32_.data());
    for_each_gemm_tile(
        row_tiles, out, in, panel_floats * sizeof(float), /*read_ahead=*/true, pool,
        [&](size_t r, size_t mr, size_t col, size_t nc, size_t panel, ReadAheadSlice ahead) {
          kernels::f32_gemm_kernel(mr)(nc, in, a + r * in,
                                       packed_f32_.data() + panel * panel_floats, y + r * out + col,
                                       out, act, weight_bytes + ahead.offset, ahead.step);
        });
    return;
  }
  // q8: activations are quantized per row to int16.
  const size_t q_len = kernels::q16_row_length(in);
  const int qmax = kernels::q16_max_for_depth(q_len);
  thread_local std::vector<int16_t> quantized;
  thread_local std::vector<float> row_scale;
  quantized.resize(static_cast<size_t>(rows) * q_len);
  row_scale.resize(static_cast<size_t>(rows));
  for (size_t t = 0; t < row_tiles.count; ++t) {
    const size_t r = row_tiles.begin(t);
    kernels::quantize_rows_q16__wasmsimd(row_tiles.rows(t), in, x + r * in, in, qmax,
                                         quantized.data() + r * q_len, row_scale.data() + r);
  }
  const int16_t* a = quantized.data();
  const float* a_scale = row_scale.data();
  const size_t panel_bytes = kernels::q8_gemm_packed_size(kernels::kPanel, in);
  // int8 weights are a quarter the size: no wait on the first tile to hide (tower probe, q8
  // weights cold or hot alike), so nothing is read ahead.
  for_each_gemm_tile(row_tiles, out, in, panel_bytes, /*read_ahead=*/false, pool,
                     [&](size_t r, size_t mr, size_t col, size_t nc, size_t panel, ReadAheadSlice) {
                       kernels::q8_gemm_kernel(mr)(nc, q_len, a + r * q_len, a_scale + r,
                                                   packed_q8_.data() + panel * panel_bytes,
                                                   y + r * out + col, out, act);
                     });
}

void layer_norm(const float* x, int rows, const LayerNorm& norm, float* y) {
  if (norm.beta.size() != norm.gamma.size()) {
    fail("layer_norm: gamma has ", norm.gamma.size(), " values but beta ", norm.beta.size());
  }
  if (rows <= 0) return;
  kernels::f32_layernorm__wasmsimd(rows, norm.gamma.size(), x, norm.gamma.data(), norm.beta.data(),
                                   norm.eps, y);
}

void apply_activation(float* x, size_t count, Activation act) {
  kernels::f32_vact__wasmsimd(count, x, act);
}

void multi_head_attention(const float* q, int first_query, int queries, const float* k,
                          const float* v, int tokens, int heads, int head_dim, bool causal,
                          float* out, ThreadPool* pool) {
  if (tokens <= 0 || queries <= 0 || heads <= 0 || head_dim <= 0) return;
  if (first_query < 0 || first_query + queries > tokens) {
    fail("attention: queries ", first_query, "..", first_query + queries - 1, " are outside the ",
         tokens, " tokens");
  }
  const size_t n = static_cast<size_t>(tokens), dim = static_cast<size_t>(head_dim);
  const size_t m = static_cast<size_t>(queries), first = static_cast<size_t>(first_query);
  const size_t width = static_cast<size_t>(heads) * dim;
  const float scale = 1.f / std::sqrt(static_cast<float>(head_dim));
  // One task per head. Per head, both products run on the GEMM kernels: K_h is packed as the
  // "weights" of scores = Q_h · K_h^T, and V_h as those of out_h = P · V_h.
  const double macs = 2.0 * heads * static_cast<double>(m) * n * dim;  // QK^T and PV
  parallel_for(pool_for(macs, pool), static_cast<size_t>(heads), [&](size_t h) {
    thread_local std::vector<float> packed_k, packed_v, scores, tile;
    packed_k.resize(kernels::f32_gemm_packed_size(n, dim));
    packed_v.resize(kernels::f32_gemm_packed_size(dim, n));
    scores.resize(m * n);
    tile.resize(kernels::kGemmKernelRows * std::max(n, dim));  // one row tile of Q_h or P
    kernels::pack_f32_gemm(n, dim, k + h * dim, width, nullptr, packed_k.data());
    kernels::pack_f32_gemm_kn(n, dim, v + h * dim, width, nullptr, packed_v.data());
    // K_h and V_h were just packed: nothing to read ahead (the kernels read this byte again).
    const auto* no_read_ahead = reinterpret_cast<const uint8_t*>(packed_k.data());

    const RowTiles row_tiles(m);
    for (size_t t = 0; t < row_tiles.count; ++t) {
      const size_t r = row_tiles.begin(t), mr = row_tiles.rows(t);
      // Causal query rows r..r+mr-1 see keys up to their token's position: nothing past the
      // last one's is computed.
      const size_t visible = causal ? first + r + mr : n;
      float* s = scores.data() + r * n;  // [mr, n]
      kernels::pack_f32_gemm_rows(mr, dim, q + r * width + h * dim, width, tile.data());
      kernels::f32_gemm_kernel(mr)(visible, dim, tile.data(), packed_k.data(), s, n,
                                   Activation::none, no_read_ahead, 0);
      for (size_t i = 0; i < mr; ++i) {
        const size_t row_visible = causal ? first + r + i + 1 : n;
        kernels::f32_softmax__wasmsimd(1, row_visible, scale, s + i * n, n);
        std::fill(s + i * n + row_visible, s + (i + 1) * n, 0.f);  // masked keys weigh 0
      }
      kernels::pack_f32_gemm_rows(mr, n, s, n, tile.data());
      kernels::f32_gemm_kernel(mr)(dim, n, tile.data(), packed_v.data(), out + r * width + h * dim,
                                   width, Activation::none, no_read_ahead, 0);
    }
  });
}

void l2_normalize_rows(float* x, int rows, int dim) {
  if (rows <= 0 || dim <= 0) return;
  kernels::f32_l2norm__wasmsimd(rows, dim, x);
}

}  // namespace clip
