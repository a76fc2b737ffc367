// What a path is before llmrt reads or writes it: regular-file inputs, writable output folders,
// each refusal naming the path and the OS reason.
#define BOOST_TEST_MODULE util_files
#include <boost/test/unit_test.hpp>

#include <sys/stat.h>

#include <filesystem>

#include "support/process.h"
#include "util/file_checks.h"

namespace {

namespace fs = std::filesystem;
using llmrt::test::TempDir;

std::string message(const llmrt::Status& status) { return status.ok() ? "" : status.error().message(); }

BOOST_AUTO_TEST_CASE(inputs_must_be_regular_files_named_as_what_they_are) {
  TempDir dir("file_checks_inputs");
  const std::string text = dir.write("text", "hello");
  const std::string fifo = dir.path() + "/fifo";
  BOOST_REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  BOOST_TEST(llmrt::check_regular_file(text, "a text file").ok());
  const auto refused = [](const std::string& path) { return message(llmrt::check_regular_file(path, "a text file")); };
  BOOST_TEST(refused(fifo) == fifo + ": expected a text file (a regular file), found a FIFO");
  BOOST_TEST(refused("/dev/zero") == "/dev/zero: expected a text file (a regular file), found a device");
  BOOST_TEST(refused(dir.path()) == dir.path() + ": expected a text file (a regular file), found a directory");
  BOOST_TEST(refused(dir.path() + "/missing") ==
             dir.path() + "/missing: cannot open a text file: No such file or directory");
  const auto refusal = llmrt::check_regular_file(fifo, "x");
  BOOST_TEST(!refusal.ok());
  BOOST_TEST(refusal.error().exit_code() == 2);
}

BOOST_AUTO_TEST_CASE(output_folders_are_made_or_refused_with_the_os_reason) {
  TempDir dir("file_checks_outputs");
  const std::string file = dir.write("f", "");
  BOOST_TEST(llmrt::prepare_output_dir(dir.path() + "/a/b/c", "metrics.run_dir").ok());
  BOOST_TEST(fs::is_directory(dir.path() + "/a/b/c"));
  BOOST_TEST(message(llmrt::prepare_output_dir(file, "metrics.run_dir")) ==
             "metrics.run_dir: \"" + file + "\" is a file, not a folder");
  BOOST_TEST(message(llmrt::prepare_output_dir(file + "/sub", "checkpoint.dir")) ==
             "checkpoint.dir: cannot create the folder \"" + file + "/sub\": Not a directory");
  BOOST_TEST(message(llmrt::check_output_file(dir.path(), "--trace")) ==
             "--trace: \"" + dir.path() + "\" is a folder, not a file");
  BOOST_TEST(llmrt::check_output_file(dir.path() + "/new/trace.json", "--trace").ok());
  BOOST_TEST(fs::is_directory(dir.path() + "/new"));
  BOOST_TEST(!fs::exists(dir.path() + "/new/trace.json"));  // checked, not written
}

}  // namespace
