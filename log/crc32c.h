// procreg::replay::crc32c: CRC-32C (Castagnoli, polynomial 0x1EDC6F41, reflected, initial and
// final XOR 0xFFFFFFFF), the checksum of the log format (log/log_format.h).
//
// value() and extend() use the SSE4.2 crc32 instruction when the CPU has it and a portable
// table-driven implementation otherwise; both give identical results. mask() and unmask() are
// LevelDB's masking, applied to every CRC stored in a file: the CRC of bytes that themselves
// contain a CRC is a poor check, so stored CRCs are rotated and offset first.
//
// Thread safety: pure functions; the CPU feature is detected once, thread-safely.
#pragma once

#include <cstddef>
#include <cstdint>

namespace procreg::replay::crc32c {

// CRC-32C of `crc`'s bytes followed by data[0, n): extend(value(a), b) == value(a + b).
// `crc` is a finished CRC value (0 for no preceding bytes).
std::uint32_t extend(std::uint32_t crc, const void* data, std::size_t n);

// CRC-32C of data[0, n). value("123456789", 9) == 0xE3069283.
inline std::uint32_t value(const void* data, std::size_t n) { return extend(0, data, n); }

inline constexpr std::uint32_t kMaskDelta = 0xa282ead8u;

// The form in which a CRC is stored: rotated right by 15 bits, plus kMaskDelta.
inline constexpr std::uint32_t mask(std::uint32_t crc) {
  return ((crc >> 15) | (crc << 17)) + kMaskDelta;
}

// Inverse of mask(): unmask(mask(crc)) == crc.
inline constexpr std::uint32_t unmask(std::uint32_t masked) {
  const std::uint32_t rotated = masked - kMaskDelta;
  return (rotated >> 17) | (rotated << 15);
}

// The two implementations behind extend(), exposed so tests can compare them.
namespace internal {

// True when this CPU can run extend_hardware().
bool hardware_available();
// extend() with the SSE4.2 crc32 instruction. Precondition: hardware_available().
std::uint32_t extend_hardware(std::uint32_t crc, const void* data, std::size_t n);
// extend() with Boost.CRC's table-driven implementation; runs on any CPU.
std::uint32_t extend_portable(std::uint32_t crc, const void* data, std::size_t n);

}  // namespace internal
}  // namespace procreg::replay::crc32c
