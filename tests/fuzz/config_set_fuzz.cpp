// `--set key.path=value` overrides on hostile text: each line of the input is one override,
// applied to the shipped configs/local-cpu.toml and read into a Spec, as
// `llmrt check local-cpu.toml --set LINE --set LINE ...` would.
#include <fstream>
#include <iterator>
#include <vector>

#include "config/read_spec.h"
#include "fuzz_support.h"

namespace {

const std::string& base_config() {
  static const std::string path = [] {
    std::ifstream shipped(LLMRT_SOURCE_DIR "/configs/local-cpu.toml", std::ios::binary);
    const std::string text((std::istreambuf_iterator<char>(shipped)), std::istreambuf_iterator<char>());
    if (text.empty()) {
      std::fprintf(stderr, "cannot read %s\n", LLMRT_SOURCE_DIR "/configs/local-cpu.toml");
      std::abort();
    }
    return llmrt::fuzz::write_file("local-cpu.toml", text);
  }();
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace llmrt;
  std::vector<std::string> overrides;
  std::string_view rest = fuzz::as_text(data, size);
  while (!rest.empty()) {
    const auto [line, after] = fuzz::split_once(rest, "\n");
    overrides.emplace_back(line);
    rest = after;
  }
  fuzz::expect_ok_or_input_error(read_spec(base_config(), overrides), "read_spec with --set");
  return 0;
}
