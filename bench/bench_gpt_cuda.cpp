// Times one GPT-2 training step (forward, backward, AdamW) of the whole layer stack with llmrt's
// CUDA kernels, bf16 activations and fp32 master weights, on random tokens; prints tokens/s and
// MFU with the same FLOP count as bench/torch_gpt_ref.py, so the two lines compare directly.
// As llm.c: the vocabulary padded for the GEMMs (50257 real classes in rows of 50304), GELU
// fused into the MLP's matmuls, and overwrite kernels where a buffer has one producer, so the
// backward pass zeroes nothing but the fp32 parameter gradients.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <random>
#include <vector>

#include "cuda/kernels_cuda.h"

namespace cu = llmrt::kernels::cuda;
using cu::bf16;
using cu::DeviceBuffer;

namespace {

struct Config {
  int layers = 12, C = 768, NH = 12, T = 1024, V = 50257, Vp = 0, B = 16, steps = 20, warmup = 3;
  double peak_tflops = 0.0;
};

// Offsets of every parameter tensor in the flat buffers, each rounded up to 128 elements so
// every bf16 weight starts 256-byte aligned, as cuBLASLt's fastest kernels want.
struct LayerParams {
  std::size_t ln1w, ln1b, qkvw, qkvb, projw, projb, ln2w, ln2b, fcw, fcb, fc2w, fc2b;
};
struct ParamLayout {
  std::size_t wte, wpe, lnfw, lnfb, total = 0;
  std::vector<LayerParams> layers;
  std::vector<std::size_t> ln_weights;  // initialised to 1, not random
  std::size_t count = 0;                // parameters proper, without alignment padding
};

ParamLayout layout_params(const Config& c) {
  ParamLayout p;
  auto take = [&p](std::size_t n) {
    const std::size_t at = p.total;
    p.total += (n + 127) / 128 * 128;
    p.count += n;
    return at;
  };
  const std::size_t C = c.C;
  p.wte = take(std::size_t(c.Vp) * C);  // padded rows: their logits never enter the loss
  p.wpe = take(std::size_t(c.T) * C);
  for (int l = 0; l < c.layers; l++) {
    LayerParams lp{};
    lp.ln1w = take(C), lp.ln1b = take(C), lp.qkvw = take(3 * C * C), lp.qkvb = take(3 * C);
    lp.projw = take(C * C), lp.projb = take(C), lp.ln2w = take(C), lp.ln2b = take(C);
    lp.fcw = take(4 * C * C), lp.fcb = take(4 * C), lp.fc2w = take(4 * C * C), lp.fc2b = take(C);
    p.ln_weights.insert(p.ln_weights.end(), {lp.ln1w, lp.ln2w});
    p.layers.push_back(lp);
  }
  p.lnfw = take(C), p.lnfb = take(C);
  p.ln_weights.push_back(p.lnfw);
  return p;
}

// Saved forward activations of one layer, bf16 unless noted. res is the layer's input.
struct LayerActs {
  DeviceBuffer<bf16> res, ln1, qkv, atty, res2, ln2, fch, gelu;
  DeviceBuffer<float> ln1_mean, ln1_rstd, lse, ln2_mean, ln2_rstd;
  LayerActs(std::size_t N, std::size_t C, std::size_t BNT)
      : res(N * C), ln1(N * C), qkv(3 * N * C), atty(N * C), res2(N * C), ln2(N * C), fch(4 * N * C),
        gelu(4 * N * C), ln1_mean(N), ln1_rstd(N), lse(BNT), ln2_mean(N), ln2_rstd(N) {}
};

struct Model {
  Config cfg;
  ParamLayout lay;
  DeviceBuffer<float> master, grads, m, v;
  DeviceBuffer<bf16> params;
  std::vector<LayerActs> acts;
  DeviceBuffer<bf16> final_res, lnf, logits, d_res, d_a, d_b;  // d_*: scratch gradients
  DeviceBuffer<float> lnf_mean, lnf_rstd, losses, ce_lse;
  DeviceBuffer<unsigned char> attn_scratch;  // attention_backward's, 256-byte aligned (cudaMalloc)
  DeviceBuffer<std::int32_t> tokens, targets;
};

Model build_model(const Config& c) {
  Model mdl;
  mdl.cfg = c;
  mdl.lay = layout_params(c);
  const std::size_t N = std::size_t(c.B) * c.T, C = c.C, total = mdl.lay.total;
  std::vector<float> host(total);
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  for (float& x : host) x = normal(rng);
  for (std::size_t at : mdl.lay.ln_weights) std::fill_n(host.begin() + at, C, 1.0f);
  mdl.master = DeviceBuffer<float>(total), mdl.grads = DeviceBuffer<float>(total);
  mdl.m = DeviceBuffer<float>(total), mdl.v = DeviceBuffer<float>(total);
  mdl.params = DeviceBuffer<bf16>(total);
  mdl.master.upload(host.data(), total);
  LLMRT_CUDA_CHECK(cudaMemset(mdl.m.get(), 0, mdl.m.bytes()));
  LLMRT_CUDA_CHECK(cudaMemset(mdl.v.get(), 0, mdl.v.bytes()));
  cu::float_to_bf16(mdl.params.get(), mdl.master.get(), total, nullptr);
  for (int l = 0; l < c.layers; l++) mdl.acts.emplace_back(N, C, std::size_t(c.B) * c.NH * c.T);
  mdl.final_res = DeviceBuffer<bf16>(N * C), mdl.lnf = DeviceBuffer<bf16>(N * C);
  mdl.logits = DeviceBuffer<bf16>(N * c.Vp);
  mdl.attn_scratch = DeviceBuffer<unsigned char>(cu::attention_backward_scratch_bytes(c.B, c.T, c.C, c.NH));
  mdl.d_res = DeviceBuffer<bf16>(N * C), mdl.d_a = DeviceBuffer<bf16>(4 * N * C), mdl.d_b = DeviceBuffer<bf16>(4 * N * C);
  mdl.lnf_mean = DeviceBuffer<float>(N), mdl.lnf_rstd = DeviceBuffer<float>(N);
  mdl.losses = DeviceBuffer<float>(N), mdl.ce_lse = DeviceBuffer<float>(N);
  std::vector<std::int32_t> tok(N + 1);
  std::uniform_int_distribution<int> pick(0, c.V - 1);
  for (auto& t : tok) t = pick(rng);
  mdl.tokens = DeviceBuffer<std::int32_t>(N), mdl.targets = DeviceBuffer<std::int32_t>(N);
  mdl.tokens.upload(tok.data(), N);
  mdl.targets.upload(tok.data() + 1, N);
  LLMRT_CUDA_CHECK(cudaDeviceSynchronize());
  return mdl;
}

void forward(Model& md, cu::GemmContext& g, cudaStream_t s) {
  const Config& c = md.cfg;
  const int N = c.B * c.T, C = c.C;
  const bf16* P = md.params.get();
  cu::encoder_forward(md.acts[0].res.get(), md.tokens.get(), P + md.lay.wte, P + md.lay.wpe, c.B, c.T, C, s);
  for (int l = 0; l < c.layers; l++) {
    LayerActs& a = md.acts[l];
    const LayerParams& w = md.lay.layers[l];
    bf16* next = l + 1 < c.layers ? md.acts[l + 1].res.get() : md.final_res.get();
    cu::layernorm_forward(a.ln1.get(), a.ln1_mean.get(), a.ln1_rstd.get(), a.res.get(), P + w.ln1w, P + w.ln1b, N, C, s);
    cu::matmul_forward(a.qkv.get(), a.ln1.get(), P + w.qkvw, P + w.qkvb, N, C, 3 * C, g, s);
    cu::attention_forward(a.atty.get(), a.lse.get(), a.qkv.get(), c.B, c.T, C, c.NH, s);
    cu::matmul_forward(md.d_a.get(), a.atty.get(), P + w.projw, P + w.projb, N, C, C, g, s);
    cu::residual_forward(a.res2.get(), a.res.get(), md.d_a.get(), std::size_t(N) * C, s);
    cu::layernorm_forward(a.ln2.get(), a.ln2_mean.get(), a.ln2_rstd.get(), a.res2.get(), P + w.ln2w, P + w.ln2b, N, C, s);
    cu::matmul_forward_gelu(a.gelu.get(), a.fch.get(), a.ln2.get(), P + w.fcw, P + w.fcb, N, C, 4 * C, g, s);
    cu::matmul_forward(md.d_a.get(), a.gelu.get(), P + w.fc2w, P + w.fc2b, N, 4 * C, C, g, s);
    cu::residual_forward(next, a.res2.get(), md.d_a.get(), std::size_t(N) * C, s);
  }
  cu::layernorm_forward(md.lnf.get(), md.lnf_mean.get(), md.lnf_rstd.get(), md.final_res.get(), P + md.lay.lnfw,
                        P + md.lay.lnfb, N, C, s);
  cu::matmul_forward<bf16>(md.logits.get(), md.lnf.get(), P + md.lay.wte, nullptr, N, C, c.Vp, g, s);  // tied head
  cu::crossentropy_forward(md.losses.get(), md.ce_lse.get(), md.logits.get(), md.targets.get(), N, c.V, c.Vp, s);
}

// Input gradient WRITTEN, then the fp32 weight gradients added: one linear's backward.
void linear_backward(bf16* dinp, float* dweight, float* dbias, const bf16* dout, const bf16* inp, const bf16* weight,
                     int N, int C, int OC, cu::GemmContext& g, cudaStream_t s) {
  cu::matmul_backward_input(dinp, dout, weight, N, C, OC, g, s, /*accumulate=*/false);
  cu::matmul_backward_weight(dweight, dbias, dout, inp, N, C, OC, g, s);
}

// A layernorm's backward: dres (N, C) = dres + d(LN)/d(inp) in place (the residual stream's
// gradient), then its weight gradients.
void layernorm_backward_into(bf16* dres, const bf16* dres_in, float* dweight, float* dbias, const bf16* dout,
                             const bf16* inp, const bf16* weight, const float* mean, const float* rstd, int N, int C,
                             cudaStream_t s) {
  cu::layernorm_backward_residual(dres, dres_in, dout, inp, weight, mean, rstd, N, C, s);
  cu::layernorm_backward<bf16>(nullptr, dweight, dbias, dout, inp, weight, mean, rstd, N, C, s);
}

// d_res carries the residual stream's gradient down the stack; d_a and d_b are per-op scratch,
// each written before it is read (no memsets).
void backward(Model& md, cu::GemmContext& g, cudaStream_t s) {
  const Config& c = md.cfg;
  const int N = c.B * c.T, C = c.C;
  const bf16* P = md.params.get();
  float* G = md.grads.get();
  bf16 *dres = md.d_res.get(), *da = md.d_a.get(), *db = md.d_b.get();
  LLMRT_CUDA_CHECK(cudaMemsetAsync(G, 0, md.grads.bytes(), s));  // parameter gradients accumulate (+=)
  cu::crossentropy_backward(md.logits.get(), md.logits.get(), md.ce_lse.get(), md.targets.get(), 1.0f, nullptr, N,
                            c.V, c.Vp, s);
  linear_backward(da, G + md.lay.wte, nullptr, md.logits.get(), md.lnf.get(), P + md.lay.wte, N, C, c.Vp, g, s);
  layernorm_backward_into(dres, nullptr, G + md.lay.lnfw, G + md.lay.lnfb, da, md.final_res.get(), P + md.lay.lnfw,
                          md.lnf_mean.get(), md.lnf_rstd.get(), N, C, s);
  for (int l = c.layers - 1; l >= 0; l--) {
    LayerActs& a = md.acts[l];
    const LayerParams& w = md.lay.layers[l];
    // MLP: db (N, 4C) = (dres @ fc2w) * gelu'(fch), then fc2's weights; fc's backward into da.
    cu::matmul_backward_input_gelu(db, dres, P + w.fc2w, a.fch.get(), N, 4 * C, C, g, s);
    cu::matmul_backward_weight(G + w.fc2w, G + w.fc2b, dres, a.gelu.get(), N, 4 * C, C, g, s);
    linear_backward(da, G + w.fcw, G + w.fcb, db, a.ln2.get(), P + w.fcw, N, C, 4 * C, g, s);
    layernorm_backward_into(dres, dres, G + w.ln2w, G + w.ln2b, da, a.res2.get(), P + w.ln2w, a.ln2_mean.get(),
                            a.ln2_rstd.get(), N, C, s);
    // Attention: proj into da, attention into db (N, 3C), qkv into da, ln1 into dres.
    linear_backward(da, G + w.projw, G + w.projb, dres, a.atty.get(), P + w.projw, N, C, C, g, s);
    cu::attention_backward(db, da, a.qkv.get(), a.atty.get(), a.lse.get(), md.attn_scratch.get(), c.B, c.T, C, c.NH,
                           s);
    linear_backward(da, G + w.qkvw, G + w.qkvb, db, a.ln1.get(), P + w.qkvw, N, C, 3 * C, g, s);
    layernorm_backward_into(dres, dres, G + w.ln1w, G + w.ln1b, da, a.res.get(), P + w.ln1w, a.ln1_mean.get(),
                            a.ln1_rstd.get(), N, C, s);
  }
  cu::encoder_backward(G + md.lay.wte, G + md.lay.wpe, dres, md.tokens.get(), c.B, c.T, C, s);
}

float mean_loss(const Model& md) {
  std::vector<float> losses(md.losses.size());
  md.losses.download(losses.data(), losses.size());
  double sum = 0.0;
  for (float x : losses) sum += x;
  return float(sum / losses.size());
}

}  // namespace

