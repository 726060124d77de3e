#include "model-config.h"

#include <algorithm>
#include <climits>
#include <clocale>
#include <cmath>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common.h"
#include "json-reader.h"

namespace clip {
namespace {

using Json = nlohmann::json;

// Width per attention head in every released CLIP ViT; used when no config file says otherwise.
constexpr int kDefaultHeadDim = 64;

const TensorInfo* find_any(const SafetensorsHeader& header,
                           std::initializer_list<const char*> names) {
  for (const char* name : names) {
    if (const TensorInfo* info = header.find(name)) return info;
  }
  return nullptr;
}

const TensorInfo& require(const SafetensorsHeader& header, const std::string& name, size_t rank) {
  const TensorInfo* info = header.find(name);
  if (!info) fail("weights: missing tensor ", name);
  if (info->shape.size() != rank) {
    fail("weights: tensor ", name, " has rank ", info->shape.size(), ", expected ", rank);
  }
  return *info;
}

// A size read from a tensor shape. A hostile header can declare 0 (zero-width layers normalize by
// zero, an empty projection gives empty embeddings) or more than an int holds; the upper bound,
// far above any CLIP, keeps the size arithmetic of the encoders inside int.
int size_from(const TensorInfo& info, size_t dim, const char* what) {
  constexpr int64_t kMaxSize = int64_t{1} << 24;
  const int64_t value = info.shape[dim];
  if (value < 1 || value > kMaxSize) {
    fail("weights: ", info.name, " gives the ", what, " ", value, ", expected 1 to ", kMaxSize);
  }
  return static_cast<int>(value);
}

// Number of blocks: 1 + the largest N in names "<prefix>N.".
int count_layers(const SafetensorsHeader& header, const std::string& prefix) {
  int layers = 0;
  for (const TensorInfo& info : header.tensors) {
    if (info.name.compare(0, prefix.size(), prefix) != 0) continue;
    size_t end = info.name.find('.', prefix.size());
    if (end == std::string::npos) continue;
    const std::string index = info.name.substr(prefix.size(), end - prefix.size());
    if (index.empty() || index.size() > 4 ||
        index.find_first_not_of("0123456789") != std::string::npos) {
      continue;
    }
    layers = std::max(layers, std::stoi(index) + 1);
  }
  return layers;
}

TransformerConfig infer_transformer(const SafetensorsHeader& header,
                                    const std::string& layer_prefix, const std::string& fc1_suffix,
                                    int width) {
  TransformerConfig t;
  t.width = width;
  t.layers = count_layers(header, layer_prefix);
  if (t.layers == 0) fail("weights: no transformer blocks named ", layer_prefix, "N.*");
  const TensorInfo& fc1 = require(header, layer_prefix + "0." + fc1_suffix, 2);
  t.mlp_dim = size_from(fc1, 0, "MLP size");
  t.heads = std::max(1, width / kDefaultHeadDim);
  return t;
}

struct SchemeNames {
  const char* patch;
  const char* vision_positions;
  const char* vision_layers;
  const char* vision_fc1;
  const char* vision_projection;
  const char* token_embedding;
  const char* text_positions;
  const char* text_layers;
  const char* text_fc1;
  const char* text_projection;
  bool projections_transposed;  // OpenAI stores [width, embed], HF [embed, width]
};

constexpr SchemeNames kHfNames = {"vision_model.embeddings.patch_embedding.weight",
                                  "vision_model.embeddings.position_embedding.weight",
                                  "vision_model.encoder.layers.",
                                  "mlp.fc1.weight",
                                  "visual_projection.weight",
                                  "text_model.embeddings.token_embedding.weight",
                                  "text_model.embeddings.position_embedding.weight",
                                  "text_model.encoder.layers.",
                                  "mlp.fc1.weight",
                                  "text_projection.weight",
                                  false};

constexpr SchemeNames kOpenAiNames = {"visual.conv1.weight",
                                      "visual.positional_embedding",
                                      "visual.transformer.resblocks.",
                                      "mlp.c_fc.weight",
                                      "visual.proj",
                                      "token_embedding.weight",
                                      "positional_embedding",
                                      "transformer.resblocks.",
                                      "mlp.c_fc.weight",
                                      "text_projection",
                                      true};

int projection_dim(const TensorInfo& projection, bool transposed) {
  return size_from(projection, transposed ? 1 : 0, "embedding size");
}

void check_field(const char* field, int from_file, int from_tensors) {
  if (from_file != from_tensors) {
    fail("config: ", field, " is ", from_file, " but the weights say ", from_tensors);
  }
}

int get_int(const Json& object, const char* key, int fallback) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return fallback;
  if (!it->is_number_integer()) fail("config: ", key, " must be an integer");
  const bool fits = it->is_number_unsigned()
                        ? it->get<uint64_t>() <= uint64_t{INT_MAX}
                        : it->get<int64_t>() >= INT_MIN && it->get<int64_t>() <= INT_MAX;
  if (!fits) fail("config: ", key, " is ", it->dump(), ", out of range");
  return static_cast<int>(it->get<int64_t>());
}

Activation parse_activation(const std::string& name) {
  if (name == "quick_gelu") return Activation::quick_gelu;
  if (name == "gelu" || name == "gelu_python") return Activation::gelu;
  fail("config: hidden_act '", name, "' is not supported (quick_gelu, gelu)");
}

// nlohmann's document, built from read_json's events: nlohmann's own parser is not used (see
// json-reader.h for why).
class JsonBuilder : public JsonHandler {
 public:
  Json take() { return std::move(root_); }

