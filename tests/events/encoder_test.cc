// The Encoder writes msgpack::packer's forms (the format's smallest) byte for byte: integers,
// signed and unsigned, and the heads of strings, binaries, arrays and maps, at every format
// boundary and beside it. (Floats are always float 64: codec_golden_test.cc.)
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>
#include <msgpack.hpp>

#include "events/encoder.h"

namespace procreg::events {
namespace {

struct Sink {
  std::string* out;
  void write(const char* data, std::size_t size) { out->append(data, size); }
};

std::vector<std::uint64_t> around_boundaries() {
  std::vector<std::uint64_t> out{0, 1};
  for (int bits : {5, 7, 8, 15, 16, 31, 32, 63}) {
    const std::uint64_t b = std::uint64_t{1} << bits;
    out.insert(out.end(), {b - 1, b, b + 1});
  }
  out.push_back(std::numeric_limits<std::uint64_t>::max());
  return out;
}

BOOST_AUTO_TEST_SUITE(encoder)

BOOST_AUTO_TEST_CASE(integers_are_written_in_msgpack_packers_forms) {
  for (const std::uint64_t u : around_boundaries()) {
    std::string ours, theirs;
    Encoder(&ours).uint(u);
    Sink sink{&theirs};
    msgpack::packer<Sink>(sink).pack_uint64(u);
    BOOST_TEST(ours == theirs, "uint " << u);
    // u, -u and -u - 1, negated in unsigned arithmetic (no signed overflow at 2^63).
    for (const std::int64_t i : {static_cast<std::int64_t>(u), static_cast<std::int64_t>(0 - u),
                                 static_cast<std::int64_t>(~u)}) {
      ours.clear();
      theirs.clear();
      Encoder(&ours).int64(i);
      msgpack::packer<Sink>(sink).pack_int64(i);
      BOOST_TEST(ours == theirs, "int " << i);
    }
  }
}

BOOST_AUTO_TEST_CASE(heads_are_written_in_msgpack_packers_forms) {
  for (const std::size_t n : {0u, 1u, 15u, 16u, 31u, 32u, 255u, 256u, 65535u, 65536u, 70000u}) {
    const std::string bytes(n, 'x');
    std::string ours, theirs;
    Sink sink{&theirs};
    Encoder enc(&ours);
    msgpack::packer<Sink> packer(sink);
    enc.str(bytes);
    packer.pack_str(static_cast<std::uint32_t>(n));
    packer.pack_str_body(bytes.data(), static_cast<std::uint32_t>(n));
    enc.bin(std::string_view(bytes));
    packer.pack_bin(static_cast<std::uint32_t>(n));
    packer.pack_bin_body(bytes.data(), static_cast<std::uint32_t>(n));
    enc.array(n);
    packer.pack_array(static_cast<std::uint32_t>(n));
    enc.map(n);
    packer.pack_map(static_cast<std::uint32_t>(n));
    enc.boolean(true);
    packer.pack_true();
    enc.boolean(false);
    packer.pack_false();
    enc.nil();
    packer.pack_nil();
    BOOST_TEST(ours == theirs, "size " << n);
  }
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace procreg::events
