// `llmrt plugins test`'s verdicts: one line per check ("PASS name: detail", "FAIL name: what
// differed, where", "SKIP name: why"), and the comparison every check makes of two tensors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <span>
#include <string>
#include <vector>

namespace llmrt::plugtest {

class CheckReport {
 public:
  // `out` is null on ranks that do not print (all but rank 0 under mpirun).
  explicit CheckReport(std::ostream* out) : out_(out) {}

  void pass(const std::string& name, const std::string& detail);
  void fail(const std::string& name, const std::string& detail);
  void skip(const std::string& name, const std::string& why);
  // PASS when `ok`, else FAIL, with the same detail.
  void verdict(bool ok, const std::string& name, const std::string& detail);

  int checks() const { return passed_ + static_cast<int>(failed_.size()); }
  const std::vector<std::string>& failed() const { return failed_; }

 private:
  void line(const char* word, const std::string& name, const std::string& detail);
  std::ostream* out_;
  int passed_ = 0;
  std::vector<std::string> failed_;
};

// How far `got` is from `want`, elementwise: error_i = |got_i - want_i| / (|want_i| + scale),
// where scale = rms(want) (so that near-zero entries of a tensor are judged against the
// tensor's size, not their own), plus `floor` to keep an all-zero tensor comparable.
struct Difference {
  double max_error = 0;  // the largest error_i; +inf where either side is not finite
  double max_abs = 0;    // the largest |got_i - want_i|
  std::size_t index = 0; // where max_error is
  double got = 0, want = 0;
  std::size_t count = 0;
  bool bitwise_equal = true;
};
Difference compare(std::span<const float> got, std::span<const float> want, double floor = 1e-30);
// "max rel error 3.1e-06 (abs 2.0e-07) at element 17 (got 0.1234, expected 0.1235)"
std::string describe(const Difference& difference);

// sqrt(mean(x^2)) in double, over the finite values.
double rms(std::span<const float> values);

}  // namespace llmrt::plugtest
