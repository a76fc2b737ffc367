// adamw, sgd and the lr schedules through the real loader and C ABI, against PyTorch's update
// formulas (torch.optim.AdamW, torch.optim.SGD) and nanoGPT's get_lr, computed here in double.
#define BOOST_TEST_MODULE plugins_optim_lr
#include "plugins/plugins_test_support.h"

using namespace plugins_test;

namespace {

constexpr int kSteps = 3;
constexpr size_t kN = 37;  // odd, not a multiple of any vector width
// fp32 parameters against a double reference over 3 steps.
constexpr double kTol = 1e-5;

struct Run {
  std::vector<float> params;
  std::vector<std::vector<float>> grads;  // one per step
};

Run make_run(std::mt19937& rng) {
  Run run{random_floats(kN, -1, 1, rng), {}};
  for (int s = 0; s < kSteps; ++s) run.grads.push_back(random_floats(kN, -2, 2, rng));
  return run;
}

// Steps `name` configured with `values` over run's gradients at lr; returns the parameters.
std::vector<float> run_optimizer(const Registry& registry, const std::string& name,
                                 const std::map<std::string, ParamValue>& values, Run run, double lr,
                                 size_t expected_states) {
  const Component& component = find_component(registry, name);
  auto config = resolve_component_config(component, spec_with(name, values));
  BOOST_REQUIRE_MESSAGE(config.ok(), (config.ok() ? "" : config.error().message()));
  auto optimizer = create_optimizer(component, *config);
  BOOST_REQUIRE(optimizer.ok());
  auto specs = optimizer_state_specs(*optimizer);
  BOOST_REQUIRE(specs.ok());
  BOOST_REQUIRE(specs->size() == expected_states);
  std::vector<std::vector<float>> states(expected_states);
  for (size_t i = 0; i < expected_states; ++i) states[i].assign(kN, float((*specs)[i].init_value));
  llmrt_call_ctx ctx = cpu_ctx();
  for (int s = 0; s < kSteps; ++s) {
    llmrt_tensor p = f32(run.params, {int64_t(kN)}), g = f32(run.grads[s], {int64_t(kN)});
    std::vector<llmrt_tensor> st;
    for (auto& state : states) st.push_back(f32(state, {int64_t(kN)}));
    Status status = optimizer_step(*optimizer, ctx, p, g, st, lr, s + 1);
    BOOST_REQUIRE_MESSAGE(status.ok(), (status.ok() ? "" : status.error().message()));
  }
  return run.params;
}

void check_close(const std::vector<float>& got, const std::vector<double>& want) {
  std::vector<double> g(got.begin(), got.end());
  Mismatch m = compare(g, want, kTol, kTol);
  BOOST_TEST(m.worst <= 1.0, "element " << m.index << ": got " << g[m.index] << ", want " << want[m.index]);
}

double lr_at(const Registry& registry, const std::string& name, const std::map<std::string, ParamValue>& values,
             int64_t step, int64_t total, double base) {
  const Component& component = find_component(registry, name);
  auto config = resolve_component_config(component, spec_with(name, values));
  BOOST_REQUIRE_MESSAGE(config.ok(), (config.ok() ? "" : config.error().message()));
  auto schedule = create_lr_schedule(component, *config);
  BOOST_REQUIRE(schedule.ok());
  auto lr = lr_schedule_lr_at(*schedule, step, total, base);
  BOOST_REQUIRE(lr.ok());
  return *lr;
}

}  // namespace

BOOST_AUTO_TEST_CASE(adamw_matches_torch_for_three_steps) {
  Registry registry = load_builtin_plugins();
  std::mt19937 rng(11);
  const Run run = make_run(rng);
  const double lr = 0.01, b1 = 0.8, b2 = 0.95, eps = 1e-6, wd = 0.1;
  std::vector<float> got = run_optimizer(
      registry, "adamw", {{"betas", std::vector<double>{b1, b2}}, {"eps", eps}, {"weight_decay", wd}}, run, lr, 2);
  std::vector<double> want(run.params.begin(), run.params.end());
  for (size_t i = 0; i < kN; ++i) {
    double m = 0, v = 0;
    for (int t = 1; t <= kSteps; ++t) {
      const double g = run.grads[t - 1][i];
      want[i] *= 1 - lr * wd;  // torch.optim.AdamW: decay first, decoupled from the moments
      m = b1 * m + (1 - b1) * g;
      v = b2 * v + (1 - b2) * g * g;
      const double m_hat = m / (1 - std::pow(b1, t)), v_hat = v / (1 - std::pow(b2, t));
      want[i] -= lr * m_hat / (std::sqrt(v_hat) + eps);
    }
  }
  check_close(got, want);
}

