// Bounded random input: the decoders must return (a value or an error) on anything, and agree
// with msgpack-cxx's own parser on which byte strings are well-formed. Run under ASan/UBSan in CI
// (PROCREG_SANITIZE=address,undefined), where any out-of-bounds read or oversized allocation
// fails the test.

#include <array>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>
#include <msgpack.hpp>

#include "events/codec.h"
#include "events/codec_samples.h"
#include "events/random_events.h"

namespace procreg::events {
namespace {

// Format bytes that stress length and count handling.
constexpr std::array<std::uint8_t, 14> kInterestingBytes = {
    0x00, 0x7f, 0x80, 0x8f, 0x90, 0xa0, 0xc1, 0xcf, 0xd3, 0xd9, 0xdb, 0xdd, 0xdf, 0xff};

class Mutator {
 public:
  explicit Mutator(std::uint64_t seed) : rng_(seed) {}

  std::uint64_t below(std::uint64_t n) {
    return std::uniform_int_distribution<std::uint64_t>(0, n - 1)(rng_);
  }

  std::string random_bytes(std::size_t max_size) {
    std::string out(below(max_size + 1), '\0');
    for (char& c : out) c = static_cast<char>(rng_());
    return out;
  }

  // 1 to 4 bit flips, byte inserts, deletes, overwrites or truncations.
  std::string mutate(std::string bytes) {
    const std::uint64_t edits = 1 + below(4);
    for (std::uint64_t i = 0; i < edits && !bytes.empty(); ++i) {
      const std::size_t pos = below(bytes.size());
      switch (below(5)) {
        case 0:
          bytes[pos] = static_cast<char>(bytes[pos] ^ (1 << below(8)));
          break;
        case 1:
          bytes.insert(pos, 1, static_cast<char>(rng_()));
          break;
        case 2:
          bytes.erase(pos, 1);
          break;
        case 3:
          bytes[pos] = static_cast<char>(kInterestingBytes[below(kInterestingBytes.size())]);
          break;
        default:
          bytes.resize(pos);
          break;
      }
    }
    return bytes;
  }

