// procreg::events internal: appends MessagePack to a std::string.
//
// Every write goes straight into the caller's string (no intermediate msgpack::object, no
// sbuffer), each item's head in one append. The forms are msgpack::packer's (the format's
// smallest): integers take the smallest format that holds them and non-negative signed integers
// use the unsigned formats (pack_int64/pack_uint64), strings, binaries, arrays and maps the
// smallest head for their size; floats are always float 64 (see float64()). The schema of events
// lives in events/codec.cc.
//
// Preconditions: every string, binary, array and map has fewer than 2^32 bytes or elements,
// MessagePack's own bound (asserted).
//
// Thread safety: an Encoder belongs to one thread.
#pragma once

#include <array>
#include <bit>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "procreg/types.h"
#include "procreg/value.h"

namespace procreg::events {

class Encoder {
 public:
  explicit Encoder(std::string* out) : out_(out) {}
  Encoder(const Encoder&) = delete;
  Encoder& operator=(const Encoder&) = delete;

  void map(std::size_t pairs) { head(0x80, 0xde, 0xdf, narrow(pairs)); }
  void array(std::size_t elements) { head(0x90, 0xdc, 0xdd, narrow(elements)); }
  void str(std::string_view s) {
    const std::uint32_t n = narrow(s.size());
    if (n < 32) {
      out_->push_back(static_cast<char>(0xa0 | n));
    } else if (n < 256) {
      be<1>(0xd9, n);
    } else if (n < 65536) {
      be<2>(0xda, n);
    } else {
      be<4>(0xdb, n);
    }
    out_->append(s.data(), n);
  }
  // Appends bytes that are already one MessagePack item (a stored row's encoded parts).
  void raw(std::string_view item) { out_->append(item.data(), item.size()); }
  // Bytes in the output string so far (the offset of the next item written).
  std::size_t size() const { return out_->size(); }
  // msgpack::packer's pack_uint64: the smallest of fixint, uint 8, 16, 32 and 64.
  void uint(std::uint64_t u) {
    if (u < 128) {
      out_->push_back(static_cast<char>(u));
    } else if (u < 256) {
      be<1>(0xcc, u);
    } else if (u < 65536) {
      be<2>(0xcd, u);
    } else if (u <= 0xffffffffu) {
      be<4>(0xce, u);
    } else {
      be<8>(0xcf, u);
    }
  }
  // msgpack::packer's pack_int64: the uint forms when not negative, else the smallest of
  // negative fixint, int 8, 16, 32 and 64.
  void int64(std::int64_t i) {
    if (i >= 0) {
      uint(static_cast<std::uint64_t>(i));
    } else if (i >= -32) {
      out_->push_back(static_cast<char>(i));
    } else if (i >= -128) {
      be<1>(0xd0, static_cast<std::uint64_t>(i));
    } else if (i >= -32768) {
      be<2>(0xd1, static_cast<std::uint64_t>(i));
    } else if (i >= std::int64_t{-2147483647} - 1) {
      be<4>(0xd2, static_cast<std::uint64_t>(i));
    } else {
      be<8>(0xd3, static_cast<std::uint64_t>(i));
    }
  }
  void bin(const std::vector<std::uint8_t>& bytes) {
    bin(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  }
  void bin(std::string_view bytes) {
    const std::uint32_t n = narrow(bytes.size());
    if (n < 256) {
      be<1>(0xc4, n);
    } else if (n < 65536) {
      be<2>(0xc5, n);
    } else {
      be<4>(0xc6, n);
    }
    out_->append(bytes.data(), n);
  }
  // Always the 9-byte float 64 form. msgpack-cxx 4.x's pack_double writes a double with an
  // integral value (1.0, -0.0, 1e15) as an integer, which would decode as another Value type,
  // and converts doubles near 2^64 to uint64_t with undefined behaviour.
  void float64(double d) { be<8>(0xcb, std::bit_cast<std::uint64_t>(d)); }
  void boolean(bool b) { out_->push_back(static_cast<char>(b ? 0xc3 : 0xc2)); }
  void nil() { out_->push_back(static_cast<char>(0xc0)); }

  // A Value in its natural MessagePack form; map keys in the map's (ascending byte) order.
  void value(const Value& v);
  void value_map(const Value::Map& map);
  void value_array(const Value::Array& array);
  // [[node, pid], ...]
  void node_pids(const NodePids& node_pids);

 private:
  // `tag` then the low `N` bytes of `v`, big-endian, in one append.
  template <std::size_t N>
  void be(unsigned tag, std::uint64_t v) {
    std::array<char, N + 1> buf;
    buf[0] = static_cast<char>(tag);
    for (std::size_t i = 0; i < N; ++i) buf[1 + i] = static_cast<char>(v >> (8 * (N - 1 - i)));
    out_->append(buf.data(), buf.size());
  }
  // An array or map head: fix (count < 16), 16-bit or 32-bit.
  void head(unsigned fix, unsigned h16, unsigned h32, std::uint32_t n) {
    if (n < 16) {
      out_->push_back(static_cast<char>(fix | n));
    } else if (n < 65536) {
      be<2>(h16, n);
    } else {
      be<4>(h32, n);
    }
  }

  static std::uint32_t narrow(std::size_t n) {
    assert(n <= std::numeric_limits<std::uint32_t>::max() && "MessagePack sizes are 32-bit");
    return static_cast<std::uint32_t>(n);
  }

  std::string* out_;
};

}  // namespace procreg::events
