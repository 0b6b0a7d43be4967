// Canonical scans of rows (events/row_scan.h). Every read below accepts one form only: the one
// events/encoder.h writes for that value (msgpack::packer's smallest formats, float 64), and
// returns false for anything else, including forms the decoder accepts.

#include "events/row_scan.h"

#include <limits>

#include "events/event_keys.h"
#include "events/snapshot_row.h"

namespace procreg::events {

namespace {

// The scanner's small reads are forced inline: called with a key known at compile time, key()
// then compares a few bytes in place instead of calling memcmp (about a tenth of a replay's
// instructions went to those calls).
#define PROCREG_SCAN_INLINE [[gnu::always_inline]] inline

class Scanner {
 public:
  Scanner(std::string_view bytes, const DecodeLimits& limits)
      : begin_(reinterpret_cast<const unsigned char*>(bytes.data())),
        p_(begin_),
        end_(begin_ + bytes.size()),
        limits_(limits) {}

  bool at_end() const { return p_ == end_; }
  const char* here() const { return reinterpret_cast<const char*>(p_); }
  std::string_view since(const char* start) const {
    return {start, static_cast<std::size_t>(here() - start)};
  }

  // A key of the schema, exactly: its fixstr head and bytes.
  PROCREG_SCAN_INLINE bool key(std::string_view k) {
    if (k.size() > limits_.max_string || static_cast<std::size_t>(end_ - p_) < k.size() + 1 ||
        *p_ != (0xa0 | k.size())) {
      return false;
    }
    for (std::size_t i = 0; i < k.size(); ++i) {
      if (p_[i + 1] != static_cast<unsigned char>(k[i])) return false;
    }
    p_ += k.size() + 1;
    return true;
  }

  PROCREG_SCAN_INLINE bool str(std::string_view* out) {
    std::uint64_t n = 0;
    if (!have(1)) return false;
    const unsigned b = *p_++;
    if (b >= 0xa0 && b <= 0xbf) {
      n = b & 0x1f;
    } else if (b == 0xd9) {
      if (!be(1, &n) || n < 32) return false;
    } else if (b == 0xda) {
      if (!be(2, &n) || n < 256) return false;
    } else if (b == 0xdb) {
      if (!be(4, &n) || n < 65536) return false;
    } else {
      return false;
    }
    return payload(n, out);
  }

  bool bin() {
    std::uint64_t n = 0;
    if (!have(1)) return false;
    const unsigned b = *p_++;
    if (b == 0xc4) {
      if (!be(1, &n)) return false;
    } else if (b == 0xc5) {
      if (!be(2, &n) || n < 256) return false;
    } else if (b == 0xc6) {
      if (!be(4, &n) || n < 65536) return false;
    } else {
      return false;
    }
    std::string_view ignored;
    return payload(n, &ignored);
  }

  // An array (fix 0x90, 16 0xdc, 32 0xdd) or map (0x80, 0xde, 0xdf) head.
  PROCREG_SCAN_INLINE bool container(unsigned fix, unsigned h16, unsigned h32,
                                     std::uint32_t* count) {
    std::uint64_t n = 0;
    if (!have(1)) return false;
    const unsigned b = *p_++;
    if ((b & 0xf0) == fix) {
      n = b & 0x0f;
    } else if (b == h16) {
      if (!be(2, &n) || n < 16) return false;
    } else if (b == h32) {
      if (!be(4, &n) || n < 65536) return false;
    } else {
      return false;
    }
    if (n > limits_.max_container) return false;
    *count = static_cast<std::uint32_t>(n);
    return true;
  }
  bool array(std::uint32_t* count) { return container(0x90, 0xdc, 0xdd, count); }
  bool map(std::uint32_t* count) { return container(0x80, 0xde, 0xdf, count); }

  // pack_uint64's form of an unsigned integer.
  PROCREG_SCAN_INLINE bool uint(std::uint64_t* out) {
    if (!have(1)) return false;
    const unsigned b = *p_++;
    if (b <= 0x7f) {
      *out = b;
      return true;
    }
    switch (b) {
      case 0xcc:
        return be(1, out) && *out >= 0x80;
      case 0xcd:
        return be(2, out) && *out >= 0x100;
      case 0xce:
        return be(4, out) && *out >= 0x10000;
      case 0xcf:
        return be(8, out) && *out >= 0x100000000ull;
      default:
        return false;
    }
  }

  bool boolean(bool* out) {
    if (!have(1) || (*p_ != 0xc2 && *p_ != 0xc3)) return false;
    *out = *p_++ == 0xc3;
    return true;
  }

