// The run-time loader of cublaslt_library.h.
#include "cuda/cublaslt_library.h"

#include <dlfcn.h>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <vector>

#include "cuda/cuda_common.h"

namespace llmrt::kernels::cuda {

namespace {

std::atomic<bool> g_loaded{false};

// Binds one entry point; on a miss adds the reason to `missing` (the library is then not used).
template <typename Fn>
void bind(void* library, const char* name, Fn& slot, std::string& missing) {
  slot = reinterpret_cast<Fn>(dlsym(library, name));
  if (slot == nullptr) missing += missing.empty() ? name : std::string(", ") + name;
}

CublasLtApi load() {
  std::vector<std::string> candidates;
  if (const char* chosen = std::getenv("LLMRT_CUBLASLT_LIBRARY"); chosen != nullptr && *chosen != '\0') {
    candidates.emplace_back(chosen);
  } else {
    candidates.push_back("libcublasLt.so." + std::to_string(CUBLAS_VER_MAJOR));
    candidates.emplace_back(LLMRT_CUBLASLT_BUILD_LIBRARY);
  }
  std::string reasons;
  for (const std::string& path : candidates) {
    void* library = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (library == nullptr) {
      const char* why = dlerror();
      reasons += "\n  " + path + ": " + (why != nullptr ? why : "not loadable");
      continue;
    }
    CublasLtApi api;
    std::string missing;
    api.path = path;
    bind(library, "cublasLtCreate", api.Create, missing);
    bind(library, "cublasLtDestroy", api.Destroy, missing);
    bind(library, "cublasLtGetStatusName", api.GetStatusName, missing);
    bind(library, "cublasLtGetStatusString", api.GetStatusString, missing);
    bind(library, "cublasLtMatmul", api.Matmul, missing);
    bind(library, "cublasLtMatmulAlgoGetHeuristic", api.MatmulAlgoGetHeuristic, missing);
    bind(library, "cublasLtMatmulDescCreate", api.MatmulDescCreate, missing);
    bind(library, "cublasLtMatmulDescDestroy", api.MatmulDescDestroy, missing);
    bind(library, "cublasLtMatmulDescSetAttribute", api.MatmulDescSetAttribute, missing);
    bind(library, "cublasLtMatmulPreferenceCreate", api.MatmulPreferenceCreate, missing);
    bind(library, "cublasLtMatmulPreferenceDestroy", api.MatmulPreferenceDestroy, missing);
    bind(library, "cublasLtMatmulPreferenceSetAttribute", api.MatmulPreferenceSetAttribute, missing);
    bind(library, "cublasLtMatrixLayoutCreate", api.MatrixLayoutCreate, missing);
    bind(library, "cublasLtMatrixLayoutDestroy", api.MatrixLayoutDestroy, missing);
    bind(library, "cublasLtMatrixLayoutSetAttribute", api.MatrixLayoutSetAttribute, missing);
    if (!missing.empty()) {  // too old for this build: try the next candidate
      reasons += "\n  " + path + ": no entry point " + missing;
      dlclose(library);
      continue;
    }
    return api;  // the library stays loaded for the process's life
  }
  throw CudaError("cannot load cuBLASLt (set LLMRT_CUBLASLT_LIBRARY to its file); tried:" + reasons);
}

}  // namespace

const CublasLtApi& cublaslt() {
  static std::once_flag once;
  static CublasLtApi api;
  std::call_once(once, [] {
    api = load();
    g_loaded = true;
  });
  return api;
}

bool cublaslt_loaded() { return g_loaded; }

}  // namespace llmrt::kernels::cuda
