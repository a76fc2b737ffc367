// gpt.block under tensor parallelism without MPI: two threads play tp ranks 0 and 1, each with
// its Megatron slice of the parameters, and a host table whose all_reduce sums across the two.
// Outputs, input gradients and (sliced) parameter gradients must equal the tp = 1 block's.
#define BOOST_TEST_MODULE plugins_gpt_tp
#include "plugins/plugins_test_support.h"

#include <condition_variable>
#include <mutex>
#include <thread>

#include "plugin/host_api.h"

using namespace plugins_test;

namespace {

constexpr int64_t kB = 2, kT = 5, kC = 12, kHeads = 4, kTp = 2;  // 2 heads of width 3 per rank
constexpr double kTol = 1e-5;  // fp32, different summation order only

// A reusable two-party barrier plus the send buffers of the all_reduce in flight.
struct TwoRanks {
  std::mutex mutex;
  std::condition_variable changed;
  int arrived = 0;
  int64_t generation = 0;
  const float* send[kTp] = {};

  void barrier() {
    std::unique_lock<std::mutex> lock(mutex);
    const int64_t mine = generation;
    if (++arrived == kTp) {
      arrived = 0, ++generation;
      changed.notify_all();
    } else {
      changed.wait(lock, [&] { return generation != mine; });
    }
  }
};
TwoRanks g_ranks;
int g_rank_ids[kTp] = {0, 1};

// The comm handle is a pointer to the caller's rank id. Sum, then wait until both have read
// the other's buffer before either may reuse its own.
llmrt_status* two_rank_all_reduce(llmrt_comm* comm, const void* send, void* recv, size_t count, int32_t, int32_t,
                                  llmrt_stream*) {
  const int rank = *reinterpret_cast<int*>(comm);
  g_ranks.send[rank] = static_cast<const float*>(send);
  g_ranks.barrier();
  float* out = static_cast<float*>(recv);
  for (size_t i = 0; i < count; ++i) out[i] = g_ranks.send[0][i] + g_ranks.send[1][i];
  g_ranks.barrier();
  return nullptr;
}

const llmrt_host_api* two_rank_host() {
  static llmrt_host_api api = [] {
    llmrt_host_api copy = *plugin_host_api();
    copy.all_reduce = &two_rank_all_reduce;
    return copy;
  }();
  return &api;
}

// Rank r's slice of a row-major tensor along dim.
std::vector<float> slice(const std::vector<float>& full, const llmrt_param_spec& spec, int rank) {
  if (spec.shard_dim == LLMRT_NO_SHARD) return full;
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < spec.shard_dim; ++d) outer *= spec.shape[d];
  for (int d = spec.shard_dim + 1; d < spec.rank; ++d) inner *= spec.shape[d];
  const int64_t part = spec.shape[spec.shard_dim] / kTp;
  std::vector<float> local;
  for (int64_t o = 0; o < outer; ++o) {
    const float* begin = full.data() + (o * spec.shape[spec.shard_dim] + rank * part) * inner;
    local.insert(local.end(), begin, begin + part * inner);
  }
  return local;
}

llmrt_tensor flat_f32(std::vector<float>& data) { return f32(data, {int64_t(data.size())}); }

struct RankResult {
  std::vector<float> y, dx;
  std::vector<std::vector<float>> grads;
  std::string error;
};

// One rank: create its block, forward x, backward dy (input then weight pass).
void run_rank(const Component& block, const ResolvedConfig& config, const LayerRig& reference, int rank,
              std::vector<float> x, std::vector<float> dy, RankResult& result) {
  llmrt_layer_context context{sizeof(llmrt_layer_context), rank, int32_t(kTp), LLMRT_DTYPE_F32, 0, LLMRT_RECOMPUTE_NONE};
  void* raw = nullptr;
  llmrt_status* status = block.layer().create(two_rank_host(), config.get(), &context, &raw);
  if (status != nullptr) {
    result.error = plugin_host_api()->status_message(status);
    return;
  }
  ComponentInstance instance(block, raw);
  std::vector<std::vector<float>> params;
  std::vector<llmrt_tensor> p, g;
  for (size_t i = 0; i < reference.specs.size(); ++i) {
    params.push_back(slice(reference.params[i], reference.specs[i], rank));
  }
  for (auto& param : params) result.grads.emplace_back(param.size(), 0.0f);
  for (auto& param : params) p.push_back(flat_f32(param));
  for (auto& grad : result.grads) g.push_back(flat_f32(grad));
  auto bytes = layer_saved_bytes(instance, kB, kT);
  if (!bytes.ok()) {
    result.error = bytes.error().message();
    return;
  }
  std::vector<float> saved(*bytes / sizeof(float));
  result.y.assign(x.size(), 0.0f), result.dx.assign(x.size(), 0.0f);
  llmrt_tensor in = f32(x, {kB, kT, kC}), out = f32(result.y, {kB, kT, kC});
  llmrt_tensor go = f32(dy, {kB, kT, kC}), gi = f32(result.dx, {kB, kT, kC});
  llmrt_call_ctx ctx = cpu_ctx();
  ctx.tp_comm = reinterpret_cast<llmrt_comm*>(&g_rank_ids[rank]);
  ctx.tp_rank = rank, ctx.tp_size = int32_t(kTp);
  const BackwardCall call{.grad_out = {&go, 1}, .in = {&in, 1}, .params = p, .saved = bytes_of(saved),
                          .grad_in = {&gi, 1}, .grad_params = g};
  Status done = layer_forward(instance, ctx, {.in = {&in, 1}, .params = p, .out = {&out, 1}, .saved = call.saved},
                              "forward");
  if (done.ok()) done = layer_backward_input(instance, ctx, call, "backward_input");
  if (done.ok()) done = layer_backward_weight(instance, ctx, call, "backward_weight");
  if (!done.ok()) result.error = done.error().message();
}

