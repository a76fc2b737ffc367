// safetensors: what llmrt writes reads back bit for bit, here and in Hugging Face's own reader,
// and every kind of broken file is refused on open, naming the file and the tensor.
#define BOOST_TEST_MODULE ckpt_safetensors
#include <boost/test/unit_test.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <llmrt/half.hpp>

#include "ckpt/safetensors.h"
#include "support/process.h"

using namespace llmrt;
using llmrt::test::TempDir;

namespace {

template <typename T>
std::span<const std::byte> bytes_of(const std::vector<T>& values) {
  return std::as_bytes(std::span(values));
}

std::string message_of(const Result<SafetensorsFile>& file) { return file.ok() ? "" : file.error().message(); }

// A file with the 8-byte size, then `header` as given, then `data` bytes.
std::string write_raw(const TempDir& dir, const std::string& name, const std::string& header, std::size_t data,
                      std::uint64_t claimed_size = 0) {
  const std::string path = dir.path() + "/" + name;
  std::ofstream file(path, std::ios::binary);
  const std::uint64_t size = claimed_size ? claimed_size : header.size();
  file.write(reinterpret_cast<const char*>(&size), 8);
  file << header << std::string(data, '\x01');
  return path;
}

}  // namespace

BOOST_AUTO_TEST_CASE(written_tensors_read_back_exactly) {
  TempDir dir("safetensors-roundtrip");
  const std::vector<float> weights = {1.5f, -2.25f, 3e-8f, 65504.0f, -0.0f, 7.0f};
  std::vector<std::uint16_t> halves;
  for (float value : weights) halves.push_back(bf16_from_float(value));
  const std::vector<std::int64_t> step = {1234567890123};
  const std::string path = dir.path() + "/a.safetensors";
  auto written = write_safetensors(path,
                                   {{"w", "F32", {2, 3}, bytes_of(weights)},
                                    {"w.bf16", "BF16", {3, 2}, bytes_of(halves)},
                                    {"step", "I64", {}, bytes_of(step)}},
                                   {{"format", "pt"}});
  BOOST_TEST_REQUIRE(written.ok(), (written.ok() ? "" : written.error().message()));
  auto checked = checksum_file(path);
  BOOST_TEST_REQUIRE(checked.ok());
  BOOST_TEST(checked->crc32 == written->crc32);
  BOOST_TEST(checked->bytes == written->bytes);
  BOOST_TEST(written->bytes == std::filesystem::file_size(path));

  auto file = SafetensorsFile::open(path);
  BOOST_TEST_REQUIRE(file.ok(), message_of(file));
  BOOST_TEST(file->metadata().at("format") == "pt");
  BOOST_TEST(file->entries().size() == 3u);
  BOOST_TEST((file->entries().at("w").shape == std::vector<std::int64_t>{2, 3}));
  auto w = file->read_f32("w");
  BOOST_TEST_REQUIRE(w.ok());
  BOOST_TEST(std::memcmp(w->data(), weights.data(), weights.size() * 4) == 0);
  auto widened = file->read_f32("w.bf16");
  BOOST_TEST_REQUIRE(widened.ok());
  for (std::size_t i = 0; i < weights.size(); ++i) BOOST_TEST((*widened)[i] == float_from_bf16(halves[i]));
  BOOST_TEST(!file->read_f32("step").ok());   // an integer tensor is not widened to floats
  BOOST_TEST(!file->read_f32("absent").ok());
}

