// procreg::events internal: a bounds-checked cursor over MessagePack bytes.
//
// The cursor reads one item head at a time (the format byte and the length or value fields after
// it) and never reads past the end of its input. Payloads (the bytes of a str, bin or ext) are
// returned as views into the input, so nothing is copied or allocated here. It knows only the
// MessagePack formats (https://github.com/msgpack/msgpack/blob/master/spec.md, "Formats"); types,
// limits and error messages belong to the Decoder (events/decoder.h).
//
// Why not msgpack::unpack: msgpack-cxx builds an object tree in a zone and reserves
// count * sizeof(msgpack::object) as soon as it reads a container header, before the elements
// exist, so a few header bytes can demand gigabytes (unpack_limit caps one container, not the
// sum over nested ones). Reading heads one by one lets the Decoder check every declared size
// against the bytes actually left before it allocates anything.
//
// Thread safety: a cursor belongs to one thread; the input must outlive it.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace procreg::events {

// What an item is, by its format byte.
enum class Family : std::uint8_t {
  kNil,
  kBool,
  kUint,   // any integer format holding a value >= 0 (positive fixint, uint 8-64, int 8-64)
  kInt,    // any integer format holding a value < 0
  kFloat,  // float 32 or float 64
  kStr,
  kBin,
  kArray,
  kMap,
  kExt,      // fixext 1-16, ext 8-32
  kInvalid,  // 0xc1, which the spec reserves as "never used"
};

// The head of one item.
struct Head {
  Family family = Family::kNil;
  std::uint8_t format = 0;  // the format byte, for messages
  // kBool: 0 or 1. kUint: the value. kInt: the value's two's-complement bits.
  // kStr, kBin: the payload length. kExt: the payload length including the type byte.
  // kArray: the element count. kMap: the number of key/value pairs.
  std::uint64_t n = 0;
  double f = 0;  // kFloat: the value (a float 32 widened exactly)
};

class MsgpackCursor {
 public:
  explicit MsgpackCursor(std::string_view bytes)
      : data_(reinterpret_cast<const unsigned char*>(bytes.data())), size_(bytes.size()) {}

  std::size_t position() const { return pos_; }
  std::size_t remaining() const { return size_ - pos_; }
  // The bytes from `pos` (a position this cursor returned earlier) to the current position.
  std::string_view since(std::size_t pos) const {
    return {reinterpret_cast<const char*>(data_ + pos), pos_ - pos};
  }
  // Moves to `pos`, a position this cursor returned earlier.
  void seek(std::size_t pos) { pos_ = pos; }

  // Reads the head of the next item into *head and moves past it. Returns false, without
  // moving, if the input ends inside the head.
  bool read_head(Head* head);

  // Returns a view of the next `n` bytes and moves past them; false (no move) if fewer remain.
  bool read_payload(std::uint64_t n, std::string_view* out) {
    if (n > remaining()) return false;
    *out = std::string_view(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return true;
  }

 private:
  // Reads the `width`-byte big-endian number after the format byte into *out.
  bool read_fixed(std::size_t width, std::uint64_t* out) {
    if (width >= remaining()) return false;
    std::uint64_t v = 0;
    for (std::size_t i = 1; i <= width; ++i) v = (v << 8) | data_[pos_ + i];
    *out = v;
    pos_ += 1 + width;
    return true;
  }
  // A head whose number is a `width`-byte big-endian field after the format byte.
  bool sized(Family family, std::size_t width, Head* head) {
    head->family = family;
    return read_fixed(width, &head->n);
  }
  // A head that is the format byte alone.
  bool single(Family family, std::uint64_t n, Head* head) {
    head->family = family;
    head->n = n;
    ++pos_;
    return true;
  }
  bool signed_int(std::size_t width, Head* head);
  bool floating(std::size_t width, Head* head);

  const unsigned char* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

inline bool MsgpackCursor::signed_int(std::size_t width, Head* head) {
  std::uint64_t bits = 0;
  if (!read_fixed(width, &bits)) return false;
  const auto shift = static_cast<unsigned>(64 - 8 * width);
  const auto value = static_cast<std::int64_t>(bits << shift) >> shift;  // sign-extend
  head->family = value < 0 ? Family::kInt : Family::kUint;
  head->n = static_cast<std::uint64_t>(value);
  return true;
}

inline bool MsgpackCursor::floating(std::size_t width, Head* head) {
  std::uint64_t bits = 0;
  if (!read_fixed(width, &bits)) return false;
  head->family = Family::kFloat;
  head->f = width == 4 ? std::bit_cast<float>(static_cast<std::uint32_t>(bits))
                       : std::bit_cast<double>(bits);
  return true;
}

inline bool MsgpackCursor::read_head(Head* head) {
  if (pos_ >= size_) return false;
  const std::uint8_t b = data_[pos_];
  head->format = b;
  if (b <= 0x7f) return single(Family::kUint, b, head);
  if (b <= 0x8f) return single(Family::kMap, b & 0x0fu, head);
  if (b <= 0x9f) return single(Family::kArray, b & 0x0fu, head);
  if (b <= 0xbf) return single(Family::kStr, b & 0x1fu, head);
  if (b >= 0xe0) return single(Family::kInt, static_cast<std::uint64_t>(b) | ~0xffull, head);
  // One line per format byte, for reading against the spec's table.
  // clang-format off
  switch (b) {
    case 0xc0: return single(Family::kNil, 0, head);
    case 0xc2: return single(Family::kBool, 0, head);
    case 0xc3: return single(Family::kBool, 1, head);
    case 0xc4: return sized(Family::kBin, 1, head);
    case 0xc5: return sized(Family::kBin, 2, head);
    case 0xc6: return sized(Family::kBin, 4, head);
    case 0xc7:
    case 0xc8:
    case 0xc9:  // ext 8/16/32: a length, then the type byte and that many data bytes
      if (!sized(Family::kExt, std::size_t{1} << (b - 0xc7), head)) return false;
      head->n += 1;
      return true;
    case 0xca: return floating(4, head);
    case 0xcb: return floating(8, head);
    case 0xcc: return sized(Family::kUint, 1, head);
    case 0xcd: return sized(Family::kUint, 2, head);
    case 0xce: return sized(Family::kUint, 4, head);
    case 0xcf: return sized(Family::kUint, 8, head);
    case 0xd0: return signed_int(1, head);
    case 0xd1: return signed_int(2, head);
    case 0xd2: return signed_int(4, head);
    case 0xd3: return signed_int(8, head);
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8:  // fixext 1/2/4/8/16: the type byte and 2^(b - 0xd4) data bytes
      return single(Family::kExt, 1 + (std::uint64_t{1} << (b - 0xd4)), head);
    case 0xd9: return sized(Family::kStr, 1, head);
    case 0xda: return sized(Family::kStr, 2, head);
    case 0xdb: return sized(Family::kStr, 4, head);
    case 0xdc: return sized(Family::kArray, 2, head);
    case 0xdd: return sized(Family::kArray, 4, head);
    case 0xde: return sized(Family::kMap, 2, head);
    case 0xdf: return sized(Family::kMap, 4, head);
    default: return single(Family::kInvalid, 0, head);  // 0xc1
  }
  // clang-format on
}

}  // namespace procreg::events
