#include "model-loader.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common.h"

namespace clip {

enum class Tower { vision, text, none };

struct ModelLoader::Component {
  std::vector<std::string> parts;  // canonical (Hugging Face) tensor names
  Tower tower;
  std::function<void(const std::vector<FloatSpan>&)> install;
  // An f32 linear layer may have its weight (parts[0]) read straight into the buffer of
  // in_place_floats floats it is then packed in (place_tensor); install_in_place installs it
  // from that buffer.
  size_t in_place_floats = 0;
  std::function<void(UninitializedVector<float>, const std::vector<FloatSpan>&)> install_in_place;
};

enum class Transform { copy, transpose, split_q, split_k, split_v };

struct MappedTensor {
  std::string name;
  Transform transform;
};

namespace {

const std::string kTokenEmbedding = "text_model.embeddings.token_embedding.weight";

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// OpenAI / open_clip block suffixes -> Hugging Face ones.
std::vector<MappedTensor> map_openai_block(const std::string& hf_prefix, const std::string& rest) {
  static const std::pair<const char*, const char*> kRenames[] = {
      {"ln_1.", "layer_norm1."},
      {"ln_2.", "layer_norm2."},
      {"attn.out_proj.", "self_attn.out_proj."},
      {"mlp.c_fc.", "mlp.fc1."},
      {"mlp.c_proj.", "mlp.fc2."},
  };
  size_t dot = rest.find('.');
  const std::string layer = rest.substr(0, dot + 1);  // "N."
  const std::string tail = rest.substr(dot + 1);
  const std::string base = hf_prefix + layer;
  for (const auto& [from, to] : kRenames) {
    if (starts_with(tail, from))
      return {{base + to + tail.substr(std::string(from).size()), Transform::copy}};
  }
  // q, k and v are fused into one in_proj matrix in OpenAI's checkpoints.
  for (const char* kind : {"weight", "bias"}) {
    if (tail == std::string("attn.in_proj_") + kind) {
      const std::string attn = base + "self_attn.";
      return {{attn + "q_proj." + kind, Transform::split_q},
              {attn + "k_proj." + kind, Transform::split_k},
              {attn + "v_proj." + kind, Transform::split_v}};
    }
  }
  return {};
}

// Out of line: targets_of runs for every tensor, and is kept short (see on_weights).
[[gnu::noinline]] std::vector<MappedTensor> map_openai_name(const std::string& name) {
  static const std::pair<const char*, MappedTensor> kDirect[] = {
      {"visual.conv1.weight", {"vision_model.embeddings.patch_embedding.weight", Transform::copy}},
      {"visual.class_embedding", {"vision_model.embeddings.class_embedding", Transform::copy}},
      {"visual.positional_embedding",
       {"vision_model.embeddings.position_embedding.weight", Transform::copy}},
      {"visual.ln_pre.weight", {"vision_model.pre_layrnorm.weight", Transform::copy}},
      {"visual.ln_pre.bias", {"vision_model.pre_layrnorm.bias", Transform::copy}},
      {"visual.ln_post.weight", {"vision_model.post_layernorm.weight", Transform::copy}},
      {"visual.ln_post.bias", {"vision_model.post_layernorm.bias", Transform::copy}},
      {"visual.proj", {"visual_projection.weight", Transform::transpose}},
      {"token_embedding.weight", {"text_model.embeddings.token_embedding.weight", Transform::copy}},
      {"positional_embedding",
       {"text_model.embeddings.position_embedding.weight", Transform::copy}},
      {"ln_final.weight", {"text_model.final_layer_norm.weight", Transform::copy}},
      {"ln_final.bias", {"text_model.final_layer_norm.bias", Transform::copy}},
      {"text_projection", {"text_projection.weight", Transform::transpose}},
      {"logit_scale", {"logit_scale", Transform::copy}},
  };
  for (const auto& [from, to] : kDirect) {
    if (name == from) return {to};
  }
  const std::string vision_blocks = "visual.transformer.resblocks.";
  const std::string text_blocks = "transformer.resblocks.";
  if (starts_with(name, vision_blocks)) {
    return map_openai_block("vision_model.encoder.layers.", name.substr(vision_blocks.size()));
  }
  if (starts_with(name, text_blocks)) {
    return map_openai_block("text_model.encoder.layers.", name.substr(text_blocks.size()));
  }
  return {};
}

// The canonical tensors a file tensor fills (several for OpenAI's fused in_proj); none for
// tensors the model does not use.
std::vector<MappedTensor> targets_of(NamingScheme scheme,
                                     const std::map<std::string, std::vector<int64_t>>& shapes,
                                     const std::string& file_name) {
  if (scheme == NamingScheme::openai) return map_openai_name(file_name);
  if (shapes.count(file_name)) return {{file_name, Transform::copy}};
  return {};
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::ostringstream out;
  out << "[";
  for (size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  out << "]";
  return out.str();
}

size_t element_count(const std::vector<int64_t>& shape) {
  size_t count = 1;
  for (int64_t dim : shape) count *= static_cast<size_t>(dim);
  return count;
}

// The shape the stored tensor must have, for the canonical shape it maps to.
std::vector<int64_t> stored_shape(std::vector<int64_t> canonical, Transform transform) {
  switch (transform) {
    case Transform::copy:
      return canonical;
    case Transform::transpose:
      return {canonical[1], canonical[0]};
    default:
      canonical[0] *= 3;
      return canonical;
  }
}

UninitializedVector<float> apply_transform(const UninitializedVector<float>& data,
                                           const std::vector<int64_t>& canonical,
                                           Transform transform) {
  if (transform == Transform::copy) return data;
  if (transform == Transform::transpose) {
    const int64_t rows = canonical[0],
                  cols = canonical[1];  // output [rows, cols], input [cols, rows]
    UninitializedVector<float> out(data.size());
    for (int64_t c = 0; c < cols; ++c) {
      for (int64_t r = 0; r < rows; ++r) out[r * cols + c] = data[c * rows + r];
    }
    return out;
  }
  const size_t piece = data.size() / 3;
  const size_t index = transform == Transform::split_q   ? 0
                       : transform == Transform::split_k ? 1
                                                         : 2;
  return UninitializedVector<float>(data.begin() + index * piece,
                                    data.begin() + (index + 1) * piece);
}

// The text of an optional file: empty when there is none. One that is there but cannot be read
// is an error: falling back to defaults would give other embeddings without a word.
std::string read_optional_text_file(const std::string& path) {
  std::error_code error;
  const auto status = std::filesystem::status(path, error);
  if (status.type() == std::filesystem::file_type::not_found) return {};
  if (std::filesystem::is_directory(status)) fail("'", path, "' is a folder, not a file");
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  if (in) out << in.rdbuf();
  if (!in || in.bad()) fail("'", path, "' cannot be read");
  return out.str();
}

bool file_exists(const std::string& path) {
  return std::ifstream(path).good();
}

// Checks `info` against the shape the model expects of its first target (`canonical`) and its
// dtype, and records its targets as received. Returns its shape, logit_scale's [1] read as [].
[[gnu::noinline]] std::vector<int64_t> check_weights(const TensorInfo& info,
                                                     const std::vector<MappedTensor>& targets,
                                                     const std::vector<int64_t>& canonical,
                                                     const std::vector<float>* row_scales,
                                                     std::set<std::string>& received) {
  std::vector<int64_t> shape = info.shape;
  if (targets[0].name == "logit_scale" && shape == std::vector<int64_t>{1}) shape.clear();
  const std::vector<int64_t> want = stored_shape(canonical, targets[0].transform);
  if (shape != want) {
    fail("weights: tensor ", info.name, " has shape ", shape_string(info.shape), ", expected ",
         shape_string(want));
  }
  if (row_scales) {
    if (shape.size() != 2 || static_cast<int64_t>(row_scales->size()) != shape[0]) {
      fail("weights: ", info.name, ".scales has ", row_scales->size(), " scales for ",
           shape.empty() ? 0 : shape[0], " rows");
    }
  } else if (info.dtype != DType::F32 && info.dtype != DType::F16 && info.dtype != DType::BF16) {
    fail("weights: tensor ", info.name, " has dtype ", dtype_name(info.dtype),
         "; CLIP weights must be F32, F16 or BF16 (or I8 with row scales)");
  }
  for (const MappedTensor& target : targets) {
    if (!received.insert(target.name).second) {
      fail("weights: tensor ", target.name, " appears twice");
    }
  }
  return shape;
}

}  // namespace

ModelLoader::ModelLoader(ModelOptions options, std::string config_json,
                         std::string preprocessor_json, uint64_t file_size)
    : options_(options),
      config_json_(std::move(config_json)),
      preprocessor_json_(std::move(preprocessor_json)),
      file_size_(file_size),
      stream_([this](const SafetensorsHeader& h) { on_header(h); },
              [this](const TensorInfo& info, const uint8_t* data) { on_tensor(info, data); },
              file_size) {
  stream_.set_placement([this](const TensorInfo& info) { return place_tensor(info); });
}

ModelLoader::~ModelLoader() = default;

void ModelLoader::start_threads() {
  options_.start_threads = true;
  if (model_) model_->start_threads();
}

// Large F32 tensors are read straight into their final memory where that memory holds them as
// the file does: the token embedding into its table when the table keeps f32 values, and the
// weight of an f32 linear layer into the buffer it is then packed in. No second buffer of their
// size, and the first touch of that memory happens in the read.
uint8_t* ModelLoader::place_tensor(const TensorInfo& info) {
  const auto already = placed_at_.find(info.name);  // by place_all()
  if (already != placed_at_.end()) return already->second;
  if (!model_ || info.dtype != DType::F32) return nullptr;
  const std::vector<MappedTensor> targets = targets_of(scheme_, shapes_, info.name);
  if (targets.size() != 1 || targets[0].transform != Transform::copy) return nullptr;
  const std::string& name = targets[0].name;
  const auto expected = shapes_.find(name);
  if (expected == shapes_.end() || info.shape != expected->second || received_.count(name)) {
    return nullptr;  // anything unusual takes the checked path in on_weights
  }
  if (name == kTokenEmbedding) {
    if (options_.format != WeightFormat::f32) return nullptr;
    EmbeddingTable& table = model_->text_.token_embedding;
    table = EmbeddingTable::uninitialized_f32(static_cast<int>(info.shape[0]),
                                              static_cast<int>(info.shape[1]));
    return placed_at_[info.name] = reinterpret_cast<uint8_t*>(table.f32_data());
  }
  const Component& component = components_[component_of_.at(name)];
  if (component.in_place_floats == 0 || component.parts[0] != name || placed_.count(name)) {
    return nullptr;
  }
  UninitializedVector<float>& buffer = placed_[name];
  buffer.resize(component.in_place_floats);
  return placed_at_[info.name] = reinterpret_cast<uint8_t*>(buffer.data());
}

std::vector<ModelLoader::Placement> ModelLoader::place_all() {
  std::vector<Placement> placements;
  if (!model_ || file_size_ == 0) return placements;  // window() places only with a known size
  for (const TensorInfo& tensor : header_.tensors) {
    if (tensor.byte_size() < SafetensorsStream::kDirectBytes || placed_at_.count(tensor.name)) {
      continue;
    }
    if (uint8_t* data = place_tensor(tensor)) {
      placements.push_back({header_.header_size + tensor.begin, tensor.byte_size(), data});
    }
  }
  return placements;
}

void ModelLoader::feed(const uint8_t* bytes, size_t size) {
  stream_.feed(bytes, size);
}

void ModelLoader::on_header(const SafetensorsHeader& header) {
  scheme_ = detect_naming_scheme(header);
  ModelConfig config = infer_config(header);
  try {
    if (!config_json_.empty()) {
      const bool open_clip = config_json_.find("\"model_cfg\"") != std::string::npos;
      config = open_clip ? config_from_open_clip_json(config_json_, config)
                         : config_from_hf_json(config_json_, config);
    }
    if (!preprocessor_json_.empty()) apply_hf_preprocessor_json(preprocessor_json_, config);
  } catch (const nlohmann::json::exception& e) {
    fail("config: ", e.what());
  }
  model_ = std::make_shared<Model>(std::move(config), options_);
  header_ = header;
  plan_components();
  if (options_.memory_limit) check_memory_limit();
}

uint64_t ModelLoader::weight_bytes() const {
  // q8 keeps matrices at one byte per weight, everything else takes four.
  const bool q8 = options_.format == WeightFormat::q8;
  uint64_t needed = 0;
  for (const auto& [name, shape] : shapes_) {
    needed += uint64_t{element_count(shape)} * (q8 && shape.size() == 2 ? 1 : 4);
  }
  return needed;
}

void ModelLoader::check_memory_limit() {
  const bool q8 = options_.format == WeightFormat::q8;
  const uint64_t needed = weight_bytes();
  if (needed > options_.memory_limit) {
    model_.reset();
    fail("weights: the model needs at least ", needed >> 20, " MB as ", q8 ? "q8" : "f32",
         " weights, more than the ", options_.memory_limit >> 20, " MB this runtime can hold");
  }
}

void ModelLoader::plan_components() {
  const ModelConfig& config = model_->config_;
  auto add = [&](Tower tower, std::vector<std::pair<std::string, std::vector<int64_t>>> parts,
                 std::function<void(const std::vector<FloatSpan>&)> install) {
    Component component{{}, tower, std::move(install), 0, {}};
    for (auto& [name, shape] : parts) {
      component_of_[name] = components_.size();
      shapes_[name] = shape;
      component.parts.push_back(name);
    }
    components_.push_back(std::move(component));
    if (tower == Tower::vision) ++vision_left_;
    if (tower == Tower::text) ++text_left_;
  };
  const WeightFormat format = options_.format;
  auto add_vector = [&](Tower tower, const std::string& name, std::vector<int64_t> shape,
                        std::vector<float>* target) {
    add(tower, {{name, shape}},
        [target](auto& data) { target->assign(data[0].begin(), data[0].end()); });
  };
  auto add_norm = [&](Tower tower, const std::string& prefix, int dim, float eps,
                      LayerNorm* target) {
    add(tower, {{prefix + "weight", {dim}}, {prefix + "bias", {dim}}}, [target, eps](auto& data) {
      target->gamma.assign(data[0].begin(), data[0].end());
      target->beta.assign(data[1].begin(), data[1].end());
      target->eps = eps;
    });
  };
  // A linear layer from `weight_name` ([out, in], or a shape that flattens to it) and an optional
  // bias; in f32, the weight may be read into the memory it is packed in.
  auto add_linear_parts = [&](Tower tower,
                              std::vector<std::pair<std::string, std::vector<int64_t>>> parts,
                              int out, int in, WeightFormat fmt, ThreadPool* pool, Linear* target) {
    add(tower, std::move(parts), [target, out, in, fmt, pool](auto& data) {
      *target =
          Linear(data[0].data(), data.size() > 1 ? data[1].data() : nullptr, out, in, fmt, pool);
    });
    if (fmt != WeightFormat::f32) return;
    Component& component = components_.back();
    component.in_place_floats = Linear::in_place_floats(out, in);
    component.install_in_place = [target, out, in, pool](UninitializedVector<float> buffer,
                                                         const std::vector<FloatSpan>& data) {
      *target = Linear::pack_rows_in_place(
          std::move(buffer), data.size() > 1 ? data[1].data() : nullptr, out, in, pool);
    };
  };
  auto add_linear = [&](Tower tower, const std::string& prefix, int out, int in, bool bias,
                        WeightFormat fmt, Linear* target) {
    std::vector<std::pair<std::string, std::vector<int64_t>>> parts = {
        {prefix + "weight", {out, in}}};
    if (bias) parts.push_back({prefix + "bias", {out}});
    add_linear_parts(tower, std::move(parts), out, in, fmt, model_->pool_.get(), target);
  };
  auto add_blocks = [&](Tower tower, const std::string& prefix, const TransformerConfig& t,
                        std::vector<TransformerBlock>& blocks) {
    blocks.resize(t.layers);
    for (int i = 0; i < t.layers; ++i) {
      const std::string p = prefix + std::to_string(i) + ".";
      TransformerBlock& b = blocks[i];
      add_norm(tower, p + "layer_norm1.", t.width, t.ln_eps, &b.ln1);
      add_linear(tower, p + "self_attn.q_proj.", t.width, t.width, true, format, &b.q);
      add_linear(tower, p + "self_attn.k_proj.", t.width, t.width, true, format, &b.k);
      add_linear(tower, p + "self_attn.v_proj.", t.width, t.width, true, format, &b.v);
      add_linear(tower, p + "self_attn.out_proj.", t.width, t.width, true, format, &b.out);
      add_norm(tower, p + "layer_norm2.", t.width, t.ln_eps, &b.ln2);
      add_linear(tower, p + "mlp.fc1.", t.mlp_dim, t.width, true, format, &b.fc1);
      add_linear(tower, p + "mlp.fc2.", t.width, t.mlp_dim, true, format, &b.fc2);
    }
  };

  // The patch embedding and the projections stay f32 in every format: they are small, and the
  // projections set the embedding directly.
  if (config.vision) {
    const VisionConfig& v = *config.vision;
    const int w = v.transformer.width, p = v.patch_size;
    VisionWeights& vw = model_->vision_;
    const std::string e = "vision_model.embeddings.";
    add_linear_parts(Tower::vision, {{e + "patch_embedding.weight", {w, 3, p, p}}}, w, 3 * p * p,
                     WeightFormat::f32, nullptr, &vw.patch_embedding);
    add_vector(Tower::vision, e + "class_embedding", {w}, &vw.class_embedding);
    add_vector(Tower::vision, e + "position_embedding.weight", {v.tokens(), w}, &vw.positions);
    add_norm(Tower::vision, "vision_model.pre_layrnorm.", w, v.transformer.ln_eps, &vw.ln_pre);
    add_blocks(Tower::vision, "vision_model.encoder.layers.", v.transformer, vw.blocks);
    add_norm(Tower::vision, "vision_model.post_layernorm.", w, v.transformer.ln_eps, &vw.ln_post);
    add_linear(Tower::vision, "visual_projection.", config.embed_dim, w, false, WeightFormat::f32,
               &vw.projection);
  }
  if (config.text) {
    const TextConfig& t = *config.text;
    const int w = t.transformer.width;
    TextWeights& tw = model_->text_;
    const std::string e = "text_model.embeddings.";
    // Installed by on_weights directly, in f32 or q8 form.
    add(Tower::text, {{kTokenEmbedding, {t.vocab_size, w}}}, [](auto&) {});
    add_vector(Tower::text, e + "position_embedding.weight", {t.context_length, w}, &tw.positions);
    add_blocks(Tower::text, "text_model.encoder.layers.", t.transformer, tw.blocks);
    add_norm(Tower::text, "text_model.final_layer_norm.", w, t.transformer.ln_eps, &tw.ln_final);
    add_linear(Tower::text, "text_projection.", config.embed_dim, w, false, WeightFormat::f32,
               &tw.projection);
  }
  // CLIP's learned temperature, stored as its log. Needed to turn cosines into probabilities,
  // so required when the checkpoint has both towers.
  need_logit_scale_ = config.vision && config.text;
  Model* model = model_.get();
  add(Tower::none, {{"logit_scale", {}}},
      [model](auto& data) { model->logit_scale_ = std::exp(data[0][0]); });
}

// Pre-quantized checkpoints (tools/convert_weights.py) store a matrix as I8 values plus
// "<name>.scales" (F32, one scale per row). Whichever of the two arrives second completes the pair.
void ModelLoader::on_tensor(const TensorInfo& info, const uint8_t* data) {
  static const std::string kScaleSuffix = ".scales";
  if (info.name.size() > kScaleSuffix.size() &&
      info.name.compare(info.name.size() - kScaleSuffix.size(), kScaleSuffix.size(),
                        kScaleSuffix) == 0) {
    const std::string base = info.name.substr(0, info.name.size() - kScaleSuffix.size());
    if (info.dtype != DType::F32 || info.shape.size() != 1) {
      fail("weights: ", info.name, " must be a 1-D F32 tensor of row scales");
    }
    std::vector<float> scales(static_cast<size_t>(info.shape[0]));
    convert_to_f32(DType::F32, data, scales.size(), scales.data());
    auto pending = pending_q8_.find(base);
    if (pending == pending_q8_.end()) {
      row_scales_[base] = std::move(scales);
      return;
    }
    const PendingQ8 values = std::move(pending->second);
    pending_q8_.erase(pending);
    on_weights(values.info, values.bytes.data(), &scales);
    return;
  }
  if (info.dtype == DType::I8) {
    auto scales = row_scales_.find(info.name);
    if (scales == row_scales_.end()) {
      pending_q8_[info.name] = {info, std::vector<uint8_t>(data, data + info.byte_size())};
      return;
    }
    const std::vector<float> row_scales = std::move(scales->second);
    row_scales_.erase(scales);
    on_weights(info, data, &row_scales);
    return;
  }
  on_weights(info, data, nullptr);
}

// Called once per tensor, so it is kept short: V8 compiles a wasm function again, optimized, once
// its calls have added up to enough of its size (json-reader.h), and compiling a long function
// cost more than the optimized code saved. The rarer paths are functions of their own.
void ModelLoader::on_weights(const TensorInfo& info, const uint8_t* data,
                             const std::vector<float>* row_scales) {
  const std::vector<MappedTensor> targets = targets_of(scheme_, shapes_, info.name);
  if (targets.empty()) {
    return;  // tensors CLIP's forward pass does not use (position_ids, attn_mask, ...)
  }
  const auto expected = shapes_.find(targets[0].name);
  if (expected == shapes_.end()) return;  // a tower this config does not describe
  const std::vector<int64_t> shape =
      check_weights(info, targets, expected->second, row_scales, received_);
  if (targets[0].name == kTokenEmbedding) {
    install_token_embedding(info, data, shape, row_scales);
    return;
  }
  const size_t count = static_cast<size_t>(info.element_count());
  const auto placed = placed_.find(targets[0].name);
  if (placed != placed_.end()) {
    if (data == reinterpret_cast<const uint8_t*>(placed->second.data())) {  // read in place
      ++read_in_place_;
      stage(targets[0].name, {}, FloatSpan{placed->second.data(), count});
      return;
    }
    placed_.erase(placed);  // fed elsewhere: the checked path below
  }
  // An F32 tensor that needs no rearranging is installed (packed) straight from the bytes the
  // stream read it into, when it is the last part of its component: no converted copy.
  if (!row_scales && info.dtype == DType::F32 && targets.size() == 1 &&
      targets[0].transform == Transform::copy &&
      reinterpret_cast<uintptr_t>(data) % alignof(float) == 0) {
    stage(targets[0].name, {}, FloatSpan{reinterpret_cast<const float*>(data), count});
    return;
  }
  convert_and_stage(info, data, shape, row_scales, targets);
}

// The token embedding, the largest tensor, goes straight into its final form.
[[gnu::noinline]] void ModelLoader::install_token_embedding(const TensorInfo& info,
                                                            const uint8_t* data,
                                                            const std::vector<int64_t>& shape,
                                                            const std::vector<float>* row_scales) {
  const int rows = static_cast<int>(shape[0]), dim = static_cast<int>(shape[1]);
  EmbeddingTable& table = model_->text_.token_embedding;
  if (data == reinterpret_cast<const uint8_t*>(table.f32_data())) {  // read in place
    ++read_in_place_;
  } else {
    table = row_scales ? EmbeddingTable::from_q8(reinterpret_cast<const int8_t*>(data),
                                                 row_scales->data(), rows, dim, options_.format)
                       : EmbeddingTable::from_data(info.dtype, data, rows, dim, options_.format);
  }
  stage(kTokenEmbedding, {}, {});
}

// A tensor that must be converted (F16, BF16, I8 with scales) or rearranged first.
[[gnu::noinline]] void ModelLoader::convert_and_stage(const TensorInfo& info, const uint8_t* data,
                                                      const std::vector<int64_t>& shape,
                                                      const std::vector<float>* row_scales,
                                                      const std::vector<MappedTensor>& targets) {
  UninitializedVector<float> values(static_cast<size_t>(info.element_count()));
  if (row_scales) {
    const size_t columns = static_cast<size_t>(shape[1]);
    const int8_t* q = reinterpret_cast<const int8_t*>(data);
    for (size_t i = 0; i < values.size(); ++i) values[i] = q[i] * (*row_scales)[i / columns];
  } else {
    convert_to_f32(info.dtype, data, values.size(), values.data());
  }
  for (const MappedTensor& target : targets) {
    // A plain copy hands over the converted buffer itself: a large tensor must not exist twice
    // while loading.
    stage(target.name,
          target.transform == Transform::copy
              ? std::move(values)
              : apply_transform(values, shapes_[target.name], target.transform),
          {});
  }
}

void ModelLoader::stage(const std::string& name, UninitializedVector<float> values,
                        FloatSpan view) {
  Component& component = components_[component_of_.at(name)];
  bool complete = true;
  for (const std::string& part : component.parts) {
    if (part != name && !staged_.count(part)) complete = false;
  }
  if (!view.ptr) view = {values.data(), values.size()};
  if (!complete) {
    // `view` may point into the stream's buffer, valid during this call only: keep a copy
    // (unless it is a placed buffer, which stays).
    if (values.empty() && view.count != 0 && !placed_.count(name)) {
      values.assign(view.begin(), view.end());
    }
    staged_[name] = std::move(values);
    return;
  }
  std::vector<FloatSpan> parts;
  for (const std::string& part : component.parts) {
    const auto placed = placed_.find(part);
    if (part == name) {
      parts.push_back(view);
    } else if (placed != placed_.end()) {
      parts.push_back({placed->second.data(), element_count(shapes_.at(part))});
    } else {
      parts.push_back({staged_[part].data(), staged_[part].size()});
    }
  }
  const auto placed = placed_.find(component.parts[0]);
  if (placed != placed_.end()) {
    component.install_in_place(std::move(placed->second), parts);
    placed_.erase(placed);
  } else {
    component.install(parts);
  }
  for (const std::string& part : component.parts) staged_.erase(part);
  if (component.tower == Tower::vision && --vision_left_ == 0) model_->vision_ready_ = true;
  if (component.tower == Tower::text && --text_left_ == 0) model_->text_ready_ = true;
}

void ModelLoader::finish() {
  stream_.finish();
  if (!model_) fail("weights: the stream ended before the safetensors header");
  for (const auto& [name, pending] : pending_q8_)
    fail("weights: ", name, " is I8 but ", name, ".scales is missing");
  for (const auto& [name, scales] : row_scales_)
    fail("weights: ", name, ".scales has no I8 tensor ", name);
  std::vector<std::string> missing;
  for (const auto& [name, shape] : shapes_) {
    if (received_.count(name)) continue;
    if (name == "logit_scale" && !need_logit_scale_) continue;
    missing.push_back(name);
  }
  if (!missing.empty()) {
    std::ostringstream list;
    for (size_t i = 0; i < missing.size() && i < 12; ++i) list << (i ? ", " : "") << missing[i];
    if (missing.size() > 12) list << ", ... (" << missing.size() - 12 << " more)";
    fail("weights: ", missing.size(), " tensors missing: ", list.str());
  }
}

std::shared_ptr<Model> load_model_dir(const std::string& dir, ModelOptions options,
                                      const std::string& weights_file) {
  std::string weights = dir + "/" + (weights_file.empty() ? "model.safetensors" : weights_file);
  if (weights_file.empty() && !file_exists(weights)) weights = dir + "/open_clip_model.safetensors";
  if (!file_exists(weights)) {
    fail("no ",
         weights_file.empty() ? "model.safetensors or open_clip_model.safetensors" : weights_file,
         " in ", dir);
  }
  std::string config = read_optional_text_file(dir + "/config.json");
  if (config.empty()) config = read_optional_text_file(dir + "/open_clip_config.json");
  const std::string preprocessor = read_optional_text_file(dir + "/preprocessor_config.json");
  std::ifstream in(weights, std::ios::binary | std::ios::ate);
  if (!in) fail("cannot open ", weights);
  const std::streamoff size = in.tellg();
  in.seekg(0);
  if (size < 0 || !in) fail("'", weights, "': cannot determine its size");
  try {
    ModelLoader loader(options, config, preprocessor, static_cast<uint64_t>(size));
    std::vector<uint8_t> chunk(1 << 20);
    while (in) {
      in.read(reinterpret_cast<char*>(chunk.data()), static_cast<std::streamsize>(chunk.size()));
      loader.feed(chunk.data(), static_cast<size_t>(in.gcount()));
    }
    // (A folder named model.safetensors opens, then fails its first read.)
    if (in.bad()) fail("read error (not a regular file?)");
    loader.finish();
    return loader.model();
  } catch (const Error& e) {
    fail("'", weights, "': ", e.what());
  }
}

}  // namespace clip
