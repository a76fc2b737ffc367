// AdamW and SGD on CUDA (plugins/optim/optim_cuda.cpp) against the same classes' CPU step: fp32
// master weights, gradients and state in device memory at odd offsets of flat buffers, three
// steps on a non-default stream, per tensor of a parameter table (two tensors of odd sizes, one
// at half the lr without decay, as param groups and 1-D tensors give). Both sides are fp32, so
// the tolerance is fp32's. The optimizers step fp32 at every precision; the bf16 and f16
// compute copies made from their result are checked bit for bit against the host's rounding.
#define BOOST_TEST_MODULE cuda_optim
#define BOOST_TEST_NO_MAIN
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstdint>
#include <random>

#include "cuda/cuda_plugin_test_util.h"
#include "optim/optimizers.h"

using namespace llmrt::kernels::cuda_test;
using llmrt::ComponentArgs;
using llmrt::kernels::test::random_floats;

namespace {

constexpr size_t kN = 1001;  // odd: no vector width divides it

// (kSplit) decayed at lr, then (kN - kSplit) at lr / 2 without decay.
constexpr size_t kSplit = 333;

llmrt_optimizer_param entry(const char* name, size_t offset, size_t count, double lr_scale, double weight_decay) {
  llmrt_optimizer_param p{};
  p.struct_size = sizeof(p);
  p.name = name;
  p.rank = 1;
  p.shape[0] = p.numel = p.count = int64_t(count);
  p.shard_dim = LLMRT_NO_SHARD;
  p.buffer_offset = int64_t(offset);
  p.lr_scale = lr_scale;
  p.weight_decay = weight_decay;
  p.group = -1;
  return p;
}

const std::vector<llmrt_optimizer_param> table = {entry("a", 0, kSplit, 1.0, 0.1),
                                                  entry("b", kSplit, kN - kSplit, 0.5, 0.0)};

// The compute copy the next forward reads at a 16-bit dtype is made from the stepped fp32
// master weights by CudaDevice::convert (the optimizers keep no copy): the kernels it calls
// round the device's master exactly as llmrt/half.hpp rounds the host's, bit for bit. At f32
// the layers read the master itself.
void check_compute_copies(const TwinTensors& buffers, const std::string& what) {
  const std::vector<float> master = buffers.device_values(0);
  DeviceBuffer<float> device_master = to_device(master);
  for (int32_t dtype : {LLMRT_DTYPE_BF16, LLMRT_DTYPE_F16}) {
    DeviceBuffer<std::uint16_t> copy(kN);
    if (dtype == LLMRT_DTYPE_BF16) {
      cu::float_to_bf16(reinterpret_cast<bf16*>(copy.get()), device_master.get(), kN, nullptr);
    } else {
      cu::float_to_f16(reinterpret_cast<cu::f16*>(copy.get()), device_master.get(), kN, nullptr);
    }
    LLMRT_CUDA_CHECK(cudaDeviceSynchronize());
    std::vector<std::uint16_t> got(kN), want(kN);
    copy.download(got.data(), kN);
    llmrt::from_float(want.data(), master.data(), dtype, kN);
    BOOST_TEST(got == want, what << ": the dtype " << dtype << " copy of the stepped weights");
  }
}

// Steps `optimizer` three times on each side; buffers: params, grads, then one per state.
void run_steps(llmrt::Optimizer& cpu, llmrt::Optimizer& cuda, size_t states, const std::string& what) {
  std::mt19937 rng(51);
  std::vector<std::vector<int64_t>> shapes(2 + states, std::vector<int64_t>{int64_t(kN)});
  TwinTensors buffers(LLMRT_DTYPE_F32, shapes);
  buffers.fill(0, random_floats(kN, rng, -1.0f, 1.0f));
  for (size_t s = 0; s < states; ++s) buffers.fill(2 + s, std::vector<float>(kN, 0.0f));
  cu::CudaStream stream;
  for (int64_t step = 1; step <= 3; ++step) {
    buffers.fill(1, random_floats(kN, rng, -1.0f, 1.0f));  // this step's gradients
    for (bool on_cuda : {false, true}) {
      const llmrt_call_ctx ctx = call_ctx(on_cuda ? LLMRT_DEVICE_CUDA : LLMRT_DEVICE_CPU, stream.get());
      std::vector<llmrt_tensor> t = on_cuda ? buffers.devices() : buffers.hosts();
      std::vector<llmrt_tensor> state(t.begin() + 2, t.end());
      const llmrt::OptimizerStepArgs args{t[0], t[1], state, 1e-2, step, table};
      (on_cuda ? cuda : cpu).step_params(ctx, args);
    }
    stream.synchronize();
  }
  check_compute_copies(buffers, what);
  for (size_t i = 0; i < 2 + states; ++i) {
    if (i == 1) continue;  // the gradients, unchanged
    const std::vector<float> got = buffers.device_values(i), want = buffers.host_values(i);
    llmrt::kernels::test::require_nonzero(want, what + " buffer " + std::to_string(i));
    for (size_t k = 0; k < kN; ++k) {
      BOOST_TEST_REQUIRE(std::fabs(got[k] - want[k]) <= 1e-5f * (std::fabs(want[k]) + 1e-3f),
                         what << " buffer " << i << "[" << k << "]: " << got[k] << " vs " << want[k]);
    }
  }
}

}  // namespace

BOOST_AUTO_TEST_CASE(adamw_matches_cpu) {
  TestHost host;
  TestConfig keys;
  keys.number("lr", 1e-2).numbers("betas", {0.9, 0.95}).number("eps", 1e-8).number("weight_decay", 0.1);
  llmrt::optim::AdamW cpu(ComponentArgs{host.api(), keys.config(), {}});
  llmrt::optim::AdamW cuda(ComponentArgs{host.api(), keys.config(), {}});
  run_steps(cpu, cuda, 2, "adamw");
}

BOOST_AUTO_TEST_CASE(sgd_with_and_without_momentum_matches_cpu) {
  for (double momentum : {0.0, 0.9}) {
    TestHost host;
    TestConfig keys;
    keys.number("lr", 1e-2).number("momentum", momentum).number("weight_decay", 0.01);
    llmrt::optim::Sgd cpu(ComponentArgs{host.api(), keys.config(), {}});
    llmrt::optim::Sgd cuda(ComponentArgs{host.api(), keys.config(), {}});
    run_steps(cpu, cuda, momentum > 0 ? 1 : 0, "sgd momentum " + std::to_string(momentum));
  }
}

LLMRT_CUDA_TEST_MAIN()