  void null() override { put(nullptr); }
  void boolean(bool value) override { put(value); }
  void number_unsigned(uint64_t value) override { put(value); }
  void number_integer(int64_t value) override { put(value); }
  void number_float(std::string_view text) override {
    // strtod reads the C locale's decimal point, which the host program may have changed.
    std::string digits(text);
    std::replace(digits.begin(), digits.end(), '.', *std::localeconv()->decimal_point);
    const double value = std::strtod(digits.c_str(), nullptr);
    if (!std::isfinite(value)) {
      throw JsonSyntaxError("number " + std::string(text) + " is too large");
    }
    put(value);
  }
  void string(std::string& value) override { put(std::move(value)); }
  void start_object() override { open_.push_back(put(Json::object())); }
  void key(std::string& key) override { key_ = std::move(key); }
  void end_object() override { open_.pop_back(); }
  void start_array() override { open_.push_back(put(Json::array())); }
  void end_array() override { open_.pop_back(); }

 private:
  // Where the value goes: the root, the end of the open array, or the open object's last key (a
  // repeated key keeps its last value, as nlohmann's parser does).
  Json* put(Json value) {
    if (open_.empty()) return &(root_ = std::move(value));
    Json& parent = *open_.back();
    if (parent.is_array()) {
      parent.push_back(std::move(value));
      return &parent.back();
    }
    return &(parent[key_] = std::move(value));
  }

  Json root_;
  std::vector<Json*> open_;  // the containers being filled; elements of an open one do not move
  std::string key_;
};

Json parse_json(std::string_view text, const char* what) {
  JsonBuilder builder;
  try {
    read_json(text, builder);
  } catch (const JsonSyntaxError&) {
    fail(what, ": not a JSON object");
  }
  Json json = builder.take();
  if (!json.is_object()) fail(what, ": not a JSON object");
  return json;
}

// Fills a transformer from HF-style keys, checking them against the tensors.
void apply_hf_transformer(const Json& section, TransformerConfig& t) {
  check_field("hidden_size", get_int(section, "hidden_size", t.width), t.width);
  check_field("intermediate_size", get_int(section, "intermediate_size", t.mlp_dim), t.mlp_dim);
  check_field("num_hidden_layers", get_int(section, "num_hidden_layers", t.layers), t.layers);
  t.heads = get_int(section, "num_attention_heads", t.heads);
  if (t.heads <= 0 || t.width % t.heads != 0) {
    fail("config: num_attention_heads ", t.heads, " does not divide hidden_size ", t.width);
  }
  if (auto act = section.find("hidden_act"); act != section.end() && act->is_string()) {
    t.act = parse_activation(act->get<std::string>());
  }
  if (auto eps = section.find("layer_norm_eps"); eps != section.end() && eps->is_number()) {
    t.ln_eps = eps->get<float>();
  }
}

// Per-channel normalization values, when the key is there: a mean must be finite, a std also
// above 0 (JSON's 1e999 reads as infinity; a zero std would fail every image, a negative one
// invert it).
enum class Rgb { mean, std };
void read_rgb(const Json& object, const char* key, const char* where, Rgb kind,
              std::array<float, 3>& target) {
  auto it = object.find(key);
  if (it == object.end()) return;
  if (!it->is_array() || it->size() != 3 ||
      !std::all_of(it->begin(), it->end(), [](const Json& v) { return v.is_number(); })) {
    fail(where, ".", key, " must be 3 numbers");
  }
  std::array<float, 3> values;
  for (int c = 0; c < 3; ++c) values[c] = (*it)[c].get<float>();
  const bool usable = std::all_of(values.begin(), values.end(), [kind](float v) {
    return std::isfinite(v) && (kind == Rgb::mean || v > 0);
  });
  if (!usable) {
    fail(where, ".", key, " must be 3 ", kind == Rgb::std ? "positive " : "",
         "finite numbers, got [", values[0], ", ", values[1], ", ", values[2], "]");
  }
  target = values;
}

const Json* find_section(const Json& root, const char* key, const char* legacy_key) {
  for (const char* k : {key, legacy_key}) {
    auto it = root.find(k);
    if (it != root.end() && it->is_object()) return &*it;
  }
  return nullptr;
}

}  // namespace

