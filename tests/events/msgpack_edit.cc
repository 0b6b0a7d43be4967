#include "events/msgpack_edit.h"

#include <algorithm>
#include <cassert>

namespace procreg::test {

namespace {

std::string_view str_of(const msgpack::object& o) {
  return o.type == msgpack::type::STR ? std::string_view(o.via.str.ptr, o.via.str.size)
                                      : std::string_view();
}

msgpack::object* step_into(msgpack::object* o, const Step& step) {
  if (const auto* index = std::get_if<std::size_t>(&step)) {
    assert(o->type == msgpack::type::ARRAY && *index < o->via.array.size);
    return &o->via.array.ptr[*index];
  }
  assert(o->type == msgpack::type::MAP);
  for (std::uint32_t i = 0; i < o->via.map.size; ++i) {
    if (str_of(o->via.map.ptr[i].key) == std::get<std::string>(step)) {
      return &o->via.map.ptr[i].val;
    }
  }
  assert(false && "no such key");
  return nullptr;
}

msgpack::object_kv* find(msgpack::object_map* map, std::string_view key) {
  for (std::uint32_t i = 0; i < map->size; ++i) {
    if (str_of(map->ptr[i].key) == key) return &map->ptr[i];
  }
  assert(false && "no such key");
  return nullptr;
}

msgpack::object parse(std::string_view item, msgpack::zone* zone) {
  return msgpack::unpack(*zone, item.data(), item.size());
}

// Pairs copied into `zone` with room for `extra` more.
msgpack::object_kv* copy_pairs(const msgpack::object_map& map, std::uint32_t extra,
                               msgpack::zone* zone) {
  auto* pairs = static_cast<msgpack::object_kv*>(
      zone->allocate_align(sizeof(msgpack::object_kv) * (map.size + extra)));
  std::copy(map.ptr, map.ptr + map.size, pairs);
  return pairs;
}

// Calls visit(path, map) for every schema map under `o` (at `path`).
void walk_schema_maps(msgpack::object* o, Path& path,
                      const std::function<void(const Path&, msgpack::object_map*)>& visit) {
  if (o->type != msgpack::type::MAP) return;
  visit(path, &o->via.map);
  for (std::uint32_t i = 0; i < o->via.map.size; ++i) {
    const std::string key(str_of(o->via.map.ptr[i].key));
    msgpack::object* value = &o->via.map.ptr[i].val;
    path.emplace_back(key);
    if (key == "b" || key == "row" || key == "spec") {
      walk_schema_maps(value, path, visit);
    } else if (key == "items" && value->type == msgpack::type::ARRAY) {
      for (std::size_t j = 0; j < value->via.array.size; ++j) {
        path.emplace_back(j);
        walk_schema_maps(&value->via.array.ptr[j], path, visit);
        path.pop_back();
      }
    }
    path.pop_back();
  }
}

std::string pack(const msgpack::object& root) {
  msgpack::sbuffer buffer;
  msgpack::pack(buffer, root);
  return std::string(buffer.data(), buffer.size());
}

}  // namespace

std::string path_name(const Path& path, std::string_view root) {
  std::string out(root);
  for (const Step& step : path) {
    if (const auto* index = std::get_if<std::size_t>(&step)) {
      out += '[' + std::to_string(*index) + ']';
    } else {
      out += '.' + std::get<std::string>(step);
    }
  }
  return out;
}

std::vector<SchemaKey> schema_keys(std::string_view event_bytes) {
  msgpack::object_handle handle = msgpack::unpack(event_bytes.data(), event_bytes.size());
  msgpack::object root = handle.get();
  std::vector<SchemaKey> out;
  Path path;
  walk_schema_maps(&root, path, [&](const Path& map_path, msgpack::object_map* map) {
    for (std::uint32_t i = 0; i < map->size; ++i) {
      out.push_back({map_path, std::string(str_of(map->ptr[i].key))});
    }
  });
  return out;
}

std::vector<Path> schema_maps(std::string_view event_bytes) {
  msgpack::object_handle handle = msgpack::unpack(event_bytes.data(), event_bytes.size());
  msgpack::object root = handle.get();
  std::vector<Path> out;
  Path path;
  walk_schema_maps(&root, path,
                   [&](const Path& map_path, msgpack::object_map*) { out.push_back(map_path); });
  return out;
}

std::string edit_map(std::string_view bytes, const Path& path, const MapEdit& edit) {
  msgpack::object_handle handle = msgpack::unpack(bytes.data(), bytes.size());
  msgpack::object root = handle.get();
  msgpack::object* target = &root;
  for (const Step& step : path) target = step_into(target, step);
  assert(target->type == msgpack::type::MAP);
  edit(&target->via.map, handle.zone().get());
  return pack(root);
}

std::string replace_value(std::string_view bytes, const Path& path, std::string_view key,
                          std::string_view item) {
  return edit_map(bytes, path, [&](msgpack::object_map* map, msgpack::zone* zone) {
    find(map, key)->val = parse(item, zone);
  });
}

std::string remove_key(std::string_view bytes, const Path& path, std::string_view key) {
  return edit_map(bytes, path, [&](msgpack::object_map* map, msgpack::zone*) {
    msgpack::object_kv* pair = find(map, key);
    std::copy(pair + 1, map->ptr + map->size, pair);
    --map->size;
  });
}

std::string duplicate_key(std::string_view bytes, const Path& path, std::string_view key) {
  return edit_map(bytes, path, [&](msgpack::object_map* map, msgpack::zone* zone) {
    msgpack::object_kv* pairs = copy_pairs(*map, 1, zone);
    pairs[map->size] = *find(map, key);
    map->ptr = pairs;
    ++map->size;
  });
}

std::string add_key(std::string_view bytes, const Path& path, std::string_view key,
                    std::string_view item) {
  return edit_map(bytes, path, [&](msgpack::object_map* map, msgpack::zone* zone) {
    msgpack::object_kv* pairs = copy_pairs(*map, 1, zone);
    pairs[map->size].key =
        msgpack::object(msgpack::type::raw_ref(key.data(), static_cast<std::uint32_t>(key.size())));
    pairs[map->size].key.type = msgpack::type::STR;
    pairs[map->size].val = parse(item, zone);
    map->ptr = pairs;
    ++map->size;
  });
}

std::string replace_key(std::string_view bytes, const Path& path, std::string_view key,
                        std::string_view new_key) {
  return edit_map(bytes, path, [&](msgpack::object_map* map, msgpack::zone* zone) {
    find(map, key)->key = parse(new_key, zone);
  });
}

std::string reverse_schema_maps(std::string_view event_bytes) {
  msgpack::object_handle handle = msgpack::unpack(event_bytes.data(), event_bytes.size());
  msgpack::object root = handle.get();
  Path path;
  walk_schema_maps(&root, path, [](const Path&, msgpack::object_map* map) {
    std::reverse(map->ptr, map->ptr + map->size);
  });
  return pack(root);
}

}  // namespace procreg::test
