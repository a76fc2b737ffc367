// cuBLASLt loaded at first use (dlopen), not linked: mapping libcublasLt costs about 150 MiB of
// resident memory per process at start (its relocations), which every CPU rank of a CUDA build
// paid before any work. Now only a process that runs a GPU matmul loads it. The types come from
// cublasLt.h at build time; the entry points from the library found at run time.
#pragma once

#include <cublasLt.h>

#include <string>

namespace llmrt::kernels::cuda {

// The cuBLASLt entry points the kernels call.
struct CublasLtApi {
  std::string path;  // the file that was loaded
  decltype(&cublasLtCreate) Create = nullptr;
  decltype(&cublasLtDestroy) Destroy = nullptr;
  decltype(&cublasLtGetStatusName) GetStatusName = nullptr;
  decltype(&cublasLtGetStatusString) GetStatusString = nullptr;
  decltype(&cublasLtMatmul) Matmul = nullptr;
  decltype(&cublasLtMatmulAlgoGetHeuristic) MatmulAlgoGetHeuristic = nullptr;
  decltype(&cublasLtMatmulDescCreate) MatmulDescCreate = nullptr;
  decltype(&cublasLtMatmulDescDestroy) MatmulDescDestroy = nullptr;
  decltype(&cublasLtMatmulDescSetAttribute) MatmulDescSetAttribute = nullptr;
  decltype(&cublasLtMatmulPreferenceCreate) MatmulPreferenceCreate = nullptr;
  decltype(&cublasLtMatmulPreferenceDestroy) MatmulPreferenceDestroy = nullptr;
  decltype(&cublasLtMatmulPreferenceSetAttribute) MatmulPreferenceSetAttribute = nullptr;
  decltype(&cublasLtMatrixLayoutCreate) MatrixLayoutCreate = nullptr;
  decltype(&cublasLtMatrixLayoutDestroy) MatrixLayoutDestroy = nullptr;
  decltype(&cublasLtMatrixLayoutSetAttribute) MatrixLayoutSetAttribute = nullptr;
};

// The process's cuBLASLt, loaded on first call: $LLMRT_CUBLASLT_LIBRARY when set, else
// "libcublasLt.so.<major>" on the loader's path, else the file the build linked against. Throws
// CudaError naming every path tried and the loader's reason, or the entry point a library lacks.
const CublasLtApi& cublaslt();

// Whether this process has loaded cuBLASLt (for the test that holds CPU ranks to not loading it).
bool cublaslt_loaded();

}  // namespace llmrt::kernels::cuda
