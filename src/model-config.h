// Model configuration: sizes of the two towers, read from a Hugging Face config.json, an
// open_clip_config.json, or inferred from the tensor shapes in the weights file.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

#include "image.h"
#include "ops.h"
#include "safetensors.h"

namespace clip {

struct TransformerConfig {
  int width = 0;
  int layers = 0;
  int heads = 0;
  int mlp_dim = 0;
  Activation act = Activation::quick_gelu;
  float ln_eps = 1e-5f;
  int head_dim() const { return heads ? width / heads : 0; }
};

struct VisionConfig {
  TransformerConfig transformer;
  int image_size = 224;
  int patch_size = 32;
  PreprocessConfig preprocess;  // mean/std and image_size
  int grid() const { return image_size / patch_size; }
  int tokens() const { return grid() * grid() + 1; }  // patches + class token
};

struct TextConfig {
  TransformerConfig transformer;
  int vocab_size = 49408;
  int context_length = 77;
};

struct ModelConfig {
  std::optional<VisionConfig> vision;
  std::optional<TextConfig> text;
  int embed_dim = 0;  // shared embedding size after projection
};

enum class NamingScheme { hugging_face, openai };

// What the weights file says about itself: naming scheme, towers present, inferred sizes.
// Throws clip::Error when the tensors fit neither scheme.
NamingScheme detect_naming_scheme(const SafetensorsHeader& header);
ModelConfig infer_config(const SafetensorsHeader& header);

// Config files. Missing fields fall back to what the tensors say (`inferred`); present fields must
// agree with the tensors, or the load fails naming the field.
ModelConfig config_from_hf_json(std::string_view json, const ModelConfig& inferred);
ModelConfig config_from_open_clip_json(std::string_view json, const ModelConfig& inferred);

// Optional preprocessor_config.json (HF): mean, std.
void apply_hf_preprocessor_json(std::string_view json, ModelConfig& config);

}  // namespace clip
