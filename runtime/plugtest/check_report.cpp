#include "plugtest/check_report.h"

#include <cmath>
#include <cstring>

#include <fmt/format.h>

namespace llmrt::plugtest {

void CheckReport::line(const char* word, const std::string& name, const std::string& detail) {
  if (out_ != nullptr) *out_ << fmt::format("{} {}: {}\n", word, name, detail) << std::flush;
}

void CheckReport::pass(const std::string& name, const std::string& detail) {
  ++passed_;
  line("PASS", name, detail);
}

void CheckReport::fail(const std::string& name, const std::string& detail) {
  failed_.push_back(name);
  line("FAIL", name, detail);
}

void CheckReport::skip(const std::string& name, const std::string& why) { line("SKIP", name, why); }

void CheckReport::verdict(bool ok, const std::string& name, const std::string& detail) {
  if (ok) pass(name, detail);
  else fail(name, detail);
}

double rms(std::span<const float> values) {
  if (values.empty()) return 0;
  // Over the finite values: one NaN must not make every other comparison NaN too.
  double sum = 0;
  std::size_t count = 0;
  for (float v : values) {
    if (std::isfinite(v)) sum += static_cast<double>(v) * v, ++count;
  }
  return count == 0 ? 0 : std::sqrt(sum / static_cast<double>(count));
}

Difference compare(std::span<const float> got, std::span<const float> want, double floor) {
  Difference d;
  d.count = std::min(got.size(), want.size());
  d.bitwise_equal = got.size() == want.size() && std::memcmp(got.data(), want.data(), got.size_bytes()) == 0;
  const double scale = rms(want) + floor;
  for (std::size_t i = 0; i < d.count; ++i) {
    const double g = got[i], w = want[i];
    const bool same_bits = std::memcmp(&got[i], &want[i], sizeof(float)) == 0;  // a NaN equals itself here
    const double abs = same_bits ? 0 : std::fabs(g - w);
    const double error = same_bits ? 0 : std::isfinite(g) && std::isfinite(w) ? abs / (std::fabs(w) + scale) : INFINITY;
    if (error > d.max_error || (i == 0 && !(error <= d.max_error))) {
      d.max_error = error, d.index = i, d.got = g, d.want = w;
    }
    if (std::isfinite(abs)) d.max_abs = std::max(d.max_abs, abs);
  }
  return d;
}

std::string describe(const Difference& d) {
  if (d.count == 0) return "no elements";
  return fmt::format("max rel error {:.2e} (abs {:.2e}) at element {} (got {:.7g}, expected {:.7g})", d.max_error,
                     d.max_abs, d.index, d.got, d.want);
}

}  // namespace llmrt::plugtest
