// Adafactor (Shazeer & Stern 2018, "Adafactor: Adaptive Learning Rates with Sublinear Memory
// Cost") as an llmrt optimizer plugin, with torch.optim.Adafactor's (PyTorch 2.5) formulas:
// a relative step min(lr, 1/sqrt(t)) scaled by max(eps2, RMS(p)), beta2_t = 1 - t^beta2_decay,
// update clipping at d, decoupled weight decay p *= 1 - lr * weight_decay. It works per tensor on
// the host's parameter table: a matrix (the last two dimensions of a tensor of rank >= 2, both
// >= 2) keeps a factored second moment, its row and column means of g²; anything else keeps the
// full one. It needs whole tensors (RMS(p), the factors and the clip are over the tensor), so it
// declares LLMRT_OPTIMIZER_WHOLE_TENSORS and the host refuses parallel.zero = 1 for it.
//
// State: one host buffer "v" as large as the parameters. A factored tensor of (B, R, C) keeps its
// row means (B, R) then its column means (B, C) at the start of its region (R + C <= R C);
// an unfactored one keeps g² elementwise. Under tp > 1 the statistics are those of the rank's
// slice of a split tensor (this example does not all-reduce them). The host checkpoints "v" as
// if it were elementwise: resume on the same tp degree (another tp would reslice the factors).
// The host's state buffers are as large as the parameters, so the memory saving of the
// factored moment is not realised here; the update is Adafactor's.
// It computes through the op table or reads the parameter table (ABI minor 1): an older host
// refuses the file at load.
#define LLMRT_PLUGIN_MIN_HOST_MINOR 1
#include <llmrt/plugin.hpp>

#include <algorithm>
#include <cmath>
#include <string>

namespace {

using llmrt::PluginError;

// A tensor of rank >= 2 as B matrices of R x C (row-major); factored when both R, C >= 2.
struct MatrixView {
  int64_t batches = 1, rows = 1, cols = 1;
  bool factored = false;
};

MatrixView matrix_view(const llmrt_optimizer_param& p) {
  MatrixView view;
  if (p.rank < 2) return view;
  view.rows = p.shape[p.rank - 2];
  view.cols = p.shape[p.rank - 1];
  view.batches = p.numel / std::max<int64_t>(view.rows * view.cols, 1);
  view.factored = view.rows >= 2 && view.cols >= 2;
  return view;
}

class Adafactor : public llmrt::Optimizer {
 public:
  static constexpr uint32_t kFlags = LLMRT_OPTIMIZER_WHOLE_TENSORS | LLMRT_OPTIMIZER_PARAM_GROUPS;
  static std::vector<llmrt::ConfigKey> config_keys() {
    return {{"lr", LLMRT_KEY_FLOAT, "1e-2", "the largest relative step: rho_t = min(lr, 1/sqrt(t))"},
            {"beta2_decay", LLMRT_KEY_FLOAT, "-0.8", "beta2_t = 1 - t^beta2_decay (negative)"},
            {"eps1", LLMRT_KEY_FLOAT, "1.1920929e-07", "floor of the second moment's square root"},
            {"eps2", LLMRT_KEY_FLOAT, "1e-3", "floor of RMS(p) in the step size"},
            {"d", LLMRT_KEY_FLOAT, "1.0", "clipping threshold of the update's RMS"},
            {"weight_decay", LLMRT_KEY_FLOAT, "0.0", "decoupled: p *= 1 - lr * weight_decay (host resolves per tensor)"}};
  }

  explicit Adafactor(const llmrt::ComponentArgs& args)
      : beta2_decay_(args.config.get_float("beta2_decay")), eps1_(args.config.get_float("eps1")),
        eps2_(args.config.get_float("eps2")), d_(args.config.get_float("d")) {
    if (!(beta2_decay_ < 0)) throw PluginError("adafactor: beta2_decay must be negative, found " + std::to_string(beta2_decay_));
    if (!(eps1_ > 0 && eps2_ > 0 && d_ > 0)) throw PluginError("adafactor: eps1, eps2 and d must be positive");
    if (!(args.config.get_float("weight_decay") >= 0)) throw PluginError("adafactor: weight_decay must be >= 0");
  }

  std::vector<llmrt::StateSpec> state_specs() override { return {{"v", 0.0}}; }

