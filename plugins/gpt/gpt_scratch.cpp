// Region sizes of the GPT layers' CUDA scratch (see gpt_scratch.h).
#include "gpt/gpt_scratch.h"

#include <algorithm>
#include <exception>
#include <mutex>
#include <vector>

namespace llmrt::gpt::scratch {

namespace {
// A tensor-parallel sum's f32 scratch (TpSum::scratch_bytes): (N, C) at tp > 1, else none.
size_t tp_sum_bytes(int64_t tp, int64_t count) { return tp > 1 ? size_t(count) * sizeof(float) : 0; }
}  // namespace

size_t carve_bytes(const Regions& regions) {
  size_t total = 0;
  for (size_t bytes : regions) total += aligned(bytes);
  return total;
}

size_t element_bytes(int32_t dtype) { return dtype == LLMRT_DTYPE_F32 ? 4 : 2; }

size_t attention_backward_bytes(int32_t dtype, int64_t batch, int64_t seq, int64_t local, int64_t heads) {
  if (dtype == LLMRT_DTYPE_F32 || heads <= 0) return 0;  // CUDA cores: no scratch
  const int64_t head_size = local / heads;
  if (head_size % 8 != 0) return 0;  // the tensor cores refuse the shape
  const size_t rows = size_t(batch) * size_t(heads) * size_t(seq);
  return aligned(rows * sizeof(float)) + rows * size_t(head_size) * sizeof(float);
}

Regions embedding(int64_t rows) { return {size_t(rows) * sizeof(int32_t)}; }

Regions block_forward(const BlockDims& dims, int32_t dtype, int64_t tp, bool selective, int64_t batch, int64_t seq) {
  const size_t n = size_t(batch) * size_t(seq), e = element_bytes(dtype);
  const size_t nc = n * size_t(dims.channels), nh = n * size_t(dims.hidden);
  return {nc * e, tp_sum_bytes(tp, int64_t(nc)), tp_sum_bytes(tp, int64_t(nc)), selective ? nc * e : 0,
          selective ? nh * e : 0};
}

Regions block_backward_input(const BlockDims& dims, int32_t dtype, int64_t tp, int64_t batch, int64_t seq) {
  const size_t n = size_t(batch) * size_t(seq), e = element_bytes(dtype);
  const size_t nc = n * size_t(dims.channels), nl = n * size_t(dims.local);
  return {nl * e, tp_sum_bytes(tp, int64_t(nc)), tp_sum_bytes(tp, int64_t(nc)),
          attention_backward_bytes(dtype, batch, seq, dims.local, dims.heads)};
}

Regions block_backward_weight(const BlockDims& dims, int32_t dtype, bool selective, int64_t batch, int64_t seq) {
  if (!selective) return {};
  const size_t n = size_t(batch) * size_t(seq), e = element_bytes(dtype);
  return {n * size_t(dims.channels) * e, n * size_t(dims.hidden) * e, n * sizeof(float), n * sizeof(float)};
}

Regions head_forward(int32_t dtype, int64_t rows, int64_t padded_vocab) {
  const size_t n = size_t(rows);
  return {n * size_t(padded_vocab) * element_bytes(dtype), n * sizeof(float), n * sizeof(int32_t), sizeof(float)};
}

Regions head_backward(int32_t dtype, int64_t rows, int64_t channels, int64_t padded_vocab) {
  const size_t n = size_t(rows), e = element_bytes(dtype);
  return {n * size_t(padded_vocab) * e, n * size_t(channels) * e, n * sizeof(int32_t)};
}

size_t largest(std::initializer_list<Regions> passes) {
  size_t most = 0;
  for (const Regions& regions : passes) most = std::max(most, carve_bytes(regions));
  return most;
}

namespace {
struct LiveLayers {
  std::mutex mutex;
  std::vector<Layer*> layers;
};
LiveLayers& live_layers() {
  static auto* live = new LiveLayers();  // leaked: layers may be destroyed during exit
  return *live;
}
}  // namespace

LiveLayer::LiveLayer(Layer* layer) : layer_(layer) {
  LiveLayers& live = live_layers();
  std::lock_guard lock(live.mutex);
  live.layers.push_back(layer_);
}

LiveLayer::~LiveLayer() {
  LiveLayers& live = live_layers();
  std::lock_guard lock(live.mutex);
  live.layers.erase(std::remove(live.layers.begin(), live.layers.end(), layer_), live.layers.end());
}

size_t largest_live_workspace(int64_t batch, int64_t seq) {
  LiveLayers& live = live_layers();
  std::lock_guard lock(live.mutex);  // held while hints run: no layer leaves the list meanwhile
  double largest = 0;
  for (Layer* layer : live.layers) {
    try {
      largest = std::max(largest, layer->cost_hints(batch, seq).workspace_bytes);
    } catch (const std::exception&) {
      // A shape this layer cannot take (another model's test instance): it asks for nothing.
    }
  }
  return size_t(largest);
}

}  // namespace llmrt::gpt::scratch
