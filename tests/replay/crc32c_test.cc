#include "log/crc32c.h"

#include <boost/test/unit_test.hpp>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace procreg::replay {
namespace {

std::uint32_t crc_of(const std::string& s) { return crc32c::value(s.data(), s.size()); }

std::vector<unsigned char> random_bytes(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<unsigned char> bytes(n);
  for (auto& b : bytes) b = static_cast<unsigned char>(rng());
  return bytes;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(crc32c_test)

BOOST_AUTO_TEST_CASE(matches_the_published_check_values) {
  BOOST_TEST(crc_of("123456789") == 0xE3069283u);
  BOOST_TEST(crc_of(std::string(32, '\0')) == 0x8A9136AAu);
  BOOST_TEST(crc_of(std::string(32, '\xff')) == 0x62A8AB43u);
  std::string ascending(32, '\0');
  std::string descending(32, '\0');
  for (int i = 0; i < 32; ++i) {
    ascending[static_cast<std::size_t>(i)] = static_cast<char>(i);
    descending[static_cast<std::size_t>(i)] = static_cast<char>(31 - i);
  }
  BOOST_TEST(crc_of(ascending) == 0x46DD794Eu);
  BOOST_TEST(crc_of(descending) == 0x113FDB5Cu);
  BOOST_TEST(crc_of("") == 0u);
}

BOOST_AUTO_TEST_CASE(portable_path_matches_the_check_values) {
  BOOST_TEST(crc32c::internal::extend_portable(0, "123456789", 9) == 0xE3069283u);
  const std::string zeros(32, '\0');
  BOOST_TEST(crc32c::internal::extend_portable(0, zeros.data(), zeros.size()) == 0x8A9136AAu);
}

BOOST_AUTO_TEST_CASE(hardware_and_portable_agree_on_every_length_and_alignment) {
  if (!crc32c::internal::hardware_available()) {
    BOOST_TEST_MESSAGE("no SSE4.2 on this CPU: only the portable path is in use");
    return;
  }
  const auto bytes = random_bytes(300 + 8, 42);
  for (std::size_t start = 0; start < 8; ++start) {
    for (std::size_t n = 0; n <= 300; ++n) {
      const unsigned char* p = bytes.data() + start;
      const std::uint32_t hw = crc32c::internal::extend_hardware(0, p, n);
      const std::uint32_t sw = crc32c::internal::extend_portable(0, p, n);
      BOOST_REQUIRE_MESSAGE(hw == sw, "start " << start << " length " << n);
      // A nonzero starting CRC exercises extend() on both paths too.
      BOOST_REQUIRE(crc32c::internal::extend_hardware(0x12345678u, p, n) ==
                    crc32c::internal::extend_portable(0x12345678u, p, n));
    }
  }
}

BOOST_AUTO_TEST_CASE(extend_composes_at_every_split_point) {
  const auto bytes = random_bytes(257, 7);
  const std::uint32_t whole = crc32c::value(bytes.data(), bytes.size());
  for (std::size_t split = 0; split <= bytes.size(); ++split) {
    const std::uint32_t head = crc32c::value(bytes.data(), split);
    BOOST_REQUIRE_EQUAL(crc32c::extend(head, bytes.data() + split, bytes.size() - split), whole);
    const std::uint32_t head_sw = crc32c::internal::extend_portable(0, bytes.data(), split);
    BOOST_REQUIRE_EQUAL(
        crc32c::internal::extend_portable(head_sw, bytes.data() + split, bytes.size() - split),
        whole);
  }
}

BOOST_AUTO_TEST_CASE(mask_round_trips_and_changes_the_value) {
  std::mt19937 rng(3);
  for (int i = 0; i < 1000; ++i) {
    const std::uint32_t crc = static_cast<std::uint32_t>(rng());
    BOOST_REQUIRE_EQUAL(crc32c::unmask(crc32c::mask(crc)), crc);
    BOOST_REQUIRE_NE(crc32c::mask(crc), crc);
    BOOST_REQUIRE_NE(crc32c::mask(crc32c::mask(crc)), crc32c::mask(crc));
  }
  BOOST_TEST(crc32c::mask(0xE3069283u) == 0xC78AB0E5u);
  static_assert(crc32c::unmask(crc32c::mask(0)) == 0);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace procreg::replay