  // params, grads, v: flat (n) f32; the table's entries each cover a whole tensor.
  void step_params(const llmrt_call_ctx&, const llmrt::OptimizerStepArgs& args) override {
    llmrt::expect_count(args.states.size(), 1, "adafactor states (v)");
    if (args.table.empty()) throw PluginError("adafactor works per tensor: it needs the host's parameter table (ABI 1.1)");
    float* p = llmrt::cpu_data<float>(args.params, "params");
    const float* g = llmrt::cpu_data<float>(args.grads, "grads");
    float* v = llmrt::cpu_data<float>(args.states[0], "v");
    const double t = static_cast<double>(args.step);
    for (const llmrt_optimizer_param& entry : args.table) {
      if (!llmrt::covers_whole(entry)) {
        throw PluginError(std::string("adafactor: got part of '") + entry.name + "': it needs whole tensors",
                          LLMRT_INTERNAL);
      }
      const int64_t at = entry.buffer_offset;
      step_tensor(entry, p + at, g + at, v + at, args.lr * entry.lr_scale, t);
    }
  }

 private:
  // p, g, v: (numel) of one tensor
  void step_tensor(const llmrt_optimizer_param& entry, float* p, const float* g, float* v, double lr, double t) const {
    const int64_t n = entry.numel;
    const double one_minus_beta2 = std::pow(t, beta2_decay_);
    const double rho = std::min(lr, 1.0 / std::sqrt(t));
    double sum_p2 = 0;
    for (int64_t i = 0; i < n; ++i) sum_p2 += double(p[i]) * p[i];
    const double alpha = std::max(eps2_, std::sqrt(sum_p2 / double(n))) * rho;
    if (entry.weight_decay != 0) {
      const float keep = static_cast<float>(1 - lr * entry.weight_decay);
      for (int64_t i = 0; i < n; ++i) p[i] *= keep;
    }
    std::vector<float> update(static_cast<size_t>(n));
    const MatrixView view = matrix_view(entry);
    if (view.factored) {
      factored_update(view, g, v, one_minus_beta2, update.data());
    } else {
      for (int64_t i = 0; i < n; ++i) {
        v[i] += static_cast<float>(one_minus_beta2) * (g[i] * g[i] - v[i]);
        update[size_t(i)] = static_cast<float>(g[i] / std::sqrt(std::max(double(v[i]), eps1_ * eps1_)));
      }
    }
    double sum_u2 = 0;
    for (float u : update) sum_u2 += double(u) * u;
    const double denom = std::max(1.0, std::sqrt(sum_u2) / (std::sqrt(double(n)) * d_));
    const float scale = static_cast<float>(alpha / denom);
    for (int64_t i = 0; i < n; ++i) p[i] -= scale * update[size_t(i)];
  }

  // g: (B, R, C); v: row means (B, R) then column means (B, C); update: (B, R, C) written
  void factored_update(const MatrixView& m, const float* g, float* v, double one_minus_beta2, float* update) const {
    const int64_t R = m.rows, C = m.cols;
    float* row_var = v;
    float* col_var = v + m.batches * R;
    const float w = static_cast<float>(one_minus_beta2);
    for (int64_t b = 0; b < m.batches; ++b) {
      const float* gb = g + b * R * C;
      float* rows = row_var + b * R;
      float* cols = col_var + b * C;
      for (int64_t r = 0; r < R; ++r) {
        double sum = 0;
        for (int64_t c = 0; c < C; ++c) sum += double(gb[r * C + c]) * gb[r * C + c];
        rows[r] += w * (static_cast<float>(sum / double(C)) - rows[r]);
      }
      for (int64_t c = 0; c < C; ++c) {
        double sum = 0;
        for (int64_t r = 0; r < R; ++r) sum += double(gb[r * C + c]) * gb[r * C + c];
        cols[c] += w * (static_cast<float>(sum / double(R)) - cols[c]);
      }
      double row_mean = 0;
      for (int64_t r = 0; r < R; ++r) row_mean += rows[r];
      row_mean = std::max(row_mean / double(R), eps1_);
      for (int64_t r = 0; r < R; ++r) {
        for (int64_t c = 0; c < C; ++c) {
          const double estimate = std::max(double(rows[r]) * cols[c] / row_mean, eps1_ * eps1_);
          update[b * R * C + r * C + c] = static_cast<float>(gb[r * C + c] / std::sqrt(estimate));
        }
      }
    }
  }

  double beta2_decay_, eps1_, eps2_, d_;
};

}  // namespace

LLMRT_PLUGIN("adafactor-example", "0.1.0") {
  registrar.add_optimizer<Adafactor>("example.adafactor", "0.1.0",
                                     "Adafactor: factored second moment per matrix, whole tensors");
}
