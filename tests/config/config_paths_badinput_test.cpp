// Config and include paths the OS refuses (a name over 255 bytes) through the real llmrt
// binary: exit 2 naming the path and the OS reason, no uncaught filesystem_error (the
// config_loader fuzz target found the include case; tests/fuzz/crashes/config_loader/).
#define BOOST_TEST_MODULE config_paths_badinput
#include <boost/test/unit_test.hpp>

#include "support/process.h"

using llmrt::test::ProcessResult;
using llmrt::test::TempDir;
using llmrt::test::run_llmrt;

BOOST_AUTO_TEST_CASE(a_config_name_too_long_is_an_input_error) {
  TempDir dir("config_long_name");
  const ProcessResult result = run_llmrt({"check", dir.path() + "/" + std::string(300, 'a') + ".toml"});
  BOOST_TEST(result.exit_code == 2, result.err);
  BOOST_TEST(result.err.find("the config file does not exist: File name too long") != std::string::npos,
             result.err);
  BOOST_TEST(result.err.find("terminate called") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(an_include_name_too_long_is_an_input_error_naming_the_include) {
  TempDir dir("config_long_include");
  const std::string config = dir.write("main.toml", "include = [\"" + std::string(300, 'b') + ".toml\"]\n");
  const ProcessResult result = run_llmrt({"check", config});
  BOOST_TEST(result.exit_code == 2, result.err);
  BOOST_TEST(result.err.find("main.toml:1:12: include[0]") != std::string::npos, result.err);
  BOOST_TEST(result.err.find("cannot resolve the path: File name too long") != std::string::npos, result.err);
  BOOST_TEST(result.err.find("terminate called") == std::string::npos);
}
