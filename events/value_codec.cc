// The MessagePack form of a Value (docs/EVENT_FORMAT.md, "Values"): nil, bool, integers in their
// smallest format (negative ones in the int formats, the rest in the uint formats), float 64,
// str, bin, array, and map with str keys in ascending byte order. Decoding also accepts float 32
// (widened to a double) and any integer width; a non-negative integer becomes a uint, as Value
// normalises it. Ext types, non-string map keys and duplicate keys are kCorruption.

#include <algorithm>
#include <cassert>
#include <string>
#include <utility>

#include "events/codec.h"
#include "events/decoder.h"
#include "events/encoder.h"

namespace procreg::events {

void Encoder::value(const Value& v) {
  switch (v.type()) {
    case Value::Type::kNil:
      nil();
      return;
    case Value::Type::kBool:
      boolean(v.as_bool());
      return;
    case Value::Type::kInt:
      int64(v.as_int());
      return;
    case Value::Type::kUint:
      uint(v.as_uint());
      return;
    case Value::Type::kFloat:
      float64(v.as_float());
      return;
    case Value::Type::kString:
      str(v.as_string());
      return;
    case Value::Type::kBinary:
      bin(v.as_binary().bytes);
      return;
    case Value::Type::kArray:
      value_array(v.as_array());
      return;
    case Value::Type::kMap:
      value_map(v.as_map());
      return;
  }
  assert(false && "a Value type without an encoding");
}

void Encoder::value_array(const Value::Array& array) {
  this->array(array.size());
  for (const Value& element : array) value(element);
}

void Encoder::value_map(const Value::Map& map) {
  this->map(map.size());
  for (const auto& [key, element] : map) {
    str(key);
    value(element);
  }
}

void Encoder::node_pids(const NodePids& node_pids) {
  array(node_pids.size());
  for (const NodePid& pair : node_pids) {
    array(2);
    str(pair.node);
    str(pair.pid);
  }
}

DecodeLimits record_limits(std::uint32_t record_bytes) {
  DecodeLimits limits;
  limits.max_bytes = record_bytes;
  limits.max_container = record_bytes;
  limits.max_string = record_bytes;
  return limits;
}

bool within_depth(const Value::Array& array, std::uint32_t max_depth) {
  if (max_depth == 0) return false;
  return std::all_of(array.begin(), array.end(),
                     [&](const Value& v) { return within_depth(v, max_depth - 1); });
}

bool within_depth(const Value::Map& map, std::uint32_t max_depth) {
  if (max_depth == 0) return false;
  return std::all_of(map.begin(), map.end(),
                     [&](const auto& kv) { return within_depth(kv.second, max_depth - 1); });
}

bool within_depth(const Value& value, std::uint32_t max_depth) {
  if (value.type() == Value::Type::kArray) return within_depth(value.as_array(), max_depth);
  if (value.type() == Value::Type::kMap) return within_depth(value.as_map(), max_depth);
  return true;
}

bool Decoder::check_depth(std::uint32_t depth) {
  if (depth <= limits_.max_depth) return true;
  return fail(Code::kResourceExhausted,
              "Value nesting exceeds max_depth " + std::to_string(limits_.max_depth));
}

// `depth` is the number of containers enclosing the value being read.
bool Decoder::read_value_at(Value* out, std::uint32_t depth) {
  Head head;
  if (!next_head(&head)) return false;
  std::string_view payload;
  switch (head.family) {
    case Family::kNil:
      *out = Value();
      return true;
    case Family::kBool:
      *out = Value(head.n != 0);
      return true;
    case Family::kUint:
      *out = Value(head.n);
      return true;
    case Family::kInt:
      *out = Value(static_cast<std::int64_t>(head.n));
      return true;
    case Family::kFloat:
      *out = Value(head.f);
      return true;
    case Family::kStr:
      if (!read_payload(head, &payload)) return false;
      *out = Value(std::string(payload));
      return true;
    case Family::kBin:
      if (!read_payload(head, &payload)) return false;
      *out = Value(Value::Binary{{payload.begin(), payload.end()}});
      return true;
    case Family::kArray:
    case Family::kMap:
      return read_container(head, out, depth + 1);
    case Family::kExt:
    case Family::kInvalid:
      break;
  }
  return fail(Code::kCorruption, "ext types are not part of the format");
}

// `level` is the container's own nesting level (1 for a top-level array or map).
bool Decoder::read_container(const Head& head, Value* out, std::uint32_t level) {
  const bool is_map = head.family == Family::kMap;
  if (!check_depth(level) || !check_container(head, is_map ? 2 : 1)) return false;
  const auto count = static_cast<std::uint32_t>(head.n);
  if (is_map) {
    Value::Map map;
    if (!read_map_body(count, &map, level)) return false;
    *out = Value(std::move(map));
  } else {
    Value::Array array;
    if (!read_array_body(count, &array, level)) return false;
    *out = Value(std::move(array));
  }
  return true;
}

bool Decoder::read_array_body(std::uint32_t count, Value::Array* out, std::uint32_t depth) {
  out->reserve(initial_capacity(count));
  for (std::uint32_t i = 0; i < count; ++i) {
    if (!read_value_at(&out->emplace_back(), depth)) return false;
  }
  return true;
}

bool Decoder::read_map_body(std::uint32_t count, Value::Map* out, std::uint32_t depth) {
  for (std::uint32_t i = 0; i < count; ++i) {
    std::string_view key;
    if (!read_key(&key)) return false;
    const std::size_t size_before = out->size();
    // Keys arrive in ascending order from procreg's encoder, so the end() hint makes each insert
    // constant time; other orders are accepted at the usual cost.
    const auto it = out->try_emplace(out->end(), std::string(key));
    if (out->size() == size_before) return fail_duplicate_key(key);
    if (!read_value_at(&it->second, depth)) return false;
  }
  return true;
}

bool Decoder::read_value_array(Value::Array* out) {
  std::uint32_t count = 0;
  return read_array_head(&count) && check_depth(1) && read_array_body(count, out, 1);
}

bool Decoder::read_value_map(Value::Map* out) {
  std::uint32_t count = 0;
  return read_map_head(&count) && check_depth(1) && read_map_body(count, out, 1);
}

void encode_value(const Value& value, std::string* out) { Encoder(out).value(value); }

Result<Value> decode_value(std::string_view bytes, const DecodeLimits& limits) {
  return decode_without_throwing<Value>([&]() -> Result<Value> {
    Decoder decoder(bytes, limits, "value");
    Result<Value> result = Value();  // decoded in place, returned without a copy
    if (!decoder.check_size(bytes.size()) || !decoder.read_value(&*result) || !decoder.finish()) {
      result = std::move(decoder).error();
    }
    return result;
  });
}

}  // namespace procreg::events
