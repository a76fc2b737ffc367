# bench_gpt_cuda: GPT-2 training-step throughput on the CUDA kernels (scripts/gpu-check.sh runs it).
# Included from kernels/cuda/CMakeLists.txt, so it exists exactly when llmrt_kernels_cuda does.
add_executable(bench_gpt_cuda ${CMAKE_CURRENT_LIST_DIR}/bench_gpt_cuda.cpp)
target_link_libraries(bench_gpt_cuda PRIVATE llmrt_kernels_cuda CLI11::CLI11 llmrt_build_flags)
