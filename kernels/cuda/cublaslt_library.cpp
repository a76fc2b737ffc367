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

template <typename Fn>
void bind(void* library, const char* name, Fn& slot, const std::string& path) {
  slot = reinterpret_cast<Fn>(dlsym(library, name));
  if (slot == nullptr) {
    throw CudaError("cuBLASLt library " + path + " has no entry point " + name + " (too old for this build?)");
  }
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
    api.path = path;
    bind(library, "cublasLtCreate", api.Create, path);
    bind(library, "cublasLtDestroy", api.Destroy, path);
    bind(library, "cublasLtGetStatusName", api.GetStatusName, path);
    bind(library, "cublasLtGetStatusString", api.GetStatusString, path);
    bind(library, "cublasLtMatmul", api.Matmul, path);
    bind(library, "cublasLtMatmulAlgoGetHeuristic", api.MatmulAlgoGetHeuristic, path);
    bind(library, "cublasLtMatmulDescCreate", api.MatmulDescCreate, path);
    bind(library, "cublasLtMatmulDescDestroy", api.MatmulDescDestroy, path);
    bind(library, "cublasLtMatmulDescSetAttribute", api.MatmulDescSetAttribute, path);
    bind(library, "cublasLtMatmulPreferenceCreate", api.MatmulPreferenceCreate, path);
    bind(library, "cublasLtMatmulPreferenceDestroy", api.MatmulPreferenceDestroy, path);
    bind(library, "cublasLtMatmulPreferenceSetAttribute", api.MatmulPreferenceSetAttribute, path);
    bind(library, "cublasLtMatrixLayoutCreate", api.MatrixLayoutCreate, path);
    bind(library, "cublasLtMatrixLayoutDestroy", api.MatrixLayoutDestroy, path);
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
