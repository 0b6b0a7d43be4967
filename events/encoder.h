// procreg::events internal: appends MessagePack to a std::string through msgpack::packer.
//
// Every write goes straight into the caller's string (no intermediate msgpack::object, no
// sbuffer). Integers take the smallest format that holds them and non-negative signed integers
// use the unsigned formats (msgpack::packer's pack_int64/pack_uint64); floats are always
// float 64, written here rather than by pack_double (see float64()). The schema of events lives
// in events/codec.cc.
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

#include <msgpack/pack.hpp>

#include "procreg/types.h"
#include "procreg/value.h"

namespace procreg::events {

class Encoder {
 public:
  explicit Encoder(std::string* out) : sink_{out}, packer_(sink_) {}
  Encoder(const Encoder&) = delete;
  Encoder& operator=(const Encoder&) = delete;

  void map(std::size_t pairs) { packer_.pack_map(narrow(pairs)); }
  void array(std::size_t elements) { packer_.pack_array(narrow(elements)); }
  void str(std::string_view s) {
    packer_.pack_str(narrow(s.size()));
    packer_.pack_str_body(s.data(), narrow(s.size()));
  }
  // Appends bytes that are already one MessagePack item (a stored row's encoded parts).
  void raw(std::string_view item) { sink_.write(item.data(), item.size()); }
  // Bytes in the output string so far (the offset of the next item written).
  std::size_t size() const { return sink_.out->size(); }
  void uint(std::uint64_t u) { packer_.pack_uint64(u); }
  void nil() { packer_.pack_nil(); }
  void int64(std::int64_t i) { packer_.pack_int64(i); }
  void bin(const std::vector<std::uint8_t>& bytes) {
    packer_.pack_bin(narrow(bytes.size()));
    packer_.pack_bin_body(reinterpret_cast<const char*>(bytes.data()), narrow(bytes.size()));
  }
  void bin(std::string_view bytes) {
    packer_.pack_bin(narrow(bytes.size()));
    packer_.pack_bin_body(bytes.data(), narrow(bytes.size()));
  }
  // Always the 9-byte float 64 form. msgpack-cxx 4.x's pack_double writes a double with an
  // integral value (1.0, -0.0, 1e15) as an integer, which would decode as another Value type,
  // and converts doubles near 2^64 to uint64_t with undefined behaviour.
  void float64(double d) {
    const auto bits = std::bit_cast<std::uint64_t>(d);
    std::array<char, 9> buf;
    buf[0] = static_cast<char>(0xcb);
    for (std::size_t i = 0; i < 8; ++i) buf[1 + i] = static_cast<char>(bits >> (56 - 8 * i));
    sink_.write(buf.data(), buf.size());
  }
  void boolean(bool b) {
    if (b) {
      packer_.pack_true();
    } else {
      packer_.pack_false();
    }
  }

  // A Value in its natural MessagePack form; map keys in the map's (ascending byte) order.
  void value(const Value& v);
  void value_map(const Value::Map& map);
  void value_array(const Value::Array& array);
  // [[node, pid], ...]
  void node_pids(const NodePids& node_pids);

 private:
  // msgpack::packer's output stream: anything with write(const char*, size_t).
  struct Sink {
    std::string* out;
    void write(const char* data, std::size_t size) { out->append(data, size); }
  };

  static std::uint32_t narrow(std::size_t n) {
    assert(n <= std::numeric_limits<std::uint32_t>::max() && "MessagePack sizes are 32-bit");
    return static_cast<std::uint32_t>(n);
  }

  Sink sink_;
  msgpack::packer<Sink> packer_;
};

}  // namespace procreg::events
