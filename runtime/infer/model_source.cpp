#include "infer/model_source.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "ckpt/checkpoint_read.h"
#include "config/read_spec.h"
#include "infer/model_files.h"
#include "plugin/plugin_search.h"

namespace llmrt {
namespace {

// The config text of a model file, in a temporary file for read_spec; removed with the object.
class TemporaryConfig {
 public:
  static Result<TemporaryConfig> write(const std::string& text) {
    std::string path = (std::filesystem::temp_directory_path() / "llmrt-config-XXXXXX.toml").string();
    const int fd = mkstemps(path.data(), 5);
    if (fd < 0) return runtime_error("cannot create a temporary file for the model's config");
    close(fd);
    TemporaryConfig config(path);
    std::ofstream out(path);
    out << text;
    out.close();
    if (!out) return runtime_error("{}: cannot write the model's config", path);
    return config;
  }
  TemporaryConfig(TemporaryConfig&& other) noexcept : path_(std::move(other.path_)) { other.path_.clear(); }
  TemporaryConfig(const TemporaryConfig&) = delete;
  TemporaryConfig& operator=(const TemporaryConfig&) = delete;
  ~TemporaryConfig() {
    if (!path_.empty()) std::remove(path_.c_str());
  }
  const std::string& path() const { return path_; }

 private:
  explicit TemporaryConfig(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

Result<Spec> source_spec(const std::string& path, const std::string& config_path) {
  if (!config_path.empty()) return read_spec(config_path);
  LLMRT_ASSIGN_OR_RETURN(auto text, model_file_config(path));
  if (!text) {
    return input_error("{}: the file carries no config (__metadata__ \"config\"): pass --config FILE, the config "
                       "the model was trained with", path);
  }
  LLMRT_ASSIGN_OR_RETURN(TemporaryConfig config, TemporaryConfig::write(*text));
  LLMRT_ASSIGN_OR_RETURN_CTX(Spec spec, read_spec(config.path()), "{}: the config in the file", path);
  return spec;
}

}  // namespace

Result<ModelSource> open_model_source(const std::string& path, const std::string& config_path,
                                      bool allow_insecure_plugins) {
  namespace fs = std::filesystem;
  std::error_code error;
  if (!fs::exists(path, error)) return input_error("{}: no such model file or checkpoint directory", path);
  const bool checkpoint = fs::is_directory(path, error);
  std::string step_dir;
  if (checkpoint) {
    LLMRT_ASSIGN_OR_RETURN(step_dir, resolve_step_dir(path));
  }
  // A checkpoint carries the run's config beside its manifest.
  LLMRT_ASSIGN_OR_RETURN(Spec spec, checkpoint ? read_spec(config_path.empty() ? step_dir + "/config.toml" : config_path)
                                               : source_spec(path, config_path));
  PluginSearchOptions search;
  search.config_paths = spec.model.plugin_paths;
  search.allow_insecure = allow_insecure_plugins;
  LLMRT_ASSIGN_OR_RETURN(Registry registry, load_plugins(search));
  ModelTensors tensors;
  if (checkpoint) {
    LLMRT_ASSIGN_OR_RETURN(tensors, read_checkpoint_model(step_dir));
  } else {
    LLMRT_ASSIGN_OR_RETURN(tensors, read_model_file(path, spec.model, registry));
  }
  return ModelSource{path, std::move(spec), std::move(registry), std::move(tensors)};
}

}  // namespace llmrt
