// `llmrt plugins list` / `plugins info`: what they print for a known set of plugins.
#define BOOST_TEST_MODULE plugin_commands
#include <boost/test/unit_test.hpp>

#include <sstream>
#include <string>

#include "plugin/plugins_command.h"

using namespace llmrt;

namespace {
PluginSearchOptions fixture_options() {
  PluginSearchOptions options;
  options.use_builtin = false;
  options.config_paths = {std::string(PLUGIN_FIXTURE_DIR) + "/cpp_a", std::string(PLUGIN_FIXTURE_DIR) + "/c_good"};
  options.environment_path = "";
  return options;
}
}  // namespace

BOOST_AUTO_TEST_CASE(list_prints_one_line_per_component) {
  std::ostringstream out;
  Status status = list_plugins(fixture_options(), out);
  BOOST_REQUIRE_MESSAGE(status.ok(), (status.ok() ? "" : status.error().message()));
  const std::string text = out.str();
  BOOST_TEST_MESSAGE(text);
  std::istringstream lines(text);
  std::string line;
  int rows = 0;
  while (std::getline(lines, line)) ++rows;
  BOOST_TEST(rows == 5);  // header + 4 components
  BOOST_TEST(text.find("test.scale") != std::string::npos);
  BOOST_TEST(text.find("c.single_good") != std::string::npos);
  BOOST_TEST(text.find("pipeline_schedule") != std::string::npos);
  BOOST_TEST(text.find("/cpp_a/plugin_fixture_cpp_a.so") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(info_describes_keys_and_build) {
  std::ostringstream out;
  Status status = describe_plugin(fixture_options(), "test.scale", out);
  BOOST_REQUIRE(status.ok());
  const std::string text = out.str();
  BOOST_TEST_MESSAGE(text);
  BOOST_TEST(text.find("kind:      layer") != std::string::npos);
  BOOST_TEST(text.find("version:   1.0.0") != std::string::npos);
  BOOST_TEST(text.find("plugin:    cpp-test-a 1.2.3") != std::string::npos);
  BOOST_TEST(text.find("build id:") != std::string::npos);
  BOOST_TEST(text.find("channels") != std::string::npos);
  BOOST_TEST(text.find("required") != std::string::npos);
  BOOST_TEST(text.find("default 2.0") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(info_of_an_unknown_name) {
  std::ostringstream out;
  Status status = describe_plugin(fixture_options(), "test.scael", out);
  BOOST_REQUIRE(!status.ok());
  BOOST_TEST(status.error().message().find("did you mean 'test.scale'?") != std::string::npos);
  BOOST_TEST(static_cast<int>(status.error().kind()) == static_cast<int>(ErrorKind::kInput));
}

// Broken files (a wrong magic, a future ABI major, a second copy of the same components) are
// named with their reasons after every component that loaded; the listing fails (exit 2).
BOOST_AUTO_TEST_CASE(broken_plugins_are_named_after_the_good_ones) {
  PluginSearchOptions options = fixture_options();
  for (const char* broken : {"/c_wrong_magic", "/c_future_major", "/cpp_b"}) {
    options.config_paths.push_back(std::string(PLUGIN_FIXTURE_DIR) + broken);
  }
  std::ostringstream out;
  Status status = list_plugins(options, out);
  const std::string text = out.str();
  BOOST_TEST_MESSAGE(text);
  BOOST_REQUIRE(!status.ok());
  BOOST_TEST(static_cast<int>(status.error().kind()) == static_cast<int>(ErrorKind::kInput));
  const std::string error = status.error().message();
  BOOST_TEST(error.find("3 plugin files on the search path did not load") != std::string::npos, error);
  for (const char* good : {"test.scale", "c.single_good", "/cpp_a/plugin_fixture_cpp_a.so"}) {
    BOOST_TEST(text.find(good) != std::string::npos, good);
  }
  for (const char* reason :
       {"c_wrong_magic.so: identity.magic", "c_future_major.so: ABI major: expected 1", "plugin_fixture_cpp_b.so"}) {
    BOOST_TEST(error.find(reason) != std::string::npos, reason);
  }
  // Nothing of a broken file is listed as loaded: cpp_b's components are cpp_a's names.
  BOOST_TEST(text.find("/cpp_b/plugin_fixture_cpp_b.so") == std::string::npos);
  BOOST_TEST(text.find("c_wrong_magic") == std::string::npos);
}