BOOST_AUTO_TEST_CASE(adamw_defaults_and_bad_betas) {
  Registry registry = load_builtin_plugins();
  const Component& adamw = find_component(registry, "adamw");
  auto defaults = resolve_default_config(adamw);
  BOOST_REQUIRE(defaults.ok());
  BOOST_TEST(std::string(defaults->get()->values[0].name) == "lr");
  BOOST_TEST(defaults->get()->values[0].number == 3e-4);
  auto bad = resolve_component_config(adamw, spec_with("adamw", {{"betas", std::vector<double>{0.9}}}));
  BOOST_REQUIRE(bad.ok());
  auto refused = create_optimizer(adamw, *bad);
  BOOST_REQUIRE(!refused.ok());
  BOOST_TEST(refused.error().message().find("betas must hold 2 values") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(sgd_matches_torch_for_three_steps) {
  Registry registry = load_builtin_plugins();
  std::mt19937 rng(12);
  const Run run = make_run(rng);
  const double lr = 0.05, momentum = 0.9, wd = 0.01;
  std::vector<float> got =
      run_optimizer(registry, "sgd", {{"momentum", momentum}, {"weight_decay", wd}}, run, lr, 1);
  std::vector<double> want(run.params.begin(), run.params.end());
  for (size_t i = 0; i < kN; ++i) {
    double buffer = 0;
    for (int t = 1; t <= kSteps; ++t) {
      const double d = run.grads[t - 1][i] + wd * want[i];   // L2 in the gradient
      buffer = t == 1 ? d : momentum * buffer + d;           // torch: buf = clone(d) at step 1
      want[i] -= lr * buffer;
    }
  }
  check_close(got, want);

  // Without momentum: no state, plain p -= lr * (g + wd p).
  std::vector<float> plain = run_optimizer(registry, "sgd", {{"lr", lr}}, run, lr, 0);
  std::vector<double> want_plain(run.params.begin(), run.params.end());
  for (size_t i = 0; i < kN; ++i) {
    for (int t = 0; t < kSteps; ++t) want_plain[i] -= lr * run.grads[t][i];
  }
  check_close(plain, want_plain);
}

BOOST_AUTO_TEST_CASE(every_optimizer_declares_lr) {
  Registry registry = load_builtin_plugins();
  for (const char* name : {"adamw", "sgd"}) {
    auto config = resolve_default_config(find_component(registry, name));
    BOOST_REQUIRE(config.ok());
    bool found = false;
    for (size_t i = 0; i < config->get()->count; ++i) found |= std::string(config->get()->values[i].name) == "lr";
    BOOST_TEST(found, name);
  }
}

BOOST_AUTO_TEST_CASE(constant_schedule) {
  Registry registry = load_builtin_plugins();
  BOOST_TEST(lr_at(registry, "constant", {}, 1, 100, 0.3) == 0.3);
  BOOST_TEST(lr_at(registry, "constant", {}, 100, 100, 0.3) == 0.3);
}

// nanoGPT's get_lr with steps from 1: warmup lr*step/warmup, cosine to min_lr at total_steps.
BOOST_AUTO_TEST_CASE(cosine_schedule_at_warmup_middle_and_end) {
  Registry registry = load_builtin_plugins();
  const std::map<std::string, ParamValue> keys = {{"warmup_steps", std::int64_t{10}}, {"min_lr", 0.06}};
  const double base = 0.6, min_lr = 0.06;
  auto tol = boost::test_tools::tolerance(1e-12);
  BOOST_TEST(lr_at(registry, "cosine", keys, 1, 110, base) == base * 1 / 10, tol);
  BOOST_TEST(lr_at(registry, "cosine", keys, 5, 110, base) == base * 5 / 10, tol);
  BOOST_TEST(lr_at(registry, "cosine", keys, 10, 110, base) == base, tol);
  BOOST_TEST(lr_at(registry, "cosine", keys, 60, 110, base) == min_lr + 0.5 * (base - min_lr), tol);
  const double quarter = 0.5 * (1 + std::cos(M_PI * 25.0 / 100.0));
  BOOST_TEST(lr_at(registry, "cosine", keys, 35, 110, base) == min_lr + quarter * (base - min_lr), tol);
  BOOST_TEST(lr_at(registry, "cosine", keys, 110, 110, base) == min_lr, tol);
  BOOST_TEST(lr_at(registry, "cosine", keys, 150, 110, base) == min_lr, tol);
  BOOST_TEST(lr_at(registry, "cosine", {}, 1, 110, base) == base * std::cos(M_PI / 110 / 2) * std::cos(M_PI / 110 / 2),
             tol);  // no warmup: 0.5 (1 + cos(pi/110)) = cos^2(pi/220)
}

BOOST_AUTO_TEST_CASE(wsd_schedule_at_warmup_middle_and_end) {
  Registry registry = load_builtin_plugins();
  const double base = 1.0, min_lr = 0.1;
  auto tol = boost::test_tools::tolerance(1e-12);
  // decay_steps 0: the last 10% of 100 steps, from step 90.
  const std::map<std::string, ParamValue> keys = {{"warmup_steps", std::int64_t{10}}, {"min_lr", min_lr}};
  BOOST_TEST(lr_at(registry, "wsd", keys, 4, 100, base) == 0.4, tol);
  BOOST_TEST(lr_at(registry, "wsd", keys, 50, 100, base) == base, tol);
  BOOST_TEST(lr_at(registry, "wsd", keys, 90, 100, base) == base, tol);
  BOOST_TEST(lr_at(registry, "wsd", keys, 95, 100, base) == base + (min_lr - base) * 0.5, tol);
  BOOST_TEST(lr_at(registry, "wsd", keys, 100, 100, base) == min_lr, tol);
  const std::map<std::string, ParamValue> explicit_decay = {
      {"warmup_steps", std::int64_t{10}}, {"decay_steps", std::int64_t{40}}, {"min_lr", min_lr}};
  BOOST_TEST(lr_at(registry, "wsd", explicit_decay, 60, 100, base) == base, tol);
  BOOST_TEST(lr_at(registry, "wsd", explicit_decay, 70, 100, base) == base + (min_lr - base) * 0.25, tol);
}
