#include "exec/param_dump.h"

#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace llmrt {

Status dump_parameters(const ParamStore& params, ZeroShards* zero, const std::string& directory, int world_rank,
                       const RankCoords& coords, const Layout& layout) {
  std::vector<float> weights;  // (parameter_count) fp32: the master weights, whole
  if (zero != nullptr) {
    LLMRT_RETURN_IF_ERROR_CTX(zero->gather_master(&weights), "--dump-params");
  } else {
    LLMRT_ASSIGN_OR_RETURN(weights, params.host_weights());
  }
  std::error_code error;
  std::filesystem::create_directories(directory, error);
  if (error) return runtime_error("{}: cannot create the folder: {}", directory, error.message());
  nlohmann::json index = {{"rank", world_rank}, {"pp", coords.pp}, {"tp", coords.tp}, {"dp", coords.dp},
                          {"tp_size", layout.tp}, {"params", nlohmann::json::array()}};
  for (const ParamEntry& entry : params.entries()) {
    index["params"].push_back({{"name", entry.name}, {"global_shape", entry.global_shape},
                               {"local_shape", entry.local_shape}, {"shard_dim", entry.shard_dim},
                               {"offset", entry.offset}, {"count", entry.count}});
  }
  const std::string base = fmt::format("{}/rank_{}", directory, world_rank);
  std::ofstream(base + ".bin", std::ios::binary)
      .write(reinterpret_cast<const char*>(weights.data()), static_cast<std::streamsize>(weights.size() * sizeof(float)));
  std::ofstream json(base + ".json");
  json << index.dump(1);
  if (!json) return runtime_error("{}.json: cannot write", base);
  return Status::success();
}

}  // namespace llmrt
