// The checkpoint readers on hostile files: byte 0 of the input chooses the reader, the rest is
// the file. Even: a safetensors file (SafetensorsFile::open, then every tensor read as bytes
// and widened to fp32, as resume and init_from do). Odd: a manifest.json (parse_manifest; an
// accepted manifest must write back to text that parses to the same manifest).
#include "ckpt/manifest.h"
#include "ckpt/safetensors.h"
#include "fuzz_support.h"

namespace {

void read_safetensors(std::string_view bytes) {
  using namespace llmrt;
  const std::string path = fuzz::write_file("model.safetensors", bytes);
  auto file = SafetensorsFile::open(path);
  fuzz::expect_ok_or_input_error(file, "SafetensorsFile::open");
  if (!file.ok()) return;
  for (const auto& [name, entry] : file->entries()) {
    auto raw = file->bytes(name);
    if (!raw.ok() || raw->size() != entry.end - entry.begin) std::abort();
    auto values = file->read_f32(name);
    fuzz::expect_ok_or_input_error(values, "SafetensorsFile::read_f32");
    if (values.ok() && values->size() != static_cast<std::size_t>(entry.elements())) std::abort();
  }
}

void read_manifest_text(std::string_view text) {
  using namespace llmrt;
  auto manifest = parse_manifest(std::string(text), "manifest.json");
  fuzz::expect_ok_or_input_error(manifest, "parse_manifest");
  if (!manifest.ok()) return;
  const std::string written = manifest_json(*manifest);
  auto again = parse_manifest(written, "manifest.json (written back)");
  if (!again.ok() || manifest_json(*again) != written) {
    std::fprintf(stderr, "an accepted manifest does not survive writing back: %s\n",
                 again.ok() ? "the text differs" : again.error().message().c_str());
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view file = llmrt::fuzz::as_text(data + 1, size - 1);
  if (data[0] % 2 == 0) {
    read_safetensors(file);
  } else {
    read_manifest_text(file);
  }
  return 0;
}
