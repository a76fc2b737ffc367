// Runs a real child process (the llmrt binary, mpirun, cmake) and captures what it printed.
#pragma once

#include <string>
#include <vector>

namespace llmrt::test {

struct ProcessResult {
  int exit_code = -1;  // the child's exit status, or 128 + signal when it was killed
  std::string out;     // standard output
  std::string err;     // standard error
};

// Runs argv[0] (searched on PATH) with the extra "NAME=value" environment entries, from
// `working_dir` when given. Gives up after timeout_s and kills the child (exit_code 124).
ProcessResult run_process(const std::vector<std::string>& argv,
                          const std::vector<std::string>& extra_env = {},
                          const std::string& working_dir = "", double timeout_s = 120);

// Runs the llmrt executable built beside the tests.
ProcessResult run_llmrt(const std::vector<std::string>& args,
                        const std::vector<std::string>& extra_env = {});

// Paths inside the source tree.
std::string source_path(const std::string& relative);

// A fresh directory under the build tree's tmp/, removed when the object dies.
class TempDir {
 public:
  explicit TempDir(const std::string& name);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  // Writes `text` to path()/relative (creating folders) and returns the full path.
  std::string write(const std::string& relative, const std::string& text) const;

 private:
  std::string path_;
};

// The environment mpirun needs to run as root in CI.
std::vector<std::string> mpirun_env();

// The Python that can `import module` (scripts/install-tools.sh's .venv-tools, else python3),
// or "" when none can: the test then says what it skips and exits 77 (ctest shows SKIP).
std::string tools_python(const std::string& module);

// This machine's host name (gethostname), as llmrt compares it with a node's name.
std::string host_name();

}  // namespace llmrt::test
