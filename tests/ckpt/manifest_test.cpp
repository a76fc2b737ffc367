// manifest.json parsing: what a checkpoint writes reads back the same, and a manifest that
// names files outside its folder, lacks a field or is another format is refused naming it.
#define BOOST_TEST_MODULE ckpt_manifest
#include <boost/test/unit_test.hpp>

#include "ckpt/manifest.h"

namespace {

llmrt::Manifest sample() {
  llmrt::Manifest m;
  m.step = 12;
  m.updates_done = 11;
  m.loss_scale = 32768;
  m.loss_scale_clean_steps = 3;
  m.layout = {2, 2, 1, 1, 1, 4, "1f1b", {3, 3}};
  m.precision = "fp16";
  m.global_batch = 8;
  m.sequences_consumed = 96;
  m.optimizer_states = {"m", "v"};
  m.files = {{"pp0-tp0.safetensors", 0, 0, 1000, 0xdeadbeef, 7}, {"pp0-tp1.safetensors", 0, 1, 1000, 0x1234, 7}};
  m.tensors["gpt.block[1].fc_w"] = {{128, 32}, 0, false, {"pp0-tp0.safetensors", "pp0-tp1.safetensors"}};
  m.tensors["wte"] = {{64, 32}, -1, true, {"pp0-tp0.safetensors"}};
  return m;
}

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  const std::size_t at = text.find(from);
  BOOST_REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_manifest_reads_back_as_written) {
  const std::string text = llmrt::manifest_json(sample());
  auto m = llmrt::parse_manifest(text, "m.json");
  BOOST_REQUIRE_MESSAGE(m.ok(), (m.ok() ? std::string() : m.error().message()));
  BOOST_TEST(llmrt::manifest_json(*m) == text);
  BOOST_TEST(m->file("pp0-tp1.safetensors")->crc32 == 0x1234u);
  BOOST_TEST(m->layout.label() == "pp2 tp2 dp1");
}

BOOST_AUTO_TEST_CASE(file_names_that_leave_the_folder_are_refused) {
  const std::string text = llmrt::manifest_json(sample());
  for (const std::string& bad : {"../pp0-tp1.safetensors", "/etc/passwd", "sub/pp0-tp1.safetensors", ".."}) {
    auto m = llmrt::parse_manifest(replaced(text, "\"name\": \"pp0-tp1.safetensors\"", "\"name\": \"" + bad + "\""), "m.json");
    BOOST_REQUIRE(!m.ok());
    BOOST_TEST(m.error().exit_code() == 2);
    BOOST_TEST(m.error().message().find("m.json: file name \"" + bad + "\" leaves the checkpoint folder") == 0u,
               m.error().message());
  }
}

BOOST_AUTO_TEST_CASE(missing_fields_other_formats_and_unlisted_files_are_refused) {
  const std::string text = llmrt::manifest_json(sample());
  auto missing = llmrt::parse_manifest(replaced(text, "\"updates_done\"", "\"updates\""), "m.json");
  BOOST_REQUIRE(!missing.ok());
  BOOST_TEST(missing.error().message().find("updates_done") != std::string::npos, missing.error().message());
  auto other = llmrt::parse_manifest(R"({"format": "something"})", "m.json");
  BOOST_REQUIRE(!other.ok());
  BOOST_TEST(other.error().message().find("not an llmrt checkpoint manifest") != std::string::npos);
  llmrt::Manifest bad = sample();
  bad.tensors["wte"].files = {"pp9-tp0.safetensors"};
  auto unlisted = llmrt::parse_manifest(llmrt::manifest_json(bad), "m.json");
  BOOST_REQUIRE(!unlisted.ok());
  BOOST_TEST(unlisted.error().message().find("pp9-tp0.safetensors") != std::string::npos, unlisted.error().message());
}

BOOST_AUTO_TEST_CASE(step_folder_names) {
  BOOST_TEST(llmrt::step_dir_name(500) == "step_00000500");
  BOOST_TEST(llmrt::step_of_dir_name("step_00000500") == 500);
  BOOST_TEST(llmrt::step_of_dir_name("step_00000500.tmp") == -1);
  BOOST_TEST(llmrt::step_of_dir_name("latest") == -1);
  BOOST_TEST(llmrt::step_of_dir_name("step_") == -1);
}

// Numbers of the wrong kind or range are refused naming the field, never cast: 1e300 into an int
// was undefined behaviour and 2^32 + 2 became 2 (both found by tests/fuzz).
BOOST_AUTO_TEST_CASE(integers_out_of_their_range_or_not_integers_are_refused) {
  const std::string text = llmrt::manifest_json(sample());
  const std::pair<std::string, std::string> cases[] = {
      {"\"pp\": 2", "\"pp\": 4294967298"},    {"\"pp\": 2", "\"pp\": 1e300"},
      {"\"step\": 12", "\"step\": 12.5"},     {"\"crc32\": 4660", "\"crc32\": 4294967296"},
      {"\"shard_dim\": 0", "\"shard_dim\": -2"}, {"\"version\": 1", "\"version\": 1e300"}};
  for (const auto& [from, to] : cases) {
    auto m = llmrt::parse_manifest(replaced(text, from, to), "m.json");
    BOOST_REQUIRE_MESSAGE(!m.ok(), to);
    BOOST_TEST(m.error().exit_code() == 2);
    const std::string field = from.substr(1, from.find('"', 1) - 1);
    BOOST_TEST(m.error().message().find(field) != std::string::npos, m.error().message());
  }
}