void expect_close(const std::vector<float>& got, const std::vector<float>& want, const std::string& what) {
  BOOST_REQUIRE_EQUAL(got.size(), want.size());
  Mismatch m = compare(std::vector<double>(got.begin(), got.end()), std::vector<double>(want.begin(), want.end()),
                       kTol, kTol * 10);
  BOOST_TEST(m.worst <= 1.0, what << "[" << m.index << "]: " << got[m.index] << " vs " << want[m.index]);
}

}  // namespace

BOOST_AUTO_TEST_CASE(two_tp_ranks_equal_one) {
  Registry registry = load_builtin_plugins();
  std::mt19937 rng(21);
  const std::map<std::string, ParamValue> keys = {{"d_model", kC}, {"heads", kHeads}};
  LayerRig reference = make_rig(registry, "gpt.block", keys, 0.3f, rng);
  std::vector<float> x = random_floats(kB * kT * kC, -1, 1, rng), dy = random_floats(kB * kT * kC, -1, 1, rng);

  // tp = 1: the reference.
  std::vector<float> y(x.size()), dx(x.size()), saved = reference.saved_buffer(kB, kT);
  llmrt_tensor in = f32(x, {kB, kT, kC}), out = f32(y, {kB, kT, kC}), go = f32(dy, {kB, kT, kC}),
               gi = f32(dx, {kB, kT, kC});
  auto p = reference.param_tensors();
  auto g = reference.grad_tensors();
  llmrt_call_ctx ctx = cpu_ctx();
  const BackwardCall call{.grad_out = {&go, 1}, .in = {&in, 1}, .params = p, .saved = bytes_of(saved),
                          .grad_in = {&gi, 1}, .grad_params = g};
  require_ok(layer_forward(*reference.instance, ctx, {.in = {&in, 1}, .params = p, .out = {&out, 1},
                                                      .saved = call.saved}, "forward"));
  require_ok(layer_backward_input(*reference.instance, ctx, call, "backward_input"));
  require_ok(layer_backward_weight(*reference.instance, ctx, call, "backward_weight"));

  // tp = 2 on two threads.
  const Component& block = find_component(registry, "gpt.block");
  auto config = resolve_component_config(block, spec_with("gpt.block", keys));
  BOOST_REQUIRE(config.ok());
  RankResult results[kTp];
  std::thread other(run_rank, std::cref(block), std::cref(*config), std::cref(reference), 1, x, dy,
                    std::ref(results[1]));
  run_rank(block, *config, reference, 0, x, dy, results[0]);
  other.join();
  for (int rank = 0; rank < kTp; ++rank) {
    const RankResult& r = results[rank];
    BOOST_REQUIRE_MESSAGE(r.error.empty(), r.error);
    const std::string tag = "rank " + std::to_string(rank) + " ";
    expect_close(r.y, y, tag + "y");
    expect_close(r.dx, dx, tag + "dx");
    for (size_t i = 0; i < reference.specs.size(); ++i) {
      expect_close(r.grads[i], slice(reference.grads[i], reference.specs[i], rank),
                   tag + "d" + reference.specs[i].name);
    }
  }
}

BOOST_AUTO_TEST_CASE(tp_must_divide_heads) {
  Registry registry = load_builtin_plugins();
  const Component& block = find_component(registry, "gpt.block");
  auto config = resolve_component_config(block, spec_with("gpt.block", {{"d_model", kC}, {"heads", std::int64_t{3}}}));
  BOOST_REQUIRE(config.ok());
  llmrt_layer_context context{sizeof(llmrt_layer_context), 0, int32_t(kTp), LLMRT_DTYPE_F32, 0, LLMRT_RECOMPUTE_NONE};
  auto refused = create_layer(block, *config, context);
  BOOST_REQUIRE(!refused.ok());
  BOOST_TEST(refused.error().message().find("tensor-parallel size 2 does not divide heads = 3") != std::string::npos,
             refused.error().message());
}
