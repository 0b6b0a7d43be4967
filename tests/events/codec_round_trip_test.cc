// Round trips: decode(encode(e)) == e and encode(decode(b)) == b for generated events and
// Values, and the reader's leniency: any key order, any integer width, float 32, unknown keys.

#include <cstdint>
#include <string>

#include <boost/test/unit_test.hpp>

#include "events/codec.h"
#include "events/codec_samples.h"
#include "events/msgpack_edit.h"
#include "events/random_events.h"

namespace procreg::events {
namespace {

using test::from_hex;

BOOST_AUTO_TEST_SUITE(codec_round_trip)

BOOST_AUTO_TEST_CASE(random_events_survive_encode_and_decode) {
  test::RandomEvents random(20240601);
  for (int i = 0; i < 20000; ++i) {
    const Event event = random.event();
    const std::string bytes = encode(event);
    const Result<Event> decoded = decode(bytes);
    BOOST_TEST_REQUIRE(decoded.ok(), "event " << i << ": " << decoded.status().to_string());
    BOOST_TEST_REQUIRE((*decoded == event), "event " << i << " decodes to another event");
    BOOST_TEST_REQUIRE(encode(*decoded) == bytes, "event " << i << " re-encodes differently");
  }
}

BOOST_AUTO_TEST_CASE(random_values_survive_encode_and_decode) {
  test::RandomEvents random(7);
  for (int i = 0; i < 20000; ++i) {
    const Value value = random.value(8);
    std::string bytes;
    encode_value(value, &bytes);
    const Result<Value> decoded = decode_value(bytes);
    BOOST_TEST_REQUIRE(decoded.ok(), "value " << i << ": " << decoded.status().to_string());
    BOOST_TEST_REQUIRE((*decoded == value), "value " << i << ": " << value.debug_string());
  }
}

BOOST_AUTO_TEST_CASE(values_nested_to_exactly_max_depth_decode) {
  Value value = Value(Value::Array{});
  for (int level = 1; level < 32; ++level) value = Value(Value::Array{value});
  std::string bytes;
  encode_value(value, &bytes);
  const Result<Value> decoded = decode_value(bytes);  // 32 levels, the default max_depth
  BOOST_TEST_REQUIRE(decoded.ok(), decoded.status().to_string());
  BOOST_TEST((*decoded == value));
}

BOOST_AUTO_TEST_CASE(keys_in_any_order_decode_to_the_same_event) {
  // Reversed, "v" comes last (found by a scan first) and "b" before "k" (read afterwards).
  for (const test::NamedEvent& sample : test::sample_events()) {
    BOOST_TEST_CONTEXT(sample.name) {
      const Result<Event> decoded = decode(test::reverse_schema_maps(encode(sample.event)));
      BOOST_TEST_REQUIRE(decoded.ok(), decoded.status().to_string());
      BOOST_TEST((*decoded == sample.event));
    }
  }
}

BOOST_AUTO_TEST_CASE(unknown_keys_are_skipped_outside_specs) {
  // A newer writer's optional addition, with a payload of every kind, even an ext.
  const std::string future =
      from_hex("83 a178 c4020102 a179 92c0d40100 a17a 81a161cb3ff0000000000000");
  for (const test::NamedEvent& sample : test::sample_events()) {
    const std::string bytes = encode(sample.event);
    for (const test::Path& map : test::schema_maps(bytes)) {
      if (!map.empty() && map.back() == test::Step("spec")) continue;  // the next test's case
      BOOST_TEST_CONTEXT(sample.name << " at " << test::path_name(map)) {
        const Result<Event> decoded = decode(test::add_key(bytes, map, "zz_future", future));
        BOOST_TEST_REQUIRE(decoded.ok(), decoded.status().to_string());
        BOOST_TEST((*decoded == sample.event));
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(unknown_keys_of_a_spec_are_its_extra_fields) {
  const Event event = test::sample_event(Insert{test::sample_row(false)});
  const std::string bytes =
      test::add_key(encode(event), {"b", "row", "spec"}, "shutdown", from_hex("cd1388"));
  const Result<Event> decoded = decode(bytes);
  BOOST_TEST_REQUIRE(decoded.ok(), decoded.status().to_string());
  Event expected = event;
  std::get<Insert>(expected.body).row.entry.spec.extra["shutdown"] = Value(5000);
  BOOST_TEST((*decoded == expected));
}

BOOST_AUTO_TEST_CASE(wider_integer_formats_and_float32_are_accepted) {
  const Event event = test::sample_event(Expire{{{"w1", 5}}});
  std::string bytes = encode(event);
  bytes = test::replace_value(bytes, {}, "v", from_hex("d30000000000000001"));    // int 64 1
  bytes = test::replace_value(bytes, {}, "seq", from_hex("cf0000000000000007"));  // uint 64 7
  bytes = test::replace_value(bytes, {}, "ep", from_hex("d003"));                 // int 8 3
  bytes = test::replace_value(bytes, {}, "t", from_hex("d3 0000018bcfe56800"));   // int 64
  bytes = test::replace_value(bytes, {"b", "items", std::size_t{0}}, "rs", from_hex("cd0005"));
  const Result<Event> decoded = decode(bytes);
  BOOST_TEST_REQUIRE(decoded.ok(), decoded.status().to_string());
  BOOST_TEST((*decoded == event));
  BOOST_TEST(encode(*decoded) == encode(event));  // and the canonical form is written back

  const Result<Value> value = decode_value(from_hex("92 ca3fc00000 d1fff6"));  // [1.5f, -10]
  BOOST_TEST_REQUIRE(value.ok(), value.status().to_string());
  BOOST_TEST((*value == Value(Value::Array{Value(1.5), Value(-10)})));
}

BOOST_AUTO_TEST_CASE(non_negative_signed_integers_decode_as_uint) {
  const Result<Value> value = decode_value(from_hex("d20000002a"));  // int 32 42
  BOOST_TEST_REQUIRE(value.ok(), value.status().to_string());
  BOOST_TEST((value->type() == Value::Type::kUint));
  BOOST_TEST(value->as_uint() == 42u);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace procreg::events