 private:
  std::mt19937_64 rng_;
};

template <typename T>
void check_returned(const Result<T>& result) {
  if (result.ok()) return;
  const Code code = result.status().code();
  BOOST_TEST_REQUIRE(
      (code == Code::kCorruption || code == Code::kResourceExhausted || code == Code::kUnsupported),
      result.status().to_string());
  BOOST_TEST_REQUIRE(!result.status().message().empty());
}

// A decoded event re-encodes to bytes that decode to the same event (compared as bytes, so that
// a NaN a mutation produced equals itself).
void check_stable(const Result<Event>& decoded) {
  if (!decoded.ok()) return;
  const std::string bytes = encode(*decoded);
  const Result<Event> again = decode(bytes);
  BOOST_TEST_REQUIRE(again.ok(), again.status().to_string());
  BOOST_TEST_REQUIRE(encode(*again) == bytes);
}

std::vector<std::string> seed_encodings() {
  std::vector<std::string> out;
  for (const test::NamedEvent& sample : test::sample_events()) out.push_back(encode(sample.event));
  test::RandomEvents random(31337);
  for (int i = 0; i < 40; ++i) out.push_back(encode(random.event()));
  return out;
}

// The Value msgpack-cxx parsed, or nothing where the format refuses what MessagePack allows
// (ext types, non-string or duplicate map keys).
std::optional<Value> to_value(const msgpack::object& o) {
  switch (o.type) {
    case msgpack::type::NIL:
      return Value();
    case msgpack::type::BOOLEAN:
      return Value(o.via.boolean);
    case msgpack::type::POSITIVE_INTEGER:
      return Value(o.via.u64);
    case msgpack::type::NEGATIVE_INTEGER:
      return Value(o.via.i64);
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64:
      return Value(o.via.f64);
    case msgpack::type::STR:
      return Value(std::string(o.via.str.ptr, o.via.str.size));
    case msgpack::type::BIN: {
      const auto* p = reinterpret_cast<const std::uint8_t*>(o.via.bin.ptr);
      return Value(Value::Binary{{p, p + o.via.bin.size}});
    }
    case msgpack::type::ARRAY: {
      Value::Array array;
      for (std::uint32_t i = 0; i < o.via.array.size; ++i) {
        std::optional<Value> element = to_value(o.via.array.ptr[i]);
        if (!element) return std::nullopt;
        array.push_back(std::move(*element));
      }
      return Value(std::move(array));
    }
    case msgpack::type::MAP: {
      Value::Map map;
      for (std::uint32_t i = 0; i < o.via.map.size; ++i) {
        const msgpack::object_kv& kv = o.via.map.ptr[i];
        std::optional<Value> element = to_value(kv.val);
        if (kv.key.type != msgpack::type::STR || !element) return std::nullopt;
        if (!map.emplace(std::string(kv.key.via.str.ptr, kv.key.via.str.size), std::move(*element))
                 .second) {
          return std::nullopt;
        }
      }
      return Value(std::move(map));
    }
    default:
      return std::nullopt;
  }
}

// msgpack-cxx's reading of `bytes` as one Value. Its limits mirror DecodeLimits' defaults for
// depth, and bound counts and lengths by the input size so that it cannot allocate much either.
std::optional<Value> msgpack_reading(const std::string& bytes) {
  const auto n = static_cast<std::size_t>(bytes.size());
  const msgpack::unpack_limit limit(n, n / 2, n, n, n, 32);
  try {
    std::size_t offset = 0;
    msgpack::object_handle handle =
        msgpack::unpack(bytes.data(), n, offset, nullptr, nullptr, limit);
    if (offset != n) return std::nullopt;
    return to_value(handle.get());
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::string encoded(const Value& value) {
  std::string out;
  encode_value(value, &out);
  return out;
}

BOOST_AUTO_TEST_SUITE(codec_fuzz)

BOOST_AUTO_TEST_CASE(random_bytes_always_give_a_result) {
  Mutator mutator(1);
  for (int i = 0; i < 200000; ++i) {
    const std::string bytes = mutator.random_bytes(256);
    const Result<Event> event = decode(bytes);
    check_returned(event);
    check_stable(event);
    check_returned(decode_value(bytes));
  }
}

BOOST_AUTO_TEST_CASE(mutated_encodings_always_give_a_result) {
  Mutator mutator(2);
  const std::vector<std::string> seeds = seed_encodings();
  int decoded_ok = 0;
  for (int i = 0; i < 200000; ++i) {
    const std::string bytes = mutator.mutate(seeds[mutator.below(seeds.size())]);
    const Result<Event> event = decode(bytes);
    check_returned(event);
    check_stable(event);
    decoded_ok += event.ok() ? 1 : 0;
  }
  // Some mutations (a flipped bit in a string, a changed integer) leave a valid event; the
  // loop must reach past the first byte.
  BOOST_TEST(decoded_ok > 1000);
}

BOOST_AUTO_TEST_CASE(value_decoding_agrees_with_msgpack_cxx) {
  Mutator mutator(3);
  test::RandomEvents random(4);
  int both_ok = 0;
  for (int i = 0; i < 50000; ++i) {
    const std::string seed = encoded(random.value(4));
    const std::string bytes = i % 2 == 0 ? mutator.mutate(seed) : mutator.random_bytes(64);
    const Result<Value> ours = decode_value(bytes);
    const std::optional<Value> theirs = msgpack_reading(bytes);
    BOOST_TEST_REQUIRE(ours.ok() == theirs.has_value(), test::to_hex(bytes)
                                                            << ": " << ours.status().to_string());
    if (ours.ok()) {
      // Compared as bytes, so that a NaN equals itself.
      BOOST_TEST_REQUIRE(encoded(*ours) == encoded(*theirs), test::to_hex(bytes));
      ++both_ok;
    }
  }
  BOOST_TEST(both_ok > 2000);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace procreg::events