NamingScheme detect_naming_scheme(const SafetensorsHeader& header) {
  if (find_any(header, {kHfNames.patch, kHfNames.token_embedding}))
    return NamingScheme::hugging_face;
  if (find_any(header, {kOpenAiNames.patch, kOpenAiNames.token_embedding}))
    return NamingScheme::openai;
  fail("weights: not a CLIP checkpoint: found neither ", kHfNames.patch, " / ",
       kHfNames.token_embedding, " (Hugging Face names) nor ", kOpenAiNames.patch, " / ",
       kOpenAiNames.token_embedding, " (OpenAI / open_clip names)");
}

ModelConfig infer_config(const SafetensorsHeader& header) {
  const NamingScheme scheme = detect_naming_scheme(header);
  const SchemeNames& n = scheme == NamingScheme::hugging_face ? kHfNames : kOpenAiNames;
  ModelConfig config;

  if (header.find(n.patch)) {
    const TensorInfo& patch = require(header, n.patch, 4);                 // [width, 3, p, p]
    const TensorInfo& positions = require(header, n.vision_positions, 2);  // [tokens, width]
    const TensorInfo& projection = require(header, n.vision_projection, 2);
    VisionConfig v;
    const int width = size_from(patch, 0, "width");
    v.patch_size = size_from(patch, 2, "patch size");
    if (patch.shape[1] != 3 || patch.shape[3] != v.patch_size) {
      fail("weights: ", n.patch, " must be [width, 3, p, p]");
    }
    const int grid =
        positions.shape[0] < 2
            ? 0
            : static_cast<int>(std::lround(std::sqrt(static_cast<double>(positions.shape[0] - 1))));
    if (grid < 1 || int64_t{grid} * grid + 1 != positions.shape[0] || positions.shape[1] != width) {
      fail("weights: ", n.vision_positions, " must be [grid*grid + 1, ", width, "]");
    }
    if (int64_t{grid} * v.patch_size > kMaxModelImageSize) {
      fail("weights: ", n.vision_positions, " and ", n.patch, " give an input side of ",
           int64_t{grid} * v.patch_size, " pixels (", grid, " patches of ", v.patch_size,
           "), more than the ", kMaxModelImageSize, " supported");
    }
    v.image_size = grid * v.patch_size;
    v.preprocess.image_size = v.image_size;
    v.transformer = infer_transformer(header, n.vision_layers, n.vision_fc1, width);
    config.vision = v;
    config.embed_dim = projection_dim(projection, n.projections_transposed);
  }

  if (header.find(n.token_embedding)) {
    const TensorInfo& tokens = require(header, n.token_embedding, 2);    // [vocab, width]
    const TensorInfo& positions = require(header, n.text_positions, 2);  // [context, width]
    const TensorInfo& projection = require(header, n.text_projection, 2);
    TextConfig t;
    t.vocab_size = size_from(tokens, 0, "vocabulary size");
    t.context_length = size_from(positions, 0, "context length");
    // Attention holds context^2 scores per head: bounded so that they fit 32-bit sizes (wasm32).
    constexpr int kMaxContextLength = 4096;
    if (t.context_length > kMaxContextLength) {
      fail("weights: ", n.text_positions, " gives the context length ", t.context_length,
           ", more than the ", kMaxContextLength, " supported");
    }
    t.transformer =
        infer_transformer(header, n.text_layers, n.text_fc1, size_from(tokens, 1, "width"));
    const int dim = projection_dim(projection, n.projections_transposed);
    if (config.vision && dim != config.embed_dim) {
      fail("weights: image projection gives ", config.embed_dim, " dimensions but text projection ",
           dim);
    }
    config.text = t;
    config.embed_dim = dim;
  }
  return config;
}

