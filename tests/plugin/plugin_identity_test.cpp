// The ELF pre-check before dlopen and the identity check (plugin/plugin_identity.h): a real
// plugin passes; copies of it made wrong in one field each are refused by load_plugin_file
// before dlopen, naming the field, what was expected and what was found.
#define BOOST_TEST_MODULE plugin_identity
#include <boost/test/unit_test.hpp>

#include <elf.h>
#include <sys/stat.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "plugin/plugin_identity.h"
#include "plugin/plugin_loader.h"
#include "support/process.h"

namespace fs = std::filesystem;

namespace {

std::string good_plugin_bytes() {
  for (const auto& entry : fs::directory_iterator(std::string(PLUGIN_FIXTURE_DIR) + "/c_good")) {
    if (entry.path().extension() == ".so") {
      std::ifstream file(entry.path(), std::ios::binary);
      return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
    }
  }
  BOOST_FAIL("fixture c_good was not built");
  return "";
}

// Writes `bytes` as dir/name.so (mode 0644) and expects load_plugin_file to refuse it with every part.
void expect_refused(const llmrt::test::TempDir& dir, const std::string& name, const std::string& bytes,
                    std::initializer_list<std::string> parts) {
  const std::string path = dir.write(name + ".so", bytes);
  ::chmod(path.c_str(), 0644);
  llmrt::Registry registry;
  const llmrt::Status status = llmrt::load_plugin_file(registry, path, {});
  BOOST_REQUIRE_MESSAGE(!status.ok(), name << ": expected a refusal");
  BOOST_TEST(status.error().exit_code() == 2);
  for (const std::string& part : parts) {
    BOOST_TEST(status.error().message().find(part) != std::string::npos, "'" << part << "' in " << status.error().message());
  }
  BOOST_TEST(registry.plugins().empty());
}

Elf64_Ehdr& header_of(std::string& bytes) { return *reinterpret_cast<Elf64_Ehdr*>(bytes.data()); }

}  // namespace

BOOST_AUTO_TEST_CASE(a_real_plugin_passes_the_elf_check) {
  llmrt::test::TempDir dir("plugin_elf_good");
  const std::string path = dir.write("good.so", good_plugin_bytes());
  const llmrt::Status status = llmrt::check_elf_file(path);
  BOOST_TEST(status.ok(), (status.ok() ? "" : status.error().message()));
}

BOOST_AUTO_TEST_CASE(wrong_elf_fields_are_refused_before_dlopen) {
  llmrt::test::TempDir dir("plugin_elf_bad");
  const std::string good = good_plugin_bytes();
  BOOST_REQUIRE(good.size() > 4096);

  std::string arm = good;
  header_of(arm).e_machine = EM_AARCH64;
  expect_refused(dir, "arm", arm, {"arm.so", "ELF machine: expected 62 (x86-64)", "found 183 (AArch64)"});
  std::string executable = good;
  header_of(executable).e_type = ET_EXEC;
  expect_refused(dir, "exec", executable, {"ELF type: expected 3 (ET_DYN: a shared object)", "ET_EXEC"});
  std::string narrow = good;
  narrow[EI_CLASS] = ELFCLASS32;
  expect_refused(dir, "narrow", narrow, {"ELF class: expected 2 (64-bit), found 1 (32-bit)"});
  std::string big_endian = good;
  big_endian[EI_DATA] = ELFDATA2MSB;
  expect_refused(dir, "msb", big_endian, {"ELF data encoding: expected 1 (little-endian), found 2"});
  std::string headers_outside = good;
  header_of(headers_outside).e_phoff = good.size() - 8;
  expect_refused(dir, "phoff", headers_outside, {"truncated ELF file: the program headers"});
  expect_refused(dir, "header", good.substr(0, 40), {"truncated ELF file: 40 bytes", "64-byte ELF header"});
  expect_refused(dir, "cut", good.substr(0, 2048), {"truncated ELF file: loaded segment", "past its 2048 bytes"});
}

BOOST_AUTO_TEST_CASE(identity_strings_are_bounded) {
  const std::string long_name(300, 'n');
  llmrt_plugin_identity identity = LLMRT_PLUGIN_IDENTITY_INIT(long_name.c_str(), "1.0", "b", nullptr);
  const llmrt::Status status = llmrt::check_plugin_identity(&identity);
  BOOST_REQUIRE(!status.ok());
  BOOST_TEST(status.error().message().find("identity.name: expected at most 256 bytes") != std::string::npos,
             status.error().message());
  BOOST_TEST(status.error().message().find("identity.register_components: expected a function, found NULL") !=
             std::string::npos);
}
