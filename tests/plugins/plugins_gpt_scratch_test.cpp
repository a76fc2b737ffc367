// The GPT layers' device scratch in their cost hints (llmrt_cost_hints.workspace_bytes): each
// layer reports the largest carve its CUDA passes ask of the stream's workspace, from the same
// region lists the passes carve (plugins/gpt/gpt_scratch.h), at every compute dtype, tp degree
// and recompute mode. The expected values are also written out here from the shapes, so a change
// to a pass's regions that the hint missed, or the other way round, fails. Hints only: nothing
// runs, so the shapes are GPT-2 124M's at B = 16, T = 1024 (the issue's), V = 50257 padded to 50304.
#define BOOST_TEST_MODULE plugins_gpt_scratch
#include <algorithm>
#include <memory>
#include <vector>

#include "gpt/gpt_layers.h"
#include "gpt/gpt_scratch.h"
#include "plugins_test_support.h"

#if LLMRT_HAVE_CUDA
#include "cuda/kernels_cuda.h"
#endif

namespace {

using namespace plugins_test;
namespace scratch = llmrt::gpt::scratch;

constexpr int64_t kB = 16, kT = 1024, kN = kB * kT, kC = 768, kHeads = 12, kV = 50257, kVp = 50304;
constexpr int32_t kDtypes[] = {LLMRT_DTYPE_F32, LLMRT_DTYPE_BF16, LLMRT_DTYPE_F16};

double up(double bytes) { return std::ceil(bytes / 256) * 256; }  // carve's 256-byte regions
double element(int32_t dtype) { return dtype == LLMRT_DTYPE_F32 ? 4 : 2; }

// `name` with `values` as rank 0 of a tp group of `tp`, computing at `dtype`.
ComponentInstance make_layer(const Registry& registry, const std::string& name,
                             const std::map<std::string, ParamValue>& values, int32_t dtype, int tp = 1,
                             int32_t recompute = LLMRT_RECOMPUTE_NONE) {
  const Component& component = find_component(registry, name);
  auto config = resolve_component_config(component, spec_with(name, values));
  BOOST_REQUIRE_MESSAGE(config.ok(), (config.ok() ? "" : config.error().message()));
  const llmrt_layer_context context{sizeof(llmrt_layer_context), 0, tp, dtype, 0, recompute};
  auto layer = create_layer(component, *config, context);
  BOOST_REQUIRE_MESSAGE(layer.ok(), (layer.ok() ? "" : layer.error().message()));
  return std::move(*layer);
}

double workspace_hint(const ComponentInstance& layer) {
  auto hints = layer_cost_hints(layer, kB, kT);
  BOOST_REQUIRE_MESSAGE(hints.ok(), (hints.ok() ? "" : hints.error().message()));
  return hints->workspace_bytes;
}

// The head: backward's (N, Vp) logits, (N, C) d_lnf and (N) ids, more than forward's logits,
// (N) losses, (N) ids and the loss. At bf16 about N·Vp·2 = 1.65 GB.
BOOST_AUTO_TEST_CASE(head_reports_backwards_logits_at_every_dtype) {
  Registry registry = load_builtin_plugins();
  const std::map<std::string, ParamValue> keys = {
      {"d_model", kC}, {"vocab_size", kV}, {"vocab_pad_multiple", std::int64_t{128}}};
  for (int32_t dtype : kDtypes) {
    BOOST_TEST_CONTEXT("dtype " << dtype) {
      const double e = element(dtype);
      const double backward = up(kN * kVp * e) + up(kN * kC * e) + up(kN * 4.0);
      const double forward = up(kN * kVp * e) + up(kN * 4.0) + up(kN * 4.0) + up(4);
      const double hint = workspace_hint(make_layer(registry, "gpt.head", keys, dtype));
      BOOST_TEST(hint == std::max(forward, backward));
      BOOST_TEST(hint == backward);
      BOOST_TEST(hint == double(scratch::largest({scratch::head_forward(dtype, kN, kVp),
                                                  scratch::head_backward(dtype, kN, kC, kVp)})));
      BOOST_TEST(hint >= double(kN) * kVp * e);
    }
  }
}

// A block: the largest of forward (partial, two tp-sum buffers, selective's ln and fc_act),
// backward_input (d_att, tp-sum buffers, attention scratch at 16 bits) and backward_weight
// (selective's remade ln, fc_act and statistics), the same in both modes.
BOOST_AUTO_TEST_CASE(block_reports_its_largest_pass_in_every_mode) {
  Registry registry = load_builtin_plugins();
  const std::map<std::string, ParamValue> keys = {{"d_model", kC}, {"heads", kHeads}};
  for (int32_t dtype : kDtypes) {
    for (int tp : {1, 2}) {
      BOOST_TEST_CONTEXT("dtype " << dtype << ", tp " << tp) {
        const double e = element(dtype), nc = double(kN) * kC, local = double(kC) / tp, nh = 4.0 * nc / tp;
        const double sum = tp > 1 ? up(nc * 4) : 0;  // each tp-sum buffer
        const double rows = double(kB) * (kHeads / tp) * kT, head_size = 64;
        const double attention = dtype == LLMRT_DTYPE_F32 ? 0 : up(rows * 4) + rows * head_size * 4;
        const double forward = up(nc * e) + 2 * sum + up(nc * e) + up(nh * e);
        const double backward_input = up(kN * local * e) + 2 * sum + up(attention);
        const double backward_weight = up(nc * e) + up(nh * e) + 2 * up(kN * 4.0);
        const double want = std::max({forward, backward_input, backward_weight});
        const double none = workspace_hint(make_layer(registry, "gpt.block", keys, dtype, tp));
        const double selective =
            workspace_hint(make_layer(registry, "gpt.block", keys, dtype, tp, LLMRT_RECOMPUTE_SELECTIVE));
        BOOST_TEST(none == want);
        BOOST_TEST(selective == want);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(embedding_reports_the_uploaded_ids) {
  Registry registry = load_builtin_plugins();
  const std::map<std::string, ParamValue> keys = {{"d_model", kC}, {"vocab_size", kV}, {"seq_len", kT}};
  for (int32_t dtype : kDtypes) {
    BOOST_TEST(workspace_hint(make_layer(registry, "gpt.embedding", keys, dtype)) == up(kN * 4.0));
  }
}

// The carve's arithmetic: regions start 256 bytes apart at least, empty ones take nothing.
BOOST_AUTO_TEST_CASE(carve_bytes_rounds_each_region) {
  BOOST_TEST(scratch::carve_bytes({}) == 0u);
  BOOST_TEST(scratch::carve_bytes({1, 0, 256, 257}) == 256u + 0 + 256 + 512);
  BOOST_TEST(scratch::largest({{1}, {300}, {}}) == 512u);
}

// The host copy of the attention backward's scratch size is the kernel's own, at the issue's
// head sizes and T = 1024 (host arithmetic in the CUDA library: runs without a device).
BOOST_AUTO_TEST_CASE(attention_scratch_matches_the_kernels) {
#if LLMRT_HAVE_CUDA
  for (int head_size : {48, 64, 80, 96, 128}) {
    for (int batch : {1, 16}) {
      const int heads = 12, c = heads * head_size;
      BOOST_TEST_CONTEXT("hs " << head_size << ", B " << batch) {
        const size_t kernel = llmrt::kernels::cuda::attention_backward_scratch_bytes(batch, 1024, c, heads);
        BOOST_TEST(kernel > 0u);
        BOOST_TEST(scratch::attention_backward_bytes(LLMRT_DTYPE_BF16, batch, 1024, c, heads) == kernel);
        BOOST_TEST(scratch::attention_backward_bytes(LLMRT_DTYPE_F16, batch, 1024, c, heads) == kernel);
        // fp32 runs on CUDA cores, which ignore the scratch: the pass carves none.
        BOOST_TEST(scratch::attention_backward_bytes(LLMRT_DTYPE_F32, batch, 1024, c, heads) == 0u);
      }
    }
  }
#else
  BOOST_TEST_MESSAGE("built without CUDA: the kernel's own function is not here to compare with");
  BOOST_TEST(scratch::attention_backward_bytes(LLMRT_DTYPE_F32, 1, 1024, 768, 12) == 0u);
#endif
}

// The live layers' registry (scratch::LiveLayer, gpt_layers.h) that sizes a stream's workspace
// before its first pass: the largest workspace_bytes among the GPT layers alive in the process at
// the call's shape (the planner's per-rank scratch), following layers as they come and go. The
// classes are made directly (the test links them): the .so's layers have a registry of their own.
BOOST_AUTO_TEST_CASE(live_layers_give_the_largest_workspace_while_they_live) {
  std::vector<llmrt_config_value> head_values(4), block_values(3);
  auto set_int = [](llmrt_config_value& v, const char* name, int64_t value) {
    v = llmrt_config_value{};
    v.struct_size = sizeof v, v.name = name, v.type = LLMRT_KEY_INT, v.integer = value;
  };
  set_int(head_values[0], "d_model", kC);
  set_int(head_values[1], "vocab_size", kV);
  head_values[2] = llmrt_config_value{};
  head_values[2].struct_size = sizeof(llmrt_config_value), head_values[2].name = "tied_embedding";
  head_values[2].type = LLMRT_KEY_BOOL, head_values[2].boolean = 1;
  set_int(head_values[3], "vocab_pad_multiple", 128);
  set_int(block_values[0], "d_model", kC);
  set_int(block_values[1], "heads", kHeads);
  set_int(block_values[2], "n_layer_for_init", 12);
  const llmrt_config head_config{sizeof(llmrt_config), head_values.data(), head_values.size()};
  const llmrt_config block_config{sizeof(llmrt_config), block_values.data(), block_values.size()};
  llmrt_host_api host{};
  host.struct_size = sizeof host;
  const llmrt_layer_context context{sizeof(llmrt_layer_context), 0, 1, LLMRT_DTYPE_BF16, 0, LLMRT_RECOMPUTE_NONE};

  BOOST_TEST(scratch::largest_live_workspace(kB, kT) == 0u);  // none alive yet
  auto block =
      std::make_unique<llmrt::gpt::Block>(llmrt::ComponentArgs{&host, llmrt::ComponentConfig(&block_config), context});
  const double block_hint = block->cost_hints(kB, kT).workspace_bytes;
  BOOST_TEST(block_hint > 0);
  BOOST_TEST(double(scratch::largest_live_workspace(kB, kT)) == block_hint);
  {
    llmrt::gpt::Head head(llmrt::ComponentArgs{&host, llmrt::ComponentConfig(&head_config), context});
    const double head_hint = head.cost_hints(kB, kT).workspace_bytes;
    BOOST_TEST(head_hint > block_hint);  // the logits: what used to make step 1 grow the workspace
    BOOST_TEST(double(scratch::largest_live_workspace(kB, kT)) == head_hint);
    BOOST_TEST(double(scratch::largest_live_workspace(1, kT)) == head.cost_hints(1, kT).workspace_bytes);
  }
  BOOST_TEST(double(scratch::largest_live_workspace(kB, kT)) == block_hint);  // the head left the list
  block.reset();
  BOOST_TEST(scratch::largest_live_workspace(kB, kT) == 0u);
}

}  // namespace
