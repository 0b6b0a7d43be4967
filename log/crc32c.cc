#include "log/crc32c.h"

#include <boost/crc.hpp>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace procreg::replay::crc32c {
namespace internal {
namespace {

// Boost keeps a reflected CRC's remainder bit-reversed and reverses the initial remainder it is
// given, so continuing from a finished CRC means handing it the reversed register value.
std::uint32_t reverse_bits(std::uint32_t v) {
  std::uint32_t r = 0;
  for (int i = 0; i < 32; ++i) {
    r = (r << 1) | (v & 1u);
    v >>= 1;
  }
  return r;
}

}  // namespace

std::uint32_t extend_portable(std::uint32_t crc, const void* data, std::size_t n) {
  boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true> engine(
      reverse_bits(crc ^ 0xFFFFFFFFu));
  engine.process_bytes(data, n);
  return engine.checksum();
}

#if defined(__x86_64__)

bool hardware_available() {
  static const bool kAvailable = __builtin_cpu_supports("sse4.2");
  return kAvailable;
}

// Compiled for SSE4.2 on its own so the rest of the build stays baseline x86-64.
__attribute__((target("sse4.2"))) std::uint32_t extend_hardware(std::uint32_t crc, const void* data,
                                                                std::size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  std::uint64_t state = crc ^ 0xFFFFFFFFu;
  // Bytes up to an 8-byte boundary, then 8 bytes per instruction, then the rest.
  while (n > 0 && (reinterpret_cast<std::uintptr_t>(p) & 7u) != 0) {
    state = _mm_crc32_u8(static_cast<std::uint32_t>(state), *p++);
    --n;
  }
  while (n >= 8) {
    std::uint64_t word;
    std::memcpy(&word, p, sizeof word);
    state = _mm_crc32_u64(state, word);
    p += 8;
    n -= 8;
  }
  while (n > 0) {
    state = _mm_crc32_u8(static_cast<std::uint32_t>(state), *p++);
    --n;
  }
  return static_cast<std::uint32_t>(state) ^ 0xFFFFFFFFu;
}

#else

bool hardware_available() { return false; }

std::uint32_t extend_hardware(std::uint32_t crc, const void* data, std::size_t n) {
  return extend_portable(crc, data, n);
}

#endif

}  // namespace internal

std::uint32_t extend(std::uint32_t crc, const void* data, std::size_t n) {
  return internal::hardware_available() ? internal::extend_hardware(crc, data, n)
                                        : internal::extend_portable(crc, data, n);
}

}  // namespace procreg::replay::crc32c
