#include "events/random_events.h"

#include <array>
#include <limits>
#include <string_view>
#include <utility>

namespace procreg::test {

namespace {

// Values at and around each MessagePack integer format boundary.
constexpr std::array<std::int64_t, 20> kEdgeIntegers = {
    0,      1,      127,           128,           255,
    256,    65535,  65536,         4294967295,    4294967296,
    -1,     -32,    -33,           -128,          -129,
    -32768, -32769, -2147483648LL, -2147483649LL, std::numeric_limits<std::int64_t>::min()};

constexpr std::array<std::string_view, 8> kPieces = {"a",
                                                     "worker",
                                                     "\xc3\xbc" /* ü */,
                                                     "\xe6\x97\xa5\xe6\x9c\xac" /* 日本 */,
                                                     "\xf0\x9f\x9a\x80" /* rocket */,
                                                     std::string_view("\0", 1),
                                                     "\"quoted\\",
                                                     " "};

}  // namespace

std::int64_t RandomEvents::integer() {
  if (one_in(2)) return kEdgeIntegers[below(kEdgeIntegers.size())];
  return static_cast<std::int64_t>(rng_()) >> below(64);
}

std::string RandomEvents::string() {
  switch (below(8)) {
    case 0:
      return "";
    case 1:
      return std::string(31 + below(3), 's');  // fixstr / str 8 boundary
    case 2:
      return std::string(255 + below(3), 'm');  // str 8 / str 16 boundary
    case 3:
      if (one_in(500)) return std::string(65535 + below(3), 'l');  // str 16 / str 32
      [[fallthrough]];
    default: {
      std::string s;
      const std::uint64_t pieces = below(6);
      for (std::uint64_t i = 0; i < pieces; ++i) s += kPieces[below(kPieces.size())];
      return s;
    }
  }
}

std::string RandomEvents::non_empty_string() {
  std::string s = string();
  return s.empty() ? "x" : s;
}

Value RandomEvents::value(int depth) {
  switch (below(depth > 0 ? 11 : 9)) {
    case 0:
      return Value();
    case 1:
      return Value(one_in(2));
    case 2:
    case 3:
      return Value(integer());
    case 4:
      return Value(std::numeric_limits<std::uint64_t>::max() - below(3));
    case 5:
      if (one_in(10)) return Value(one_in(2) ? -0.0 : std::numeric_limits<double>::infinity());
      return Value(static_cast<double>(integer()) / 7.0);
    case 6:
    case 7:
      return Value(string());
    case 8: {
      Value::Binary bin;
      const std::uint64_t size = one_in(10) ? 256 : below(8);
      for (std::uint64_t i = 0; i < size; ++i)
        bin.bytes.push_back(static_cast<std::uint8_t>(rng_()));
      return Value(std::move(bin));
    }
    case 9: {
      Value::Array array;
      const std::uint64_t size = one_in(20) ? 17 : below(4);
      for (std::uint64_t i = 0; i < size; ++i) array.push_back(value(depth - 1));
      return Value(std::move(array));
    }
    default:
      return Value(value_map(depth - 1));
  }
}

Value::Map RandomEvents::value_map(int depth) {
  Value::Map map;
  const std::uint64_t size = one_in(20) ? 17 : below(4);
  for (std::uint64_t i = 0; i < size; ++i) map[string()] = value(depth);
  return map;
}

NodePids RandomEvents::node_pids() {
  NodePids out;
  const std::uint64_t size = below(4);
  for (std::uint64_t i = 0; i < size; ++i) out.push_back({string(), string()});
  return out;
}

Row RandomEvents::row() {
  Row row;
  const int depth = one_in(10) ? 12 : 4;  // mostly shallow, sometimes deep-ish
  Value::Array args;
  const std::uint64_t arg_count = below(4);
  for (std::uint64_t i = 0; i < arg_count; ++i) args.push_back(value(depth - 1));
  row.entry.spec = make_spec(string(), string(), string(), std::move(args));
  for (auto& [key, value] : value_map(depth - 1)) {
    if (key != "id" && key != "start") row.entry.spec.extra.emplace(key, std::move(value));
  }
  row.entry.node_pids = node_pids();
  row.entry.metadata = value_map(depth - 1);
  if (one_in(3)) row.entry.metadata[kTagKey] = Value(string());
  if (one_in(2)) row.expires_at_ms = integer();
  return row;
}

EventBody RandomEvents::body() {
  const std::uint64_t items = below(4);
  switch (below(7)) {
    case 0:
      return events::Insert{row()};
    case 1: {
      events::BulkInsert body;
      for (std::uint64_t i = 0; i < items; ++i) body.items.push_back({row(), node_pids()});
      return body;
    }
    case 2:
      return events::Delete{string()};
    case 3: {
      events::BulkDelete body;
      for (std::uint64_t i = 0; i < items; ++i) {
        body.items.push_back({string(), one_in(2), node_pids(),
                              one_in(2) ? std::optional<std::int64_t>(integer()) : std::nullopt});
      }
      return body;
    }
    case 4:
      return events::Update{string(), row()};
    case 5:
      return events::Clear{};
    default: {
      events::Expire body;
      for (std::uint64_t i = 0; i < items; ++i) {
        body.items.push_back({string(), static_cast<std::uint64_t>(integer())});
      }
      return body;
    }
  }
}

Event RandomEvents::event() {
  Event event;
  event.hub = non_empty_string();
  event.table = non_empty_string();
  event.seq = static_cast<std::uint64_t>(integer());
  event.epoch = rng_();
  event.writer_time_ms = integer();
  event.hooks = one_in(2);
  event.body = body();
  return event;
}

}  // namespace procreg::test