  // pack_int64's form of a signed integer: the uint forms when it is not negative.
  bool int64(std::int64_t* out) {
    if (!have(1)) return false;
    const unsigned b = *p_;
    if (b <= 0x7f || (b >= 0xcc && b <= 0xcf)) {
      std::uint64_t u = 0;
      if (!uint(&u) || u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        return false;
      }
      *out = static_cast<std::int64_t>(u);
      return true;
    }
    ++p_;
    if (b >= 0xe0) {
      *out = static_cast<std::int8_t>(b);
      return true;
    }
    std::uint64_t u = 0;
    switch (b) {
      case 0xd0:
        if (!be(1, &u)) return false;
        *out = static_cast<std::int8_t>(u);
        return *out < -32;
      case 0xd1:
        if (!be(2, &u)) return false;
        *out = static_cast<std::int16_t>(u);
        return *out < -128;
      case 0xd2:
        if (!be(4, &u)) return false;
        *out = static_cast<std::int32_t>(u);
        return *out < -32768;
      case 0xd3:
        if (!be(8, &u)) return false;
        *out = static_cast<std::int64_t>(u);
        return *out < -2147483648ll;
      default:
        return false;
    }
  }

  // One Value with `depth` containers around it (the decoder's count: a container value is at
  // level depth + 1, which must not pass max_depth).
  bool value(std::uint32_t depth) {
    if (!have(1)) return false;
    const unsigned b = *p_;
    if (b <= 0x7f || (b >= 0xcc && b <= 0xcf)) {
      std::uint64_t ignored = 0;
      return uint(&ignored);
    }
    if (b >= 0xe0 || (b >= 0xd0 && b <= 0xd3)) {
      std::int64_t i = 0;
      return int64(&i) && i < 0;
    }
    if ((b >= 0xa0 && b <= 0xbf) || (b >= 0xd9 && b <= 0xdb)) {
      std::string_view ignored;
      return str(&ignored);
    }
    if (b >= 0xc4 && b <= 0xc6) return bin();
    if ((b & 0xf0) == 0x90 || b == 0xdc || b == 0xdd) {
      std::uint32_t n = 0;
      if (depth + 1 > limits_.max_depth || !array(&n)) return false;
      for (std::uint32_t i = 0; i < n; ++i) {
        if (!value(depth + 1)) return false;
      }
      return true;
    }
    if ((b & 0xf0) == 0x80 || b == 0xde || b == 0xdf) {
      return depth + 1 <= limits_.max_depth && value_map(depth, nullptr);
    }
    switch (b) {
      case 0xc0:  // nil
      case 0xc2:  // false
      case 0xc3:  // true
        ++p_;
        return true;
      case 0xcb:  // float 64: every bit pattern is written as it is
        p_ += 1;
        return skip(8);
      default:  // float 32 (decoded as a double, written back as float 64), ext, 0xc1
        return false;
    }
  }

  // A map of Values at level depth + 1, keys in strictly ascending byte order; *tag gets the
  // value of a "tag" key when it is a string.
  bool value_map(std::uint32_t depth, std::optional<std::string_view>* tag) {
    std::uint32_t n = 0;
    if (!map(&n)) return false;
    std::string_view previous;
    for (std::uint32_t i = 0; i < n; ++i) {
      std::string_view k;
      if (!str(&k) || (i > 0 && !(previous < k))) return false;
      previous = k;
      if (tag != nullptr && k == "tag" && have(1) &&
          ((*p_ >= 0xa0 && *p_ <= 0xbf) || (*p_ >= 0xd9 && *p_ <= 0xdb))) {
        std::string_view t;
        if (!str(&t)) return false;
        *tag = t;
        continue;
      }
      if (!value(depth + 1)) return false;
    }
    return true;
  }

