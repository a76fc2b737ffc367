// Checked writes: a whole file or the one before it, whole lines or none, and the OS reason.
#include <boost/test/unit_test.hpp>

#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "support/process.h"
#include "util/file_write.h"

namespace {

namespace fs = std::filesystem;
using llmrt::test::TempDir;

std::string read_all(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

// RLIMIT_FSIZE at `bytes` with SIGXFSZ ignored for the scope: write() then fails with EFBIG,
// a full disk as one process sees it.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    ::getrlimit(RLIMIT_FSIZE, &saved_);
    previous_ = std::signal(SIGXFSZ, SIG_IGN);
    rlimit limit = saved_;
    limit.rlim_cur = bytes;
    ::setrlimit(RLIMIT_FSIZE, &limit);
  }
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &saved_);
    std::signal(SIGXFSZ, previous_);
  }

 private:
  rlimit saved_{};
  void (*previous_)(int) = nullptr;
};

BOOST_AUTO_TEST_CASE(a_replaced_file_is_the_new_text_or_the_old_one) {
  TempDir dir("file_write_replace");
  const std::string path = dir.path() + "/plan.json";
  BOOST_REQUIRE(llmrt::write_file_replacing(path, "old text\n").ok());
  BOOST_TEST(read_all(path) == "old text\n");
  const std::string big(10000, 'x');
  {
    FileSizeLimit limit(4096);
    const llmrt::Status failed = llmrt::write_file_replacing(path, big);
    BOOST_REQUIRE(!failed.ok());
    BOOST_TEST(failed.error().message() == path + ": cannot write: File too large");
    BOOST_TEST(failed.error().exit_code() == 1);
  }
  BOOST_TEST(read_all(path) == "old text\n");
  for (const auto& entry : fs::directory_iterator(dir.path())) {  // the temporary went with the failure
    BOOST_TEST(entry.path().filename().string().find(".tmp") == std::string::npos, entry.path());
  }
  BOOST_REQUIRE(llmrt::write_file_replacing(path, big).ok());
  BOOST_TEST(read_all(path) == big);
}

BOOST_AUTO_TEST_CASE(a_line_file_keeps_whole_lines_when_the_disk_fills) {
  TempDir dir("file_write_lines");
  const std::string path = dir.path() + "/metrics.jsonl";
  auto file = llmrt::LineFile::create(path);
  BOOST_REQUIRE(file.ok());
  const std::string line(100, 'a');  // 101 bytes with its newline
  int written = 0;
  llmrt::Status status = llmrt::Status::success();
  {
    FileSizeLimit limit(1000);  // room for 9 lines and most of a tenth
    while (written < 20 && (status = file->append_line(line)).ok()) ++written;
  }
  BOOST_TEST(written == 9);
  BOOST_REQUIRE(!status.ok());
  BOOST_TEST(status.error().message() == path + ": cannot write: File too large");
  const std::string text = read_all(path);
  BOOST_TEST(text.size() == 9u * 101u);
  BOOST_TEST(text.back() == '\n');
  // The file goes on from its last whole line once there is room again.
  BOOST_REQUIRE(file->append_line("after").ok());
  BOOST_TEST(read_all(path) == text + "after\n");
}

BOOST_AUTO_TEST_CASE(dev_full_says_no_space) {
  if (!fs::exists("/dev/full")) {
    BOOST_TEST_MESSAGE("SKIP: no /dev/full here");
    return;
  }
  auto file = llmrt::LineFile::create("/dev/full");
  BOOST_REQUIRE(file.ok());
  const llmrt::Status status = file->append_line("{\"step\": 1}");
  BOOST_REQUIRE(!status.ok());
  BOOST_TEST(status.error().message().find("/dev/full: cannot write: No space left on device") == 0u,
             status.error().message());
}

}  // namespace
