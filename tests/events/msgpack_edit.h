// Test helper: edits encoded events through msgpack-cxx's object model, not through the codec
// under test, to build inputs that procreg's encoder never writes (missing, duplicate, unknown
// or mistyped keys, other key orders). msgpack-cxx re-packs a float with an integral value as an
// integer, so float items given here must have a fraction.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <msgpack.hpp>

namespace procreg::test {

// One step into an encoding: a map key or an array index.
using Step = std::variant<std::string, std::size_t>;
using Path = std::vector<Step>;

// The decoder's name for `path`: "event.b.items[1].row" for {"b", "items", 1, "row"}.
std::string path_name(const Path& path, std::string_view root = "event");

// A key of a schema map (envelope, body, item, row or spec; not a Value map) and where it is.
struct SchemaKey {
  Path map_path;
  std::string key;
};
// Every key of every schema map of an encoded event, in encoding order.
std::vector<SchemaKey> schema_keys(std::string_view event_bytes);
// The path of every schema map of an encoded event, outermost first.
std::vector<Path> schema_maps(std::string_view event_bytes);

// Re-encodes `bytes` after `edit` has changed the map at `path`; new pairs or objects must be
// allocated in `zone`.
using MapEdit = std::function<void(msgpack::object_map* map, msgpack::zone* zone)>;
std::string edit_map(std::string_view bytes, const Path& path, const MapEdit& edit);

// Edits of the entry `key` of the map at `path`; `item` is an encoded MessagePack item.
std::string replace_value(std::string_view bytes, const Path& path, std::string_view key,
                          std::string_view item);
std::string remove_key(std::string_view bytes, const Path& path, std::string_view key);
std::string duplicate_key(std::string_view bytes, const Path& path, std::string_view key);
std::string add_key(std::string_view bytes, const Path& path, std::string_view key,
                    std::string_view item);
// Replaces the key `key` with the encoded item `new_key` (e.g. a non-string key).
std::string replace_key(std::string_view bytes, const Path& path, std::string_view key,
                        std::string_view new_key);
// Reverses the entry order of every schema map.
std::string reverse_schema_maps(std::string_view event_bytes);

}  // namespace procreg::test