 private:
  PROCREG_SCAN_INLINE bool have(std::size_t n) const {
    return static_cast<std::size_t>(end_ - p_) >= n;
  }
  bool skip(std::size_t n) {
    if (!have(n)) return false;
    p_ += n;
    return true;
  }
  PROCREG_SCAN_INLINE bool be(int bytes, std::uint64_t* out) {
    if (!have(static_cast<std::size_t>(bytes))) return false;
    std::uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v = (v << 8) | *p_++;
    *out = v;
    return true;
  }
  PROCREG_SCAN_INLINE bool payload(std::uint64_t n, std::string_view* out) {
    if (n > limits_.max_string || !have(n)) return false;
    *out = std::string_view(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return true;
  }

  const unsigned char* begin_;
  const unsigned char* p_;
  const unsigned char* end_;
  const DecodeLimits& limits_;
};

// spec = { "id": str, "start": [str, str, [Value...]], extra keys ascending, not id/start }
bool scan_spec(Scanner& s, ScannedRow* row) {
  const char* start = s.here();
  std::uint32_t n = 0;
  if (!s.map(&n) || n < 2 || !s.key(kId) || !s.str(&row->id) || !s.key(kStart)) return false;
  std::uint32_t three = 0;
  std::uint32_t args = 0;
  std::string_view ignored;
  if (!s.array(&three) || three != 3 || !s.str(&ignored) || !s.str(&ignored) || !s.array(&args)) {
    return false;
  }
  for (std::uint32_t i = 0; i < args; ++i) {
    if (!s.value(1)) return false;  // read_value_array: the array is level 1
  }
  std::string_view previous;
  for (std::uint32_t i = 2; i < n; ++i) {
    std::string_view k;
    if (!s.str(&k) || k == kId || k == kStart || (i > 2 && !(previous < k))) return false;
    previous = k;
    if (!s.value(0)) return false;  // read_value: a container is level 1
  }
  row->parts.spec = s.since(start);
  return true;
}

// node_pids = [[str node, str pid], ...]
bool scan_node_pids(Scanner& s, ScannedRow* row) {
  const char* start = s.here();
  std::uint32_t n = 0;
  if (!s.array(&n)) return false;
  for (std::uint32_t i = 0; i < n; ++i) {
    std::uint32_t two = 0;
    std::string_view ignored;
    if (!s.array(&two) || two != 2 || !s.str(&ignored) || !s.str(&ignored)) return false;
  }
  row->node_count = n;
  row->parts.node_pids = s.since(start);
  return true;
}

// row = { "spec": spec, "np": node_pids, "md": map of Value, "exp"?: int }
bool scan_row(Scanner& s, ScannedRow* row) {
  std::uint32_t n = 0;
  if (!s.map(&n) || (n != 3 && n != 4)) return false;
  if (!s.key(kSpec) || !scan_spec(s, row) || !s.key(kNodePids) || !scan_node_pids(s, row) ||
      !s.key(kMetadata)) {
    return false;
  }
  const char* md = s.here();
  row->tag.reset();
  if (!s.value_map(0, &row->tag)) return false;  // read_value_map: the map is level 1
  row->parts.metadata = s.since(md);
  row->expires_at_ms.reset();
  if (n == 4) {
    std::int64_t exp = 0;
    if (!s.key(kExpires) || !s.int64(&exp)) return false;
    row->expires_at_ms = exp;
  }
  return true;
}

}  // namespace

bool scan_snapshot_row(std::string_view bytes, const DecodeLimits& limits,
                       ScannedSnapshotRow* out) {
  // (max_depth 0 refuses even the top-level maps and arrays of a row: left to the decoder.)
  if (bytes.size() > limits.max_bytes || limits.max_depth < 1) return false;
  Scanner s(bytes, limits);
  std::uint32_t n = 0;
  std::uint64_t version = 0;
  return s.map(&n) && n == 4 && s.key("v") && s.uint(&version) && version == kSnapshotRowVersion &&
         s.key(kTable) && s.str(&out->table) && !out->table.empty() && s.key(kRow) &&
         scan_row(s, &out->row) && s.key("rev") && s.uint(&out->revision) && s.at_end();
}

bool scan_insert_event(std::string_view bytes, const DecodeLimits& limits, ScannedInsert* out) {
  if (bytes.size() > limits.max_bytes || limits.max_depth < 1) return false;  // as above
  Scanner s(bytes, limits);
  std::uint32_t n = 0;
  std::uint64_t version = 0;
  std::string_view kind;
  if (!s.map(&n) || n != 9 || !s.key(kVersion) || !s.uint(&version) ||
      version != kEventSchemaVersion || !s.key(kKind) || !s.str(&kind) ||
      kind != event_kind_name(EventKind::kInsert) || !s.key(kHub) || !s.str(&out->hub) ||
      out->hub.empty() || !s.key(kTable) || !s.str(&out->table) || out->table.empty()) {
    return false;
  }
  std::uint32_t body = 0;
  return s.key(kSeq) && s.uint(&out->seq) && s.key(kEpoch) && s.uint(&out->epoch) && s.key(kTime) &&
         s.int64(&out->writer_time_ms) && s.key(kHooks) && s.boolean(&out->hooks) && s.key(kBody) &&
         s.map(&body) && body == 1 && s.key(kRow) && scan_row(s, &out->row) && s.at_end();
}

#undef PROCREG_SCAN_INLINE

}  // namespace procreg::events
