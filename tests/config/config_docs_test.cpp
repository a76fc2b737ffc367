// docs/config.md documents every key of the schema, and names no key the schema lacks.
#define BOOST_TEST_MODULE config_docs
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "config/schema.h"
#include "support/process.h"

namespace {

// Key paths are written in the first column of the docs' tables as `cluster.node[].name`.
std::set<std::string> documented_keys() {
  std::ifstream file(llmrt::test::source_path("docs/config.md"));
  BOOST_REQUIRE(file.good());
  std::set<std::string> keys;
  std::string line;
  const std::regex row(R"(^\|\s*`([a-z_\[\].0-9]+)`\s*\|)");
  while (std::getline(file, line)) {
    std::smatch match;
    if (std::regex_search(line, match, row)) keys.insert(match[1]);
  }
  return keys;
}

}  // namespace

BOOST_AUTO_TEST_CASE(every_schema_key_is_documented) {
  const std::set<std::string> documented = documented_keys();
  BOOST_TEST(documented.size() > 50u);
  for (const llmrt::KeyInfo& key : llmrt::config_schema()) {
    if (key.path == "model.layer[]") continue;  // the component table itself, documented as model.layer
    BOOST_TEST(documented.count(std::string(key.path)) == 1u, "docs/config.md lacks " << key.path);
  }
}

BOOST_AUTO_TEST_CASE(every_documented_key_exists) {
  for (const std::string& key : documented_keys()) {
    // Component keys (a layer's d_model, an optimizer's lr) belong to plugins and are documented with them.
    const bool component_key = key.rfind("model.layer[].", 0) == 0 || key.rfind("train.optimizer.", 0) == 0 ||
                               key.rfind("train.lr_schedule.", 0) == 0;
    BOOST_TEST((component_key || llmrt::find_schema_key(key) != nullptr), "docs/config.md names unknown key " << key);
  }
}