ModelConfig config_from_hf_json(std::string_view text, const ModelConfig& inferred) {
  const Json root = parse_json(text, "config.json");
  ModelConfig config = inferred;
  const std::string model_type = root.value("model_type", std::string());
  // CLIPConfig nests both towers; CLIP{Vision,Text}Model configs hold one tower at the top level.
  const Json* vision = find_section(root, "vision_config", "vision_config_dict");
  const Json* text_section = find_section(root, "text_config", "text_config_dict");
  if (model_type == "clip_vision_model") vision = &root;
  if (model_type == "clip_text_model") text_section = &root;

  if (config.vision && vision) {
    VisionConfig& v = *config.vision;
    apply_hf_transformer(*vision, v.transformer);
    check_field("vision_config.image_size", get_int(*vision, "image_size", v.image_size),
                v.image_size);
    check_field("vision_config.patch_size", get_int(*vision, "patch_size", v.patch_size),
                v.patch_size);
  }
  if (config.text && text_section) {
    TextConfig& t = *config.text;
    apply_hf_transformer(*text_section, t.transformer);
    check_field("text_config.vocab_size", get_int(*text_section, "vocab_size", t.vocab_size),
                t.vocab_size);
    check_field("text_config.max_position_embeddings",
                get_int(*text_section, "max_position_embeddings", t.context_length),
                t.context_length);
  }
  check_field("projection_dim", get_int(root, "projection_dim", config.embed_dim),
              config.embed_dim);
  return config;
}

ModelConfig config_from_open_clip_json(std::string_view text, const ModelConfig& inferred) {
  const Json root = parse_json(text, "open_clip_config.json");
  ModelConfig config = inferred;
  const Json model = root.value("model_cfg", Json::object());
  check_field("embed_dim", get_int(model, "embed_dim", config.embed_dim), config.embed_dim);
  // open_clip uses nn.GELU unless the model was trained with OpenAI's QuickGELU.
  const Activation act =
      model.value("quick_gelu", false) ? Activation::quick_gelu : Activation::gelu;

  if (config.vision) {
    VisionConfig& v = *config.vision;
    const Json cfg = model.value("vision_cfg", Json::object());
    check_field("vision_cfg.width", get_int(cfg, "width", v.transformer.width),
                v.transformer.width);
    check_field("vision_cfg.layers", get_int(cfg, "layers", v.transformer.layers),
                v.transformer.layers);
    check_field("vision_cfg.patch_size", get_int(cfg, "patch_size", v.patch_size), v.patch_size);
    check_field("vision_cfg.image_size", get_int(cfg, "image_size", v.image_size), v.image_size);
    const int head_width = get_int(cfg, "head_width", kDefaultHeadDim);
    if (head_width <= 0 || v.transformer.width % head_width != 0) {
      fail("config: vision_cfg.head_width ", head_width, " does not divide width ",
           v.transformer.width);
    }
    v.transformer.heads = v.transformer.width / head_width;
    v.transformer.act = act;
  }
  if (config.text) {
    TextConfig& t = *config.text;
    const Json cfg = model.value("text_cfg", Json::object());
    check_field("text_cfg.width", get_int(cfg, "width", t.transformer.width), t.transformer.width);
    check_field("text_cfg.layers", get_int(cfg, "layers", t.transformer.layers),
                t.transformer.layers);
    check_field("text_cfg.vocab_size", get_int(cfg, "vocab_size", t.vocab_size), t.vocab_size);
    check_field("text_cfg.context_length", get_int(cfg, "context_length", t.context_length),
                t.context_length);
    t.transformer.heads = get_int(cfg, "heads", t.transformer.heads);
    if (t.transformer.heads <= 0 || t.transformer.width % t.transformer.heads != 0) {
      fail("config: text_cfg.heads ", t.transformer.heads, " does not divide width ",
           t.transformer.width);
    }
    t.transformer.act = act;
  }
  if (config.vision) {
    const Json preprocess = root.value("preprocess_cfg", Json::object());
    const char* where = "open_clip_config.json: preprocess_cfg";
    read_rgb(preprocess, "mean", where, Rgb::mean, config.vision->preprocess.mean);
    read_rgb(preprocess, "std", where, Rgb::std, config.vision->preprocess.std);
  }
  return config;
}

void apply_hf_preprocessor_json(std::string_view text, ModelConfig& config) {
  if (!config.vision) return;
  const Json root = parse_json(text, "preprocessor_config.json");
  const char* where = "preprocessor_config.json";
  read_rgb(root, "image_mean", where, Rgb::mean, config.vision->preprocess.mean);
  read_rgb(root, "image_std", where, Rgb::std, config.vision->preprocess.std);
}

}  // namespace clip
