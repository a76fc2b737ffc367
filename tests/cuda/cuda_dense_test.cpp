// CUDA position-wise kernels (conversions, encoder, layernorm, GELU, residual, the row-parallel
// epilogue, AdamW) at fp32, bf16 and f16 storage against the fp32 reference kernels (kernels/ref),
// on inputs rounded through the storage type first, on a non-default stream. Shapes: odd (C = 35,
// 771: the scalar path), GPT-2's (T = 1024, C = 768: the 128-bit path) and GPT-2's at an odd
// element offset (the scalar path again), and with only the weights at an odd offset (packed
// activations, scalar weight loads). Gradients start non-zero, so += is checked; the
// overwrite variants are checked bit for bit against their += twins on a zeroed buffer.
#define BOOST_TEST_MODULE cuda_dense
#define BOOST_TEST_NO_MAIN
#include <boost/test/unit_test.hpp>

#include "cuda/cuda_dtype_util.h"
#include "ref/kernels_ref.h"

namespace ref = llmrt::kernels::ref;
using namespace llmrt::kernels::cuda_test;
using llmrt::kernels::test::random_floats;
using llmrt::kernels::test::random_tokens;

namespace {
struct Shape {
  int B, T, C;
  std::size_t offset;   // elements every activation sits past an aligned allocation
  std::size_t woffset;  // the same for weights, biases and their gradients
  const char* name;
  int N() const { return B * T; }
  std::size_t NC() const { return std::size_t(B) * T * C; }
};
const Shape kShapes[] = {
    {3, 7, 35, 0, 0, "B3 T7 C35"},                   // odd everywhere
    {2, 5, 771, 0, 0, "B2 T5 C771"},                 // no vector width divides C
    {1, 1024, 768, 0, 0, "T1024 C768"},              // the benchmark's rows: 128-bit path
    {1, 64, 768, 1, 1, "T64 C768 offset 1"},         // everything one element into its buffer
    {2, 64, 768, 0, 3, "B2 T64 C768 weights at 3"},  // weights at odd offsets of a flat buffer
};
std::string label(const Shape& s, const char* what) { return std::string(what) + " [" + s.name + "]"; }
}  // namespace