BOOST_AUTO_TEST_CASE(hugging_face_reads_what_llmrt_writes) {
  const std::string python = llmrt::test::tools_python("safetensors.numpy");
  if (python.empty()) {
    BOOST_TEST_MESSAGE("SKIP: no Python with safetensors (scripts/install-tools.sh); HF's reader not run");
    return;
  }
  TempDir dir("safetensors-hf");
  const std::vector<float> weights = {0.5f, -1.0f, 2.0f, 3.5f};
  const std::string path = dir.path() + "/m.safetensors";
  BOOST_TEST_REQUIRE(write_safetensors(path, {{"transformer.wte.weight", "F32", {2, 2}, bytes_of(weights)}}).ok());
  auto read = llmrt::test::run_process(
      {python, "-c",
       "import sys; from safetensors.numpy import load_file; t = load_file(sys.argv[1])['transformer.wte.weight'];"
       "print(t.shape, t.dtype, ' '.join(repr(float(v)) for v in t.ravel()))",
       path});
  BOOST_TEST(read.exit_code == 0, read.err);
  BOOST_TEST(read.out == "(2, 2) float32 0.5 -1.0 2.0 3.5\n");
}

BOOST_AUTO_TEST_CASE(broken_files_are_refused_naming_file_and_tensor) {
  TempDir dir("safetensors-bad");
  const std::string ok_entry = R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  BOOST_TEST(SafetensorsFile::open(write_raw(dir, "ok", ok_entry, 8)).ok());

  auto tiny = dir.write("tiny", "abc");
  BOOST_TEST(message_of(SafetensorsFile::open(tiny)).find("truncated") != std::string::npos);
  BOOST_TEST(message_of(SafetensorsFile::open(write_raw(dir, "huge", ok_entry, 8, 1u << 30)))
                 .find("the header claims") != std::string::npos);
  BOOST_TEST(message_of(SafetensorsFile::open(write_raw(dir, "notjson", "{\"t\":", 8))).find("not a JSON object") !=
             std::string::npos);
  const std::string short_data = message_of(SafetensorsFile::open(write_raw(dir, "cut", ok_entry, 4)));
  BOOST_TEST(short_data.find("tensor t") != std::string::npos);
  BOOST_TEST(short_data.find("cut") != std::string::npos);
  BOOST_TEST(message_of(SafetensorsFile::open(write_raw(dir, "long", ok_entry, 12))).find("cover 8 of") !=
             std::string::npos);
  BOOST_TEST(message_of(SafetensorsFile::open(write_raw(
                            dir, "shape", R"({"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8)))
                 .find("need 12") != std::string::npos);
  BOOST_TEST(message_of(SafetensorsFile::open(write_raw(
                            dir, "dtype", R"({"t":{"dtype":"Q7","shape":[2],"data_offsets":[0,8]}})", 8)))
                 .find("dtype Q7") != std::string::npos);
  BOOST_TEST(message_of(SafetensorsFile::open(write_raw(
                            dir, "hole",
                            R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                            R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                            12)))
                 .find("hole") != std::string::npos);
  BOOST_TEST(message_of(SafetensorsFile::open(write_raw(
                            dir, "meta", R"({"__metadata__":{"k":1}})", 0)))
                 .find("__metadata__.k") != std::string::npos);
  BOOST_TEST(message_of(SafetensorsFile::open(dir.path() + "/absent")).find("cannot open") != std::string::npos);
  // Two dimensions of 2^40 each: refused before their product overflows (found by tests/fuzz).
  BOOST_TEST(message_of(SafetensorsFile::open(write_raw(
                            dir, "overflow",
                            R"({"t":{"dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,0]}})", 0)))
                 .find("tensor t: the shape is larger than any file") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(an_unwritable_file_is_an_error_and_leaves_nothing) {
  const std::vector<float> weights = {1.0f};
  auto written = write_safetensors("/nonexistent-dir/x.safetensors", {{"w", "F32", {1}, bytes_of(weights)}});
  BOOST_TEST_REQUIRE(!written.ok());
  BOOST_TEST(written.error().message().find("/nonexistent-dir/x.safetensors") != std::string::npos);
  TempDir dir("safetensors-mismatch");
  auto mismatched = write_safetensors(dir.path() + "/m", {{"w", "F32", {2}, bytes_of(weights)}});
  BOOST_TEST(!mismatched.ok());
}
