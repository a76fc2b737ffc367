// NCCL loaded at run time (dlopen), not linked: a binary built with NCCL still starts on a
// machine without libnccl, where its GPU groups take the staging path (MPI through pinned host
// memory) and the run says so once. The header's types come from nccl.h at build time.
#pragma once

#include <nccl.h>

#include <string>

#include "util/status.h"

namespace llmrt {

// The NCCL entry points llmrt calls.
struct NcclApi {
  std::string path;  // the file that was loaded
  int version = 0;   // ncclGetVersion: e.g. 22703 for 2.27.3
  decltype(&ncclGetErrorString) GetErrorString = nullptr;
  decltype(&ncclGetLastError) GetLastError = nullptr;
  decltype(&ncclGetUniqueId) GetUniqueId = nullptr;
  decltype(&ncclCommInitRank) CommInitRank = nullptr;
  decltype(&ncclCommDestroy) CommDestroy = nullptr;
  decltype(&ncclCommAbort) CommAbort = nullptr;
  decltype(&ncclAllReduce) AllReduce = nullptr;
  decltype(&ncclAllGather) AllGather = nullptr;
  decltype(&ncclReduceScatter) ReduceScatter = nullptr;
  decltype(&ncclBroadcast) Broadcast = nullptr;
  decltype(&ncclSend) Send = nullptr;
  decltype(&ncclRecv) Recv = nullptr;
  decltype(&ncclGroupStart) GroupStart = nullptr;
  decltype(&ncclGroupEnd) GroupEnd = nullptr;
};

// Loads NCCL from `path` (a file, or a name the dynamic loader searches for). An error says
// what was tried and the loader's reason, or which entry point the library lacks.
Result<NcclApi> load_nccl_from(const std::string& path);

// The process's NCCL, loaded on first use: $LLMRT_NCCL_LIBRARY when set, else "libnccl.so.2"
// on the loader's path, else the library the build found. The same answer for the process's life.
Result<const NcclApi*> nccl_api();

}  // namespace llmrt