BOOST_AUTO_TEST_CASE(conversions_round_trip) {
  std::mt19937 rng(10);
  const auto x = random_floats(1001, rng, -3.0f, 3.0f);
  const DeviceBuffer<float> x_d = device_vector(x);
  DeviceBuffer<bf16> b_d(x.size());
  DeviceBuffer<f16> h_d(x.size());
  DeviceBuffer<float> back_d(x.size());
  cu::CudaStream stream;
  cu::float_to_bf16(b_d.get(), x_d.get(), x.size(), stream.get());
  cu::bf16_to_float(back_d.get(), b_d.get(), x.size(), stream.get());
  BOOST_TEST(to_host(back_d) == round_to<bf16>(x), boost::test_tools::per_element());  // exact rounding
  cu::float_to_f16(h_d.get(), x_d.get(), x.size(), stream.get());
  cu::f16_to_float(back_d.get(), h_d.get(), x.size(), stream.get());
  BOOST_TEST(to_host(back_d) == round_to<f16>(x), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(encoder_matches_reference, T, StorageTypes) {
  cu::CudaStream stream;
  for (const Shape& s : kShapes) {
    std::mt19937 rng(11);
    const int vocab = 97;  // small, so tokens repeat and dwte rows collect several positions
    const auto tokens = random_tokens(s.N(), vocab, rng);
    const auto wte = round_to<T>(random_floats(std::size_t(vocab) * s.C, rng));
    const auto wpe = round_to<T>(random_floats(std::size_t(s.T) * s.C, rng));
    std::vector<float> out(s.NC());
    ref::encoder_forward(out.data(), tokens.data(), wte.data(), wpe.data(), s.B, s.T, s.C);
    auto tokens_d = device_vector(tokens);
    auto wte_d = device_copy<T>(wte, s.woffset), wpe_d = device_copy<T>(wpe, s.woffset);
    OffsetBuffer<T> out_d(s.NC(), s.offset);
    cu::encoder_forward<T>(out_d.get(), tokens_d.get(), wte_d.get(), wpe_d.get(), s.B, s.T, s.C, stream.get());
    check_close_t<T>(out_d.download(), out, 1, label(s, "encoder out"), 1.0);

    const auto dout = round_to<T>(random_floats(s.NC(), rng));
    auto dwte = random_floats(wte.size(), rng), dwpe = random_floats(wpe.size(), rng);
    auto dwte_d = device_copy<float>(dwte, s.woffset), dwpe_d = device_copy<float>(dwpe, s.woffset);
    auto dout_d = device_copy<T>(dout, s.offset);
    ref::encoder_backward(dwte.data(), dwpe.data(), dout.data(), tokens.data(), s.B, s.T, s.C);
    cu::encoder_backward<T>(dwte_d.get(), dwpe_d.get(), dout_d.get(), tokens_d.get(), s.B, s.T, s.C, stream.get());
    check_close_t<T>(dwte_d.download(), dwte, s.N(), label(s, "encoder dwte"), 0.0);
    check_close_t<T>(dwpe_d.download(), dwpe, s.B, label(s, "encoder dwpe"), 0.0);
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(layernorm_matches_reference, T, StorageTypes) {
  cu::CudaStream stream;
  for (const Shape& s : kShapes) {
    const int N = s.N(), C = s.C;
    std::mt19937 rng(12);
    const auto inp = round_to<T>(random_floats(s.NC(), rng, -2.0f, 3.0f));  // non-zero mean
    const auto weight = round_to<T>(random_floats(C, rng, 0.5f, 1.5f)), bias = round_to<T>(random_floats(C, rng));
    std::vector<float> out(s.NC()), mean(N), rstd(N);
    ref::layernorm_forward(out.data(), mean.data(), rstd.data(), inp.data(), weight.data(), bias.data(), N, C);
    auto inp_d = device_copy<T>(inp, s.offset), w_d = device_copy<T>(weight, s.woffset);
    auto b_d = device_copy<T>(bias, s.woffset);
    OffsetBuffer<T> out_d(s.NC(), s.offset);
    OffsetBuffer<float> mean_d(N, 0), rstd_d(N, 0);
    cu::layernorm_forward<T>(out_d.get(), mean_d.get(), rstd_d.get(), inp_d.get(), w_d.get(), b_d.get(), N, C,
                             stream.get());
    check_close_t<T>(out_d.download(), out, C, label(s, "layernorm out"));
    check_close_t<T>(mean_d.download(), mean, C, label(s, "layernorm mean"), 0.0);
    check_close_t<T>(rstd_d.download(), rstd, C, label(s, "layernorm rstd"), 0.0);

    // Backward from the reference's statistics, so only the backward kernels are under test.
    const auto dout = round_to<T>(random_floats(s.NC(), rng));
    auto dinp = round_to<T>(random_floats(s.NC(), rng, -0.05f, 0.05f));  // small: the added part shows
    auto dw = random_floats(C, rng), db = random_floats(C, rng);
    auto dinp_d = device_copy<T>(dinp, s.offset), dout_d = device_copy<T>(dout, s.offset);
    auto dw_d = device_copy<float>(dw, s.woffset), db_d = device_copy<float>(db, s.woffset);
    mean_d.upload(mean);
    rstd_d.upload(rstd);
    const std::vector<float> dresidual = dinp;
    ref::layernorm_backward(dinp.data(), dw.data(), db.data(), dout.data(), inp.data(), weight.data(), mean.data(),
                            rstd.data(), N, C);
    // The split passes, input then parameters, must add up to the fused call.
    cu::layernorm_backward<T>(dinp_d.get(), nullptr, nullptr, dout_d.get(), inp_d.get(), w_d.get(), mean_d.get(),
                              rstd_d.get(), N, C, stream.get());
    cu::layernorm_backward<T>(nullptr, dw_d.get(), db_d.get(), dout_d.get(), inp_d.get(), w_d.get(), mean_d.get(),
                              rstd_d.get(), N, C, stream.get());
    const auto dinp_plus = dinp_d.download();
    check_close_t<T>(dinp_plus, dinp, C, label(s, "layernorm dinp"), 4.0);
    check_close_t<T>(dw_d.download(), dw, N, label(s, "layernorm dweight"), 0.0);
    check_close_t<T>(db_d.download(), db, N, label(s, "layernorm dbias"), 0.0);

    // The overwrite variant with the residual fused rounds once, as the += form does: equal bits,
    // out of place and in place (dinp aliasing dresidual).
    auto res_d = device_copy<T>(dresidual, s.offset);
    OffsetBuffer<T> fresh_d(s.NC(), s.offset);
    cu::layernorm_backward_residual<T>(fresh_d.get(), res_d.get(), dout_d.get(), inp_d.get(), w_d.get(), mean_d.get(),
                                       rstd_d.get(), N, C, stream.get());
    check_equal(fresh_d.download(), dinp_plus, label(s, "layernorm_backward_residual vs +="));
    cu::layernorm_backward_residual<T>(res_d.get(), res_d.get(), dout_d.get(), inp_d.get(), w_d.get(), mean_d.get(),
                                       rstd_d.get(), N, C, stream.get());
    check_equal(res_d.download(), dinp_plus, label(s, "layernorm_backward_residual in place"));
    // No residual: the += form on a zeroed buffer.
    OffsetBuffer<T> zero_d = device_copy<T>(std::vector<float>(s.NC(), 0.0f), s.offset);
    cu::layernorm_backward<T>(zero_d.get(), nullptr, nullptr, dout_d.get(), inp_d.get(), w_d.get(), mean_d.get(),
                              rstd_d.get(), N, C, stream.get());
    cu::layernorm_backward_residual<T>(fresh_d.get(), nullptr, dout_d.get(), inp_d.get(), w_d.get(), mean_d.get(),
                                       rstd_d.get(), N, C, stream.get());
    check_equal(fresh_d.download(), zero_d.download(), label(s, "layernorm_backward_residual without residual"));
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(gelu_matches_reference, T, StorageTypes) {
  cu::CudaStream stream;
  for (const std::size_t offset : {0, 1}) {
    for (const std::size_t n : {std::size_t(2001), std::size_t(1024) * 4 * 768}) {  // ragged; GPT-2's MLP
      const std::string at = " [n " + std::to_string(n) + " offset " + std::to_string(offset) + "]";
      std::mt19937 rng(13);
      const auto inp = round_to<T>(random_floats(n, rng, -4.0f, 4.0f));
      std::vector<float> out(n);
      ref::gelu_forward(out.data(), inp.data(), n);
      auto inp_d = device_copy<T>(inp, offset);
      OffsetBuffer<T> out_d(n, offset);
      cu::gelu_forward<T>(out_d.get(), inp_d.get(), n, stream.get());
      check_close_t<T>(out_d.download(), out, 1, "gelu out" + at);

      const auto dout = round_to<T>(random_floats(n, rng));
      auto dinp = round_to<T>(random_floats(n, rng));
      auto dinp_d = device_copy<T>(dinp, offset), dout_d = device_copy<T>(dout, offset);
      ref::gelu_backward(dinp.data(), inp.data(), dout.data(), n);
      cu::gelu_backward<T>(dinp_d.get(), inp_d.get(), dout_d.get(), n, stream.get());
      check_close_t<T>(dinp_d.download(), dinp, 1, "gelu dinp" + at);

      // Overwrite vs += on zeros (0 + x is exact), then in place over dout.
      auto zero_d = device_copy<T>(std::vector<float>(n, 0.0f), offset);
      OffsetBuffer<T> over_d(n, offset);
      cu::gelu_backward<T>(zero_d.get(), inp_d.get(), dout_d.get(), n, stream.get());
      cu::gelu_backward_overwrite<T>(over_d.get(), inp_d.get(), dout_d.get(), n, stream.get());
      const auto want = zero_d.download();
      check_equal(over_d.download(), want, "gelu_backward_overwrite vs +=" + at);
      cu::gelu_backward_overwrite<T>(dout_d.get(), inp_d.get(), dout_d.get(), n, stream.get());
      check_equal(dout_d.download(), want, "gelu_backward_overwrite in place" + at);
    }
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(residual_matches_reference, T, StorageTypes) {
  cu::CudaStream stream;
  for (const std::size_t offset : {0, 1}) {
    const std::size_t n = 1003;
    std::mt19937 rng(14);
    const auto a = round_to<T>(random_floats(n, rng)), b = round_to<T>(random_floats(n, rng));
    std::vector<float> out(n);
    ref::residual_forward(out.data(), a.data(), b.data(), n);
    auto a_d = device_copy<T>(a, offset), b_d = device_copy<T>(b, offset);
    OffsetBuffer<T> out_d(n, offset);
    cu::residual_forward<T>(out_d.get(), a_d.get(), b_d.get(), n, stream.get());
    check_close_t<T>(out_d.download(), out, 1, "residual out", 1.0);

    auto acc = a;
    ref::residual_accumulate(acc.data(), b.data(), n);
    cu::residual_accumulate<T>(a_d.get(), b_d.get(), n, stream.get());
    check_close_t<T>(a_d.download(), acc, 1, "residual accumulate", 1.0);
  }
}

// out = sum + residual + bias, rounded once; sum fp32 (all-reduced partials) or T; in place too.
template <typename T, typename Sum>
void check_bias_residual(const Shape& s, cu::CudaStream& stream) {
  std::mt19937 rng(16);
  const auto sum = round_to<Sum>(random_floats(s.NC(), rng)), residual = round_to<T>(random_floats(s.NC(), rng));
  const auto bias = round_to<T>(random_floats(s.C, rng));
  std::vector<float> want(s.NC());
  for (std::size_t i = 0; i < want.size(); i++) want[i] = sum[i] + residual[i] + bias[i % s.C];
  auto sum_d = device_copy<Sum>(sum, s.offset);
  auto res_d = device_copy<T>(residual, s.offset), bias_d = device_copy<T>(bias, s.woffset);
  OffsetBuffer<T> out_d(s.NC(), s.offset);
  cu::bias_residual_forward<T, Sum>(out_d.get(), sum_d.get(), res_d.get(), bias_d.get(), s.N(), s.C, stream.get());
  const auto got = out_d.download();
  check_close_t<T>(got, want, 3, label(s, "bias_residual_forward"), 1.0);
  cu::bias_residual_forward<T, Sum>(res_d.get(), sum_d.get(), res_d.get(), bias_d.get(), s.N(), s.C, stream.get());
  check_equal(res_d.download(), got, label(s, "bias_residual_forward in place"));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(bias_residual_matches_reference, T, StorageTypes) {
  cu::CudaStream stream;
  for (const Shape& s : kShapes) {
    check_bias_residual<T, float>(s, stream);
    check_bias_residual<T, T>(s, stream);
  }
}

// fp32 state throughout, so the tolerance is fp32's; the T copy must be the rounded master weight.
BOOST_AUTO_TEST_CASE_TEMPLATE(adamw_matches_reference, T, StorageTypes) {
  cu::CudaStream stream;
  for (const std::size_t offset : {0, 1}) {
    for (const std::size_t n : {std::size_t(1009), std::size_t(4096)}) {
      const std::string at = " [n " + std::to_string(n) + " offset " + std::to_string(offset) + "]";
      std::mt19937 rng(15);
      auto params = random_floats(n, rng), grads = random_floats(n, rng);
      auto m = random_floats(n, rng, -0.1f, 0.1f), v = random_floats(n, rng, 0.01f, 0.1f);
      auto p_d = device_copy<float>(params, offset), g_d = device_copy<float>(grads, offset);
      auto m_d = device_copy<float>(m, offset), v_d = device_copy<float>(v, offset);
      OffsetBuffer<T> copy_d(n, offset);
      for (int t = 1; t <= 3; t++) {
        ref::adamw_update(params.data(), grads.data(), m.data(), v.data(), n, 1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f, t);
        cu::adamw_update<T>(p_d.get(), g_d.get(), m_d.get(), v_d.get(), n, 1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f, t,
                            t == 2 ? nullptr : copy_d.get(), stream.get());  // step 2: no copy kept
      }
      using llmrt::kernels::test::check_close;
      const auto master = p_d.download();
      check_close(master, params, 16, "adamw params" + at);
      check_close(m_d.download(), m, 16, "adamw m" + at);
      check_close(v_d.download(), v, 16, "adamw v" + at);
      check_equal(copy_d.download(), round_to<T>(master), std::string("adamw copy ") + Storage<T>::kName + at);
    }
  }
}

LLMRT_CUDA_TEST_MAIN()
