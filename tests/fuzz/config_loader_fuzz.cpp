// The config loader (TOML → Spec, includes resolved) on hostile text. The input is a main file
// and, after a line "#--- inc.toml", a second file beside it that the main file may include
// (include = ["inc.toml"]); read_spec reads them as `llmrt check main.toml` would.
#include "config/read_spec.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace llmrt;
  const auto [main_text, include_text] = fuzz::split_once(fuzz::as_text(data, size), "\n#--- inc.toml\n");
  const std::string main_path = fuzz::write_file("main.toml", main_text);
  fuzz::write_file("inc.toml", include_text);
  fuzz::expect_ok_or_input_error(read_spec(main_path), "read_spec");
  return 0;
}
