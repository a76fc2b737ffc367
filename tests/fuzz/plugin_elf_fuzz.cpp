// The checks a plugin file meets before dlopen runs any of its code, on hostile bytes: the
// input is the file (check_elf_file), and its bytes also fill a plugin identity
// (check_plugin_identity): the numeric fields from bytes 0-15, then name, version and build id
// as NUL-separated strings from byte 16 on, register_components set when byte 16 is odd.
#include <cstring>
#include <vector>

#include "fuzz_support.h"
#include "plugin/plugin_identity.h"

namespace {

llmrt_status* register_nothing(const llmrt_host_api*, llmrt_registrar*) { return nullptr; }

// The next NUL-terminated string of `text` from `at` (the rest when there is no NUL), or NULL past the end.
const char* next_string(const std::vector<char>& text, std::size_t& at) {
  if (at >= text.size()) return nullptr;
  const char* begin = text.data() + at;
  at += std::strlen(begin) + 1;
  return begin;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace llmrt;
  const std::string path = fuzz::write_file("plugin.so", fuzz::as_text(data, size));
  fuzz::expect_ok_or_input_error(check_elf_file(path), "check_elf_file");
  if (size < 16) return 0;
  llmrt_plugin_identity identity{};
  std::memcpy(&identity.magic, data, 4);
  std::memcpy(&identity.struct_size, data + 4, 4);
  std::memcpy(&identity.abi_major, data + 8, 2);
  std::memcpy(&identity.abi_minor, data + 10, 2);
  std::memcpy(&identity.min_host_minor, data + 12, 2);
  std::memcpy(&identity.pointer_size, data + 14, 2);
  std::vector<char> strings(data + 16, data + size);
  strings.push_back('\0');  // the last string ends inside the buffer
  std::size_t at = 0;
  identity.name = next_string(strings, at);
  identity.version = next_string(strings, at);
  identity.build_id = next_string(strings, at);
  identity.register_components = size > 16 && (data[16] & 1) ? register_nothing : nullptr;
  fuzz::expect_ok_or_input_error(check_plugin_identity(&identity), "check_plugin_identity");
  return 0;
}
