// The GPT layers' saved-buffer layout is one function per layer over two region types: the CPU
// pass's SavedRegions (fp32 copies of 16-bit regions) and the CUDA pass's DeviceRegions (typed
// pointers in place). Both must carve the same bytes, or a CUDA backward would read what its
// forward never wrote; this runs on any machine.
#define BOOST_TEST_MODULE plugins_gpt_saved_layout
#include <boost/test/unit_test.hpp>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "gpt/gpt_layers.h"

using namespace llmrt::gpt;

namespace {

// Byte offsets of `pointers` into `base`.
template <typename... P>
std::vector<size_t> offsets(const std::byte* base, P*... pointers) {
  return {size_t(reinterpret_cast<const std::byte*>(pointers) - base)...};
}

std::vector<size_t> host_offsets(const SavedRegions& regions) {
  std::vector<size_t> out;
  for (size_t r = 0; r < regions.taken(); ++r) out.push_back(regions.offset(r));
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(block_layout_is_the_same_on_host_and_device) {
  // Odd sizes, so 16-bit regions need padding to stay 4-byte aligned; tp = 2 slices.
  const BlockDims dims{.channels = 37, .heads = 3, .local = 15, .hidden = 74};
  const int64_t batch = 3, seq = 7;
  SavedRegions counter(nullptr, LLMRT_DTYPE_BF16);
  block_layout(counter, dims, batch, seq);
  std::vector<std::byte> buffer(counter.bytes());

  SavedRegions host(buffer.data(), LLMRT_DTYPE_BF16);
  const BlockSaved h = block_layout(host, dims, batch, seq);
  DeviceRegions<std::uint16_t> device(buffer.data());
  const auto d = block_layout(device, dims, batch, seq);

  BOOST_TEST(device.bytes() == host.bytes());
  BOOST_TEST(device.bytes() == counter.bytes());
  BOOST_TEST(device.taken() == host.taken());
  BOOST_TEST(d.forward_regions == h.forward_regions);
  const std::vector<size_t> want = host_offsets(host);
  const std::vector<size_t> got =
      offsets(buffer.data(), d.ln1, d.mean1, d.rstd1, d.qkv, d.att, d.lse, d.x2, d.ln2, d.mean2, d.rstd2, d.fc_pre,
              d.fc_act, d.d_x2, d.d_fc_pre, d.d_qkv, d.d_ln1, d.d_ln2);
  BOOST_TEST(got == want, boost::test_tools::per_element());
  for (size_t offset : got) BOOST_TEST(offset % 4 == 0u);
  // The statistics are f32 in place on the host too: the very same addresses.
  BOOST_TEST(h.mean1 == d.mean1);
  BOOST_TEST(h.lse == d.lse);
  BOOST_TEST(h.rstd2 == d.rstd2);
}

BOOST_AUTO_TEST_CASE(head_layout_is_the_same_on_host_and_device) {
  const int64_t rows = 19, channels = 33;
  SavedRegions counter(nullptr, LLMRT_DTYPE_BF16);
  head_layout(counter, rows, channels);
  std::vector<std::byte> buffer(counter.bytes());
  SavedRegions host(buffer.data(), LLMRT_DTYPE_BF16);
  head_layout(host, rows, channels);
  DeviceRegions<std::uint16_t> device(buffer.data());
  const auto d = head_layout(device, rows, channels);
  BOOST_TEST(device.bytes() == host.bytes());
  const std::vector<size_t> got = offsets(buffer.data(), d.lnf, d.mean, d.rstd, d.lse);
  const std::vector<size_t> want = host_offsets(host);
  BOOST_TEST(got == want, boost::test_tools::per_element());
}