int main(int argc, char** argv) {
  Config c;
  CLI::App app{"GPT-2 training-step throughput with llmrt's CUDA kernels"};
  app.add_option("--layers", c.layers);
  app.add_option("--d-model", c.C);
  app.add_option("--heads", c.NH);
  app.add_option("--seq", c.T);
  app.add_option("--vocab", c.V, "real classes (targets and tokens are drawn below it)");
  app.add_option("--vocab-padded", c.Vp,
                 "rows of the embedding and logits, >= --vocab (default: --vocab rounded up to 128)");
  app.add_option("--batch", c.B);
  app.add_option("--steps", c.steps);
  app.add_option("--warmup", c.warmup);
  app.add_option("--peak-tflops", c.peak_tflops, "device peak for bf16, to report MFU");
  CLI11_PARSE(app, argc, argv);
  if (c.Vp == 0) c.Vp = (c.V + 127) / 128 * 128;
  if (c.Vp < c.V) {
    std::fprintf(stderr, "bench_gpt_cuda: --vocab-padded %d: expected >= --vocab %d\n", c.Vp, c.V);
    return 2;
  }
  if (cu::cuda_device_count() == 0) {
    std::printf("no CUDA device: skipping\n");
    return 77;
  }
  try {
    cu::CudaContext ctx;
    Model md = build_model(c);
    std::printf("params %zu, B %d, T %d\n", md.lay.count, c.B, c.T);
    std::printf("vocabulary %d padded to %d\n", c.V, c.Vp);
    cudaEvent_t start, stop;
    LLMRT_CUDA_CHECK(cudaEventCreate(&start));
    LLMRT_CUDA_CHECK(cudaEventCreate(&stop));
    std::vector<float> ms;
    for (int step = 1; step <= c.warmup + c.steps; step++) {
      LLMRT_CUDA_CHECK(cudaEventRecord(start, ctx.stream()));
      forward(md, ctx.gemm(), ctx.stream());
      backward(md, ctx.gemm(), ctx.stream());
      cu::adamw_update(md.master.get(), md.grads.get(), md.m.get(), md.v.get(), md.lay.total, 3e-4f, 0.9f, 0.95f,
                       1e-8f, 0.1f, step, md.params.get(), ctx.stream());
      LLMRT_CUDA_CHECK(cudaEventRecord(stop, ctx.stream()));
      LLMRT_CUDA_CHECK(cudaEventSynchronize(stop));
      float t = 0.0f;
      LLMRT_CUDA_CHECK(cudaEventElapsedTime(&t, start, stop));
      if (step > c.warmup) ms.push_back(t);
      if (step == 1 || step == c.warmup + c.steps) std::printf("step %d loss %.4f %.1f ms\n", step, mean_loss(md), t);
    }
    std::sort(ms.begin(), ms.end());
    const double med_s = ms[ms.size() / 2] / 1e3;
    const double flops_per_token = 6.0 * md.lay.count + 12.0 * c.layers * c.C * c.T;  // as torch_gpt_ref.py
    const double tflops = flops_per_token * c.B * c.T / med_s / 1e12;
    std::printf("gemm fallback calls: %zu\n", ctx.gemm().fallback_calls());
    std::printf("{\"tokens_per_s\": %.0f, \"step_ms_median\": %.2f, \"model_tflops\": %.1f, \"mfu\": %.4f}\n",
                c.B * c.T / med_s, med_s * 1e3, tflops, c.peak_tflops > 0 ? tflops / c.peak_tflops : 0.0);
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_gpt_cuda: %s\n", e.what());
    return 1;
  }
  return 0;
}
