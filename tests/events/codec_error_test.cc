// Malformed input: every error is a Status with the documented code and a message naming where
// (the path of keys and indexes, the byte offset); nothing throws or crashes.

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "events/codec.h"
#include "events/codec_samples.h"
#include "events/msgpack_edit.h"
#include "events/random_events.h"

namespace procreg::events {
namespace {

using test::from_hex;
using test::Path;
using test::path_name;

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}
bool contains(std::string_view s, std::string_view part) {
  return s.find(part) != std::string_view::npos;
}

template <typename T>
void check_error(const Result<T>& result, Code code, std::string_view message_part) {
  BOOST_TEST_REQUIRE(!result.ok(), "decoded, expected " << code_name(code));
  BOOST_TEST(code_name(result.status().code()) == code_name(code), result.status().to_string());
  const std::string message = result.status().message();
  BOOST_TEST(contains(message, message_part), message << " lacks " << message_part);
}

const std::string kInsertBytes = encode(test::sample_event(Insert{test::sample_row(true)}));

// Items of a wrong type for each schema key, by the key's type: a nil, a near miss, a string or
// an integer.
const std::map<std::string, std::vector<std::string_view>>& wrong_items() {
  static const auto* items = [] {
    const std::vector<std::string_view> for_str = {"c0", "c40178", "01"};  // bin "x"
    const std::vector<std::string_view> for_uint = {"c0", "ff", "cb3ff8000000000000", "a131"};
    const std::vector<std::string_view> for_int = {"c0", "cb3ff8000000000000", "a131"};
    const std::vector<std::string_view> for_bool = {"c0", "01", "a131"};
    const std::vector<std::string_view> for_map = {"c0", "90", "a131"};
    const std::vector<std::string_view> for_array = {"c0", "80", "a131"};
    return new std::map<std::string, std::vector<std::string_view>>{
        {"v", for_uint},   {"k", for_str},    {"hub", for_str},     {"tbl", for_str},
        {"seq", for_uint}, {"ep", for_uint},  {"t", for_int},       {"hk", for_bool},
        {"b", for_map},    {"row", for_map},  {"items", for_array}, {"diff", for_array},
        {"id", for_str},   {"chg", for_bool}, {"np", for_array},    {"exp", for_int},
        {"rs", for_uint},  {"spec", for_map}, {"md", for_map},      {"start", for_array}};
  }();
  return *items;
}

bool is_spec_extra(const test::SchemaKey& at) { return !wrong_items().contains(at.key); }

Path child(Path path, std::string key) {
  path.emplace_back(std::move(key));
  return path;
}

BOOST_AUTO_TEST_SUITE(codec_errors)

BOOST_AUTO_TEST_CASE(every_truncation_of_a_valid_encoding_is_corruption) {
  std::vector<std::string> encodings;
  for (const test::NamedEvent& sample : test::sample_events()) {
    encodings.push_back(encode(sample.event));
  }
  test::RandomEvents random(99);
  for (int i = 0; i < 30; ++i) encodings.push_back(encode(random.event()));
  for (const std::string& bytes : encodings) {
    for (std::size_t size = 0; size < bytes.size(); ++size) {
      const Result<Event> decoded = decode(std::string_view(bytes).substr(0, size));
      BOOST_TEST_REQUIRE(!decoded.ok());
      BOOST_TEST_REQUIRE((decoded.status().code() == Code::kCorruption),
                         decoded.status().to_string());
      BOOST_TEST_REQUIRE(contains(decoded.status().message(), "truncated"));
    }
  }
  for (int i = 0; i < 200; ++i) {
    std::string bytes;
    encode_value(random.value(6), &bytes);
    for (std::size_t size = 0; size < bytes.size(); ++size) {
      check_error(decode_value(std::string_view(bytes).substr(0, size)), Code::kCorruption,
                  "truncated");
    }
  }
}

BOOST_AUTO_TEST_CASE(trailing_bytes_are_corruption) {
  check_error(decode(kInsertBytes + '\0'), Code::kCorruption, "1 trailing bytes");
  check_error(decode(kInsertBytes + kInsertBytes), Code::kCorruption, "trailing bytes");
  check_error(decode_value(from_hex("0102")), Code::kCorruption,
              "value: 1 trailing bytes at byte 1");
}

BOOST_AUTO_TEST_CASE(a_wrong_type_for_any_schema_field_is_corruption_naming_the_field) {
  for (const test::NamedEvent& sample : test::sample_events()) {
    const std::string bytes = encode(sample.event);
    for (const test::SchemaKey& at : test::schema_keys(bytes)) {
      if (is_spec_extra(at)) continue;  // a Value: any type is right
      for (const std::string_view item : wrong_items().at(at.key)) {
        BOOST_TEST_CONTEXT(sample.name << ": " << path_name(child(at.map_path, at.key)) << " = "
                                       << item) {
          const Result<Event> decoded =
              decode(test::replace_value(bytes, at.map_path, at.key, from_hex(item)));
          check_error(decoded, Code::kCorruption, "expected ");
          BOOST_TEST(starts_with(decoded.status().message(),
                                 path_name(child(at.map_path, at.key)) + ": expected "),
                     decoded.status().message());
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(the_error_names_path_types_and_byte_offset) {
  const Result<Event> decoded = decode(test::replace_value(kInsertBytes, {}, "hub", "\x2a"));
  BOOST_TEST(decoded.status().to_string() ==
             "corruption: event.hub: expected str, found uint at byte 17");
  const Result<Event> nested = decode(
      test::replace_value(kInsertBytes, {"b", "row", "spec"}, "start", from_hex("93a14da16680")));
  BOOST_TEST(nested.status().to_string() ==
             "corruption: event.b.row.spec.start[2]: expected array, found map at byte 84");
}

BOOST_AUTO_TEST_CASE(keys_from_the_input_are_quoted_in_error_paths) {
  // An unknown key with a control byte, whose value breaks a limit while it is skipped.
  const std::string bytes =
      test::add_key(encode(test::sample_event(Clear{})), {"b"}, std::string_view("a\x01.b", 4),
                    from_hex("a6616263646566"));
  DecodeLimits limits;
  limits.max_string = 5;  // "clear", the longest string of the event, still fits
  check_error(decode(bytes, limits), Code::kResourceExhausted,
              R"(event.b."a\x01.b": str of 6 bytes exceeds max_string 5)");
}

BOOST_AUTO_TEST_CASE(a_missing_required_key_is_corruption_naming_the_key_and_its_map) {
  for (const test::NamedEvent& sample : test::sample_events()) {
    const std::string bytes = encode(sample.event);
    for (const test::SchemaKey& at : test::schema_keys(bytes)) {
      if (is_spec_extra(at) || at.key == "exp") continue;
      BOOST_TEST_CONTEXT(sample.name << ": without " << path_name(child(at.map_path, at.key))) {
        const Result<Event> decoded = decode(test::remove_key(bytes, at.map_path, at.key));
        BOOST_TEST_REQUIRE(!decoded.ok());
        BOOST_TEST(decoded.status().to_string() ==
                   "corruption: " + path_name(at.map_path) + ": missing key \"" + at.key + "\"");
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(optional_keys_may_be_absent) {
  const Result<Event> decoded = decode(test::remove_key(kInsertBytes, {"b", "row"}, "exp"));
  BOOST_TEST_REQUIRE(decoded.ok(), decoded.status().to_string());
  BOOST_TEST((*decoded == test::sample_event(Insert{test::sample_row(false)})));
}

BOOST_AUTO_TEST_CASE(a_duplicate_key_is_corruption) {
  for (const test::NamedEvent& sample : test::sample_events()) {
    const std::string bytes = encode(sample.event);
    for (const test::SchemaKey& at : test::schema_keys(bytes)) {
      BOOST_TEST_CONTEXT(sample.name << ": twice " << path_name(child(at.map_path, at.key))) {
        const Result<Event> decoded = decode(test::duplicate_key(bytes, at.map_path, at.key));
        check_error(decoded, Code::kCorruption, "duplicate key \"" + at.key + "\"");
        BOOST_TEST(starts_with(decoded.status().message(), path_name(at.map_path) + ": "));
      }
    }
  }
  const std::string unknown_twice = test::add_key(
      test::add_key(kInsertBytes, {"b"}, "zz", from_hex("01")), {"b"}, "zz", from_hex("02"));
  check_error(decode(unknown_twice), Code::kCorruption, "event.b: duplicate key \"zz\"");
  check_error(decode_value(from_hex("82 a161 01 a161 02")), Code::kCorruption,
              "value: duplicate key \"a\" at byte 4");
}

BOOST_AUTO_TEST_CASE(a_map_key_that_is_not_a_string_is_corruption) {
  check_error(decode_value(from_hex("81 01 01")), Code::kCorruption,
              "value: map key is not a string (found uint) at byte 1");
  check_error(decode(test::replace_key(kInsertBytes, {}, "hub", from_hex("01"))), Code::kCorruption,
              "event: map key is not a string");
  check_error(decode(test::replace_key(kInsertBytes, {"b", "row", "md"}, "tag", from_hex("c0"))),
              Code::kCorruption, "event.b.row.md: map key is not a string (found nil)");
  check_error(
      decode(test::replace_key(kInsertBytes, {"b", "row", "spec"}, "restart", from_hex("c40178"))),
      Code::kCorruption, "event.b.row.spec: map key is not a string (found bin)");
}

BOOST_AUTO_TEST_CASE(schema_version_zero_is_corruption) {
  check_error(decode(test::replace_value(kInsertBytes, {}, "v", from_hex("00"))), Code::kCorruption,
              "event.v: schema version 0 is invalid");
}

BOOST_AUTO_TEST_CASE(a_newer_schema_version_is_unsupported_naming_both_versions) {
  const std::string v2 = test::replace_value(kInsertBytes, {}, "v", from_hex("02"));
  check_error(decode(v2), Code::kUnsupported,
              "event.v: schema version 2 is newer than this build's 1");
  // Checked before anything else: a body v1 cannot read, written before "v", still says so.
  const std::string v2_body_first =
      test::reverse_schema_maps(test::replace_value(v2, {}, "b", from_hex("a3786878")));
  check_error(decode(v2_body_first), Code::kUnsupported, "schema version 2 is newer");
}

BOOST_AUTO_TEST_CASE(an_unknown_kind_is_unsupported) {
  check_error(decode(test::replace_value(kInsertBytes, {}, "k", from_hex("a466726f62"))),
              Code::kUnsupported, "event.k: unknown event kind \"frob\"");
}

BOOST_AUTO_TEST_CASE(an_empty_hub_or_table_is_corruption) {
  check_error(decode(test::replace_value(kInsertBytes, {}, "hub", from_hex("a0"))),
              Code::kCorruption, "event.hub: empty string");
  check_error(decode(test::replace_value(kInsertBytes, {}, "tbl", from_hex("a0"))),
              Code::kCorruption, "event.tbl: empty string");
}

BOOST_AUTO_TEST_CASE(start_and_node_pid_pairs_must_have_their_arity_and_types) {
  const Path spec = {"b", "row", "spec"};
  check_error(decode(test::replace_value(kInsertBytes, spec, "start", from_hex("92a14da166"))),
              Code::kCorruption,
              "event.b.row.spec.start: expected an array of 3 elements, found 2");
  check_error(decode(test::replace_value(kInsertBytes, spec, "start", from_hex("9301a16690"))),
              Code::kCorruption, "event.b.row.spec.start[0]: expected str, found uint");
  const Path row = {"b", "row"};
  check_error(decode(test::replace_value(kInsertBytes, row, "np", from_hex("9193a16ea170a178"))),
              Code::kCorruption, "event.b.row.np[0]: expected an array of 2 elements, found 3");
  check_error(
      decode(test::replace_value(kInsertBytes, row, "np", from_hex("92 92a16ea170 9201a170"))),
      Code::kCorruption, "event.b.row.np[1]: expected str, found uint");
  check_error(decode(test::replace_value(kInsertBytes, row, "np", from_hex("91c0"))),
              Code::kCorruption, "event.b.row.np[0]: expected array, found nil");
}

BOOST_AUTO_TEST_CASE(an_integer_outside_int64_is_corruption_where_an_int_is_expected) {
  check_error(decode(test::replace_value(kInsertBytes, {}, "t", from_hex("cf8000000000000000"))),
              Code::kCorruption, "event.t: integer 9223372036854775808 exceeds int64");
}

BOOST_AUTO_TEST_CASE(ext_types_and_the_never_used_byte_are_corruption) {
  check_error(decode_value(from_hex("d40100")), Code::kCorruption,
              "value: ext types are not part of the format at byte 0");
  check_error(decode_value(from_hex("92 01 c7020001 02")), Code::kCorruption, "ext types");
  check_error(
      decode(test::replace_value(kInsertBytes, {"b", "row", "md"}, "tag", from_hex("d501abcd"))),
      Code::kCorruption, "event.b.row.md: ext types are not part of the format");
  check_error(decode_value(from_hex("91 c1")), Code::kCorruption,
              "value: invalid format byte 0xc1 at byte 1");
}

BOOST_AUTO_TEST_CASE(input_larger_than_max_bytes_is_resource_exhausted) {
  DecodeLimits limits;
  limits.max_bytes = kInsertBytes.size() - 1;
  check_error(decode(kInsertBytes, limits), Code::kResourceExhausted,
              "exceeds max_bytes " + std::to_string(limits.max_bytes));
  limits.max_bytes = kInsertBytes.size();
  BOOST_TEST(decode(kInsertBytes, limits).ok());
}

BOOST_AUTO_TEST_CASE(a_string_longer_than_max_string_is_resource_exhausted) {
  const std::string big(std::size_t{1} << 20 | 1, 'x');  // 1 MiB + 1
  std::string big_item;
  encode_value(Value(big), &big_item);
  const std::string bytes = test::replace_value(kInsertBytes, {"b", "row", "md"}, "tag", big_item);
  BOOST_TEST(decode(bytes).ok());  // within the defaults
  DecodeLimits limits;
  limits.max_string = 1 << 20;
  check_error(decode(bytes, limits), Code::kResourceExhausted,
              "event.b.row.md: str of 1048577 bytes exceeds max_string 1048576");
  check_error(decode_value(big_item, limits), Code::kResourceExhausted, "exceeds max_string");
  limits.max_string = 2;
  check_error(decode(kInsertBytes, limits), Code::kResourceExhausted,
              "event.k: str of 6 bytes exceeds max_string 2");  // "insert"
  check_error(decode_value(from_hex("c403010203"), limits), Code::kResourceExhausted,
              "bin of 3 bytes exceeds max_string 2");
}

BOOST_AUTO_TEST_CASE(nesting_deeper_than_max_depth_is_resource_exhausted) {
  std::string deep;
  for (int i = 0; i < 100; ++i) deep += '\x91';  // [[[...]]], 100 levels
  deep += '\xc0';
  check_error(decode_value(deep), Code::kResourceExhausted, "Value nesting exceeds max_depth 32");
  check_error(decode(test::replace_value(kInsertBytes, {"b", "row", "md"}, "tag", deep)),
              Code::kResourceExhausted, "event.b.row.md: Value nesting exceeds max_depth 32");
  // A map counts like an array; args and metadata are themselves the first level.
  DecodeLimits limits;
  limits.max_depth = 2;
  BOOST_TEST(decode_value(from_hex("81a16191c0"), limits).ok());
  check_error(decode_value(from_hex("81a1619191c0"), limits), Code::kResourceExhausted,
              "max_depth 2");
  const std::string args_2_deep =
      test::replace_value(kInsertBytes, {"b", "row", "spec"}, "start", from_hex("93a14da166 9190"));
  BOOST_TEST(decode(args_2_deep, limits).ok());
  const std::string args_3_deep = test::replace_value(kInsertBytes, {"b", "row", "spec"}, "start",
                                                      from_hex("93a14da166 919190"));
  check_error(decode(args_3_deep, limits), Code::kResourceExhausted,
              "event.b.row.spec.start[2]: Value nesting exceeds max_depth 2");
}

BOOST_AUTO_TEST_CASE(a_huge_container_count_is_refused_before_allocating) {
  // 2^31 elements declared, none present: beyond max_container, and with the limit lifted, more
  // than the bytes left. Either way nothing of that size is allocated (ASan would report it).
  check_error(decode_value(from_hex("dd80000000")), Code::kResourceExhausted,
              "value: array of 2147483648 elements exceeds max_container 1048576 at byte 0");
  check_error(decode_value(from_hex("df80000000")), Code::kResourceExhausted,
              "map of 2147483648 pairs");
  DecodeLimits unlimited;
  unlimited.max_container = std::numeric_limits<std::uint32_t>::max();
  unlimited.max_string = std::numeric_limits<std::uint32_t>::max();
  check_error(decode_value(from_hex("dd80000000 01"), unlimited), Code::kCorruption,
              "truncated: array of 2147483648 elements cannot fit in the 1 bytes left");
  check_error(decode_value(from_hex("dbffffffff 61"), unlimited), Code::kCorruption,
              "truncated: str of 4294967295 bytes has only 1 bytes left");
  // In a list of the schema and in a skipped unknown key.
  std::string huge_items = encode(test::sample_event(Expire{}));
  // The body {"items": []} ends the encoding; its empty array becomes a claim of 2^31 elements.
  BOOST_TEST_REQUIRE(test::to_hex(huge_items.substr(huge_items.size() - 1)) == "90");
  huge_items.replace(huge_items.size() - 1, 1, from_hex("dd80000000"));
  check_error(decode(huge_items), Code::kResourceExhausted, "event.b.items: array of 2147483648");
  check_error(decode(huge_items, unlimited), Code::kCorruption, "event.b.items: truncated");
  // {"v": 1, "z": a map claiming 2^31 pairs}: "z" is unknown, so it is skipped.
  const std::string skipped = from_hex("82 a176 01 a17a df80000000");
  check_error(decode(skipped), Code::kResourceExhausted, "event.z: map of 2147483648 pairs");
  check_error(decode(skipped, unlimited), Code::kCorruption, "event.z: truncated");
}

BOOST_AUTO_TEST_CASE(a_container_of_exactly_max_container_elements_decodes) {
  DecodeLimits limits;
  limits.max_container = 3;
  BOOST_TEST(decode_value(from_hex("93010203"), limits).ok());
  check_error(decode_value(from_hex("9401020304"), limits), Code::kResourceExhausted,
              "array of 4 elements exceeds max_container 3");
  check_error(decode_value(from_hex("84 a16101 a16201 a16301 a16401"), limits),
              Code::kResourceExhausted, "map of 4 pairs exceeds max_container 3");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace procreg::events
