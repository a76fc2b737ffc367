// CRC-32C (Castagnoli), as TFRecord framing checks it: TensorBoard's event files carry a masked
// CRC of each record's length and of its payload. Debian has no library for it; it is small.
#pragma once

#include <cstdint>
#include <string_view>

namespace llmrt::obs {

// Reflected, polynomial 0x82F63B78, init and final XOR 0xFFFFFFFF: crc32c("123456789") = 0xE3069283.
std::uint32_t crc32c(std::string_view bytes);

// TFRecord's mask: rotate right by 15, add 0xA282EAD8 (mod 2^32); masked_crc32c("") = 0xA282EAD8.
std::uint32_t masked_crc32c(std::string_view bytes);

}  // namespace llmrt::obs
