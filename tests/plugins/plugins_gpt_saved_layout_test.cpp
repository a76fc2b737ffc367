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

// Byte offsets of the regions a layout handed out (null ones, not saved under selective
// recompute, are skipped: SavedRegions never took them).
template <typename Act>
std::vector<size_t> block_offsets(const std::byte* base, const BlockSavedOf<Act>& d) {
  std::vector<size_t> out;
  for (const void* p : {(const void*)d.ln1, (const void*)d.mean1, (const void*)d.rstd1, (const void*)d.qkv,
                        (const void*)d.att, (const void*)d.lse, (const void*)d.x2, (const void*)d.ln2,
                        (const void*)d.mean2, (const void*)d.rstd2, (const void*)d.fc_pre, (const void*)d.fc_act,
                        (const void*)d.d_x2, (const void*)d.d_fc_pre, (const void*)d.d_qkv, (const void*)d.d_ln1,
                        (const void*)d.d_ln2}) {
    if (p != nullptr) out.push_back(size_t(static_cast<const std::byte*>(p) - base));
  }
  return out;
}

// The device side at storage type Act (what the CUDA pass of `dtype` carves) against the host.
template <typename Act>
void check_block_layout(int32_t dtype, bool selective) {
  BOOST_TEST_CONTEXT("dtype " << dtype << (selective ? " selective" : " none")) {
    // Odd sizes, so 16-bit regions need padding to stay 4-byte aligned; tp = 2 slices.
    const BlockDims dims{.channels = 37, .heads = 3, .local = 15, .hidden = 74};
    const int64_t batch = 3, seq = 7;
    SavedRegions counter(nullptr, dtype);
    block_layout(counter, dims, batch, seq, selective);
    std::vector<std::byte> buffer(counter.bytes());

    SavedRegions host(buffer.data(), dtype);
    const BlockSaved h = block_layout(host, dims, batch, seq, selective);
    DeviceRegions<Act> device(buffer.data());
    const auto d = block_layout(device, dims, batch, seq, selective);

    BOOST_TEST(device.bytes() == host.bytes());
    BOOST_TEST(device.bytes() == counter.bytes());
    BOOST_TEST(device.taken() == host.taken());
    BOOST_TEST(d.forward_regions == h.forward_regions);
    BOOST_TEST((d.ln1 == nullptr && d.ln2 == nullptr && d.fc_act == nullptr) == selective);
    const std::vector<size_t> got = block_offsets(buffer.data(), d), want = host_offsets(host);
    BOOST_TEST(got == want, boost::test_tools::per_element());
    for (size_t offset : got) BOOST_TEST(offset % 4 == 0u);
    // The statistics are f32 in place on the host too: the very same addresses.
    BOOST_TEST(h.mean1 == d.mean1);
    BOOST_TEST(h.lse == d.lse);
    BOOST_TEST(h.rstd2 == d.rstd2);
  }
}

BOOST_AUTO_TEST_CASE(block_layout_is_the_same_on_host_and_device) {
  for (bool selective : {false, true}) {
    check_block_layout<std::uint16_t>(LLMRT_DTYPE_BF16, selective);
    check_block_layout<std::uint16_t>(LLMRT_DTYPE_F16, selective);
    check_block_layout<float>(LLMRT_DTYPE_F32, selective);
  }
}

BOOST_AUTO_TEST_CASE(head_layout_is_the_same_on_host_and_device) {
  const int64_t rows = 19, channels = 33;
  const auto check = [&](auto act, int32_t dtype) {
    using Act = decltype(act);
    SavedRegions counter(nullptr, dtype);
    head_layout(counter, rows, channels);
    std::vector<std::byte> buffer(counter.bytes());
    SavedRegions host(buffer.data(), dtype);
    head_layout(host, rows, channels);
    DeviceRegions<Act> device(buffer.data());
    const auto d = head_layout(device, rows, channels);
    BOOST_TEST(device.bytes() == host.bytes(), "dtype " << dtype);
    const std::vector<size_t> got = offsets(buffer.data(), d.lnf, d.mean, d.rstd, d.lse);
    const std::vector<size_t> want = host_offsets(host);
    BOOST_TEST(got == want, boost::test_tools::per_element());
  };
  check(std::uint16_t{}, LLMRT_DTYPE_BF16);
  check(float{}, LLMRT_DTYPE_F32);
}
