// `llmrt plugins new` without building anything: the names made from NAME, every template file
// of every kind written with each placeholder replaced, and a refused request leaving no trace.
// (tests/plugin/plugin_new_test.cpp builds, loads and trains what it writes.)
#define BOOST_TEST_MODULE plugin_new_unit
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <sys/stat.h>

#include "plugin/plugin_new.h"
#include "support/process.h"

namespace fs = std::filesystem;
using namespace llmrt;

namespace {

std::string read_file(const fs::path& path) {
  std::ifstream file(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(file), {}};
}

std::size_t entries(const fs::path& dir) {
  return static_cast<std::size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator{}));
}

}  // namespace

BOOST_AUTO_TEST_CASE(names_made_from_name) {
  auto values = template_values("acme.rms_norm2");
  BOOST_REQUIRE(values.ok());
  BOOST_TEST(values->at("NAME") == "acme.rms_norm2");
  BOOST_TEST(values->at("ID") == "acme_rms_norm2");
  BOOST_TEST(values->at("CLASS") == "AcmeRmsNorm2");
  BOOST_TEST(std::regex_match(values->at("SDK_VERSION"), std::regex(R"(\d+\.\d+)")));
  for (const char* bad : {"", "acme", "Acme.x", "acme.", ".acme", "acme..x", "acme.2x", "acme.x-y", "acme.x y"}) {
    BOOST_TEST(!template_values(bad).ok(), bad);
  }
}

BOOST_AUTO_TEST_CASE(every_template_file_is_written_and_filled) {
  test::TempDir work("plugin_new_unit");
  const fs::path root = plugin_template_root();
  BOOST_TEST(root == fs::path(test::source_path("share/templates")));
  for (const std::string kind : {"layer", "optimizer", "lr", "schedule"}) {
    const fs::path dir = fs::path(work.path()) / kind;
    std::ostringstream out;
    const Status made = new_plugin_project({"acme.my_" + kind, kind, dir.string()}, out);
    BOOST_REQUIRE_MESSAGE(made.ok(), (made.ok() ? "" : made.error().message()));
    std::size_t count = 0;
    for (const auto& entry : fs::directory_iterator(root / kind)) {
      std::string name = entry.path().filename().string();
      name = std::regex_replace(name, std::regex("@ID@"), "acme_my_" + kind);
      const std::string text = read_file(dir / name);
      BOOST_TEST(!text.empty(), kind << "/" << name);
      BOOST_TEST(!std::regex_search(text, std::regex("@[A-Z_]+@")), kind << "/" << name << " keeps a placeholder");
      BOOST_TEST(out.str().find("  " + name + "\n") != std::string::npos, out.str());
      ++count;
    }
    BOOST_TEST(count >= 4u);
    BOOST_TEST(entries(dir) == count);
    BOOST_TEST(read_file(dir / ("acme_my_" + kind + ".cpp")).find("class AcmeMy") != std::string::npos);
  }
  BOOST_TEST(entries(work.path()) == 4u);  // the four projects, no temporary folder left
}

BOOST_AUTO_TEST_CASE(refusals_leave_nothing) {
  test::TempDir work("plugin_new_refused");
  const fs::path dir = fs::path(work.path()) / "taken";
  fs::create_directory(dir);
  std::ofstream(dir / "notes.txt") << "mine";
  std::ostringstream out;
  const Status refused = new_plugin_project({"acme.norm", "layer", dir.string()}, out);
  BOOST_REQUIRE(!refused.ok());
  BOOST_TEST(refused.error().exit_code() == 2);
  BOOST_TEST(entries(dir) == 1u);
  BOOST_TEST(entries(work.path()) == 1u);
  BOOST_TEST(out.str().empty());
  BOOST_TEST(!new_plugin_project({"acme.norm", "layers", (fs::path(work.path()) / "fresh").string()}, out).ok());
  BOOST_TEST(entries(work.path()) == 1u);
}

// DIR as people type it: with a trailing '/', new or existing-and-empty, and "." from inside an
// empty folder (which must stay the same folder: it may be the shell's working directory).
BOOST_AUTO_TEST_CASE(dir_with_trailing_slash_and_dot) {
  test::TempDir work("plugin_new_dirs");
  std::ostringstream out;
  const fs::path fresh = fs::path(work.path()) / "fresh";
  const Status made = new_plugin_project({"acme.one", "lr", fresh.string() + "/"}, out);
  BOOST_REQUIRE_MESSAGE(made.ok(), (made.ok() ? "" : made.error().message()));
  BOOST_TEST(fs::exists(fresh / "acme_one.cpp"));
  const fs::path empty = fs::path(work.path()) / "empty";
  fs::create_directory(empty);
  const auto inode = [](const fs::path& p) {
    struct stat st {};
    ::stat(p.c_str(), &st);
    return st.st_ino;
  };
  const auto before = inode(empty);
  const fs::path cwd = fs::current_path();
  fs::current_path(empty);
  const Status dot = new_plugin_project({"acme.two", "lr", "."}, out);
  fs::current_path(cwd);
  BOOST_REQUIRE_MESSAGE(dot.ok(), (dot.ok() ? "" : dot.error().message()));
  BOOST_TEST(fs::exists(empty / "acme_two.cpp"));
  BOOST_TEST(inode(empty) == before);           // the same folder, filled in place
  BOOST_TEST(entries(work.path()) == 2u);       // no temporary folder left beside them
}
