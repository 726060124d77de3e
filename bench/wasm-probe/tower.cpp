// Where a tower's time goes under a real wasm engine: one ViT-B/32 transformer stack (image:
// 50 tokens, width 768; text: 8 causal tokens, width 512), random weights, timed operator by
// operator, with f32 and q8 weights. "cold": 12 layers with their own weights, as in a model
// (weights stream from memory); "hot": one layer's weights run 12 times (they stay in cache). The
// difference is what memory costs the tower. Built and run by bench/wasm-probe/run.sh.
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>

#include "model-weights.h"
#include "ops.h"
#include "thread-pool.h"

namespace {

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Shape {
  const char* name;
  int width, mlp, tokens, heads;
  bool causal;
};

clip::Linear random_linear(std::mt19937& rng, int out, int in, clip::WeightFormat format) {
  std::uniform_real_distribution<float> dist(-0.05f, 0.05f);
  std::vector<float> w(static_cast<size_t>(out) * in), b(out);
  for (float& v : w) v = dist(rng);
  for (float& v : b) v = dist(rng);
  return clip::Linear(w.data(), b.data(), out, in, format);
}

// Milliseconds per forward pass for each operator group, averaged over the timed passes.
void run(const Shape& s, clip::WeightFormat format, bool hot, clip::ThreadPool& pool) {
  constexpr int kLayers = 12, kWarmup = 3, kTimed = 10;
  std::mt19937 rng(1);
  std::vector<clip::TransformerBlock> blocks(hot ? 1 : kLayers);
  for (clip::TransformerBlock& b : blocks) {
    b.ln1.gamma.assign(s.width, 1.f);
    b.ln1.beta.assign(s.width, 0.f);
    b.ln2 = b.ln1;
    b.q = random_linear(rng, s.width, s.width, format);
    b.k = random_linear(rng, s.width, s.width, format);
    b.v = random_linear(rng, s.width, s.width, format);
    b.out = random_linear(rng, s.width, s.width, format);
    b.fc1 = random_linear(rng, s.mlp, s.width, format);
    b.fc2 = random_linear(rng, s.width, s.mlp, format);
  }
  const size_t plane = static_cast<size_t>(s.tokens) * s.width;
  std::vector<float> x(plane, 0.1f), h(plane), q(plane), k(plane), v(plane), att(plane),
      hidden(static_cast<size_t>(s.tokens) * s.mlp);
  enum { kNorms, kQkv, kAttention, kOut, kFc1, kFc2, kGroups };
  double total[kGroups] = {};
  for (int pass = 0; pass < kWarmup + kTimed; ++pass) {
    double t[kGroups] = {};
    const clip::ThreadPool::Pass forward(&pool);  // as clip::Model's forward passes
    for (int layer = 0; layer < kLayers; ++layer) {
      const clip::TransformerBlock& b = blocks[hot ? 0 : layer];
      auto timed = [&](int group, auto&& body) {
        const double start = now();
        body();
        t[group] += now() - start;
      };
      timed(kNorms, [&] { clip::layer_norm(x.data(), s.tokens, b.ln1, h.data()); });
      timed(kQkv, [&] {
        b.q.forward(h.data(), s.tokens, q.data(), clip::Activation::none, &pool);
        b.k.forward(h.data(), s.tokens, k.data(), clip::Activation::none, &pool);
        b.v.forward(h.data(), s.tokens, v.data(), clip::Activation::none, &pool);
      });
      timed(kAttention, [&] {
        clip::multi_head_attention(q.data(), 0, s.tokens, k.data(), v.data(), s.tokens, s.heads,
                                   s.width / s.heads, s.causal, att.data(), &pool);
      });
      timed(kOut,
            [&] { b.out.forward(att.data(), s.tokens, h.data(), clip::Activation::none, &pool); });
      timed(kNorms, [&] {
        for (size_t i = 0; i < plane; ++i) x[i] += h[i];
        clip::layer_norm(x.data(), s.tokens, b.ln2, h.data());
      });
      timed(kFc1, [&] {
        b.fc1.forward(h.data(), s.tokens, hidden.data(), clip::Activation::quick_gelu, &pool);
      });
      timed(kFc2, [&] {
        b.fc2.forward(hidden.data(), s.tokens, h.data(), clip::Activation::none, &pool);
        for (size_t i = 0; i < plane; ++i) x[i] = 0.1f + 1e-3f * h[i];  // keep values bounded
      });
    }
    if (pass >= kWarmup) {
      for (int g = 0; g < kGroups; ++g) total[g] += t[g] / kTimed;
    }
  }
  double sum = 0;
  for (double g : total) sum += g;
  std::printf(
      "%-5s %-3s %-4s %dt  total %6.1f ms  qkv %5.1f  attention %4.1f  out %4.1f  fc1 %5.1f  "
      "fc2 %5.1f  norms+residual %4.1f\n",
      s.name, format == clip::WeightFormat::q8 ? "q8" : "f32", hot ? "hot" : "cold", pool.size(),
      sum * 1e3, total[kQkv] * 1e3, total[kAttention] * 1e3, total[kOut] * 1e3, total[kFc1] * 1e3,
      total[kFc2] * 1e3, total[kNorms] * 1e3);
}

}  // namespace

int main() {
  const Shape shapes[] = {{"image", 768, 3072, 50, 12, false}, {"text", 512, 2048, 8, 8, true}};
  for (int threads : {1, 2}) {
    clip::ThreadPool pool(threads);
    for (const Shape& s : shapes) {
      for (clip::WeightFormat format : {clip::WeightFormat::f32, clip::WeightFormat::q8}) {
        for (bool hot : {false, true}) run(s, format, hot, pool);
      }
    }
  }
  return 0;
}
