// Golden bytes: the exact encoding of every Value type and every event kind, checked by hand
// against the MessagePack spec and frozen. A change here is a format change (docs/EVENT_FORMAT.md).

#include <cmath>
#include <string>
#include <string_view>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "events/codec.h"
#include "events/codec_samples.h"

namespace procreg::events {
namespace {

using test::from_hex;
using test::to_hex;

std::string repeat(std::string_view s, int times) {
  std::string out;
  for (int i = 0; i < times; ++i) out += s;
  return out;
}

struct ValueGolden {
  std::string name;
  Value value;
  std::string hex;
};

// The goldens are laid out by hand for reading against the MessagePack spec.
// clang-format off
std::vector<ValueGolden> value_goldens() {
  return {
      {"nil", Value(), "c0"},
      {"true", Value(true), "c3"},
      {"false", Value(false), "c2"},
      {"0", Value(0), "00"},                                  // positive fixint
      {"127", Value(127), "7f"},                              // largest positive fixint
      {"128", Value(128), "cc80"},                            // uint 8
      {"65536", Value(65536), "ce00010000"},                  // uint 32 (too big for uint 16)
      {"-1", Value(-1), "ff"},                                // negative fixint
      {"-33", Value(-33), "d0df"},                            // int 8 (below -32)
      {"-129", Value(-129), "d1ff7f"},                        // int 16
      {"2^32", Value(4294967296ull), "cf0000000100000000"},   // uint 64
      {"1.5", Value(1.5), "cb3ff8000000000000"},              // float 64, always
      {"2.0", Value(2.0), "cb4000000000000000"},              // integral, still float 64
      {"-0.0", Value(-0.0), "cb8000000000000000"},
      {"empty string", Value(""), "a0"},                      // fixstr 0
      {"abc", Value("abc"), "a3616263"},                      // fixstr 3
      {"40-byte string", Value(std::string(40, 'x')),         // str 8 (fixstr holds <= 31)
       "d928" + repeat("78", 40)},
      {"binary", Value(Value::Binary{{0x00, 0xff, 0x10}}), "c40300ff10"},  // bin 8
      {"nested array", Value(Value::Array{Value(1), Value(Value::Array{Value("a"), Value()}),
                                          Value(Value::Array{})}),
       "93" "01" "92a161c0" "90"},
      {"map", Value(Value::Map{{"b", Value(Value::Array{Value(true)})}, {"a", Value(-2)}}),
       "82" "a161fe" "a16291c3"},  // keys in ascending byte order
  };
}
// clang-format on

BOOST_AUTO_TEST_SUITE(codec_golden)

BOOST_AUTO_TEST_CASE(every_value_type_encodes_to_its_golden_bytes_and_back) {
  for (const ValueGolden& golden : value_goldens()) {
    BOOST_TEST_CONTEXT("value " << golden.name) {
      std::string bytes;
      encode_value(golden.value, &bytes);
      BOOST_TEST(to_hex(bytes) == golden.hex);
      const Result<Value> decoded = decode_value(from_hex(golden.hex));
      BOOST_TEST_REQUIRE(decoded.ok(), decoded.status().to_string());
      BOOST_TEST((*decoded == golden.value));
    }
  }
}

BOOST_AUTO_TEST_CASE(encode_value_appends_to_the_output) {
  std::string bytes = "prefix";
  encode_value(Value(1), &bytes);
  BOOST_TEST(bytes == "prefix\x01");
}

// clang-format off

// The envelope of every sample event: "v" 1, "k" `kind_hex`, "hub" "hub", "tbl" "tbl", "seq" 7,
// "ep" 3, "t" 1700000000000 (uint 64: non-negative integers use the uint formats), "hk" true,
// and the key "b"; the body follows.
std::string envelope_hex(std::string_view kind_hex) {
  return "89"                                 // map of 9 pairs
         "a176" "01"                          // "v": 1
         "a16b" + std::string(kind_hex) +     // "k": kind
         "a3687562" "a3687562"                // "hub": "hub"
         "a374626c" "a374626c"                // "tbl": "tbl"
         "a3736571" "07"                      // "seq": 7
         "a26570" "03"                        // "ep": 3
         "a174" "cf0000018bcfe56800"          // "t": 1700000000000
         "a2686b" "c3"                        // "hk": true
         "a162";                              // "b":
}

// sample_row(): {"spec": {"id": "w1", "start": ["M", "f", ["a", 1]], "restart": "temporary"},
// "np": [["n1", "p1"], ["n2", "p2"]], "md": {"tag": "db"}} and, with a ttl,
// "exp": 1700000060000.
constexpr std::string_view kRowBodyHex =
    "a473706563" "83"                         // "spec": map of 3
    "a26964" "a27731"                         //   "id": "w1"
    "a57374617274" "93" "a14d" "a166"         //   "start": ["M", "f",
    "92" "a161" "01"                          //             ["a", 1]]
    "a772657374617274" "a974656d706f72617279" //   "restart": "temporary" (an extra field)
    "a26e70" "92" "92a26e31a27031" "92a26e32a27032"  // "np": [["n1", "p1"], ["n2", "p2"]]
    "a26d64" "81" "a3746167" "a26462";        // "md": {"tag": "db"}
constexpr std::string_view kExpHex = "a3657870" "cf0000018bcfe65260";  // "exp": 1700000060000

std::string row_hex(bool ttl) {
  return (ttl ? "84" : "83") + std::string(kRowBodyHex) + (ttl ? std::string(kExpHex) : "");
}

std::string golden_hex(std::string_view name) {
  if (name == "insert") return envelope_hex("a6696e73657274") + "81" "a3726f77" + row_hex(false);
  if (name == "insert_ttl") {
    return envelope_hex("a6696e73657274") + "81" "a3726f77" + row_hex(true);
  }
  if (name == "bulk_insert") {
    return envelope_hex("ab62756c6b5f696e73657274") +
           "81" "a56974656d73" "92"                      // {"items": [
           "82" "a3726f77" + row_hex(false) +            //   {"row": sample_row(),
           "a464696666" "91" "92a26e32a27032"            //    "diff": [["n2", "p2"]]},
           "82" "a3726f77"                               //   {"row":
           "83" "a473706563" "82" "a26964" "a27732"      //     {"spec": {"id": "w2",
           "a57374617274" "93" "a14d" "a166" "92a16101"  //       "start": ["M", "f", ["a", 1]]},
           "a26e70" "90" "a26d64" "80"                   //      "np": [], "md": {}},
           "a464696666" "90";                            //    "diff": []}]}
  }
  if (name == "delete") return envelope_hex("a664656c657465") + "81" "a26964" "a27731";
  if (name == "bulk_delete") {
    return envelope_hex("ab62756c6b5f64656c657465") +
           "81" "a56974656d73" "92"                      // {"items": [
           "84" "a26964a27731" "a3636867c3" "a26e7090"   //   {"id": "w1", "chg": true, "np": [],
           + std::string(kExpHex) +                      //    "exp": 1700000060000},
           "83" "a26964a27732" "a3636867c2"              //   {"id": "w2", "chg": false,
           "a26e70" "90";                                //    "np": []}]}
  }
  if (name == "update") {
    return envelope_hex("a6757064617465") + "82" "a26964" "a27731" "a3726f77" + row_hex(false);
  }
  if (name == "clear") return envelope_hex("a5636c656172") + "80";
  if (name == "expire") {
    return envelope_hex("a6657870697265") +
           "81" "a56974656d73" "92"                      // {"items": [
           "82" "a26964a27731" "a27273" "05"             //   {"id": "w1", "rs": 5},
           "82" "a26964a27732" "a27273" "cd012c";        //   {"id": "w2", "rs": 300}]}
  }
  BOOST_FAIL("no golden bytes for " << name);
  return "";
}
// clang-format on

BOOST_AUTO_TEST_CASE(every_event_kind_encodes_to_its_golden_bytes_and_back) {
  for (const test::NamedEvent& sample : test::sample_events()) {
    BOOST_TEST_CONTEXT("event " << sample.name) {
      const std::string golden = golden_hex(sample.name);
      BOOST_TEST(to_hex(encode(sample.event)) == golden);
      const Result<Event> decoded = decode(from_hex(golden));
      BOOST_TEST_REQUIRE(decoded.ok(), decoded.status().to_string());
      BOOST_TEST((*decoded == sample.event));
    }
  }
}

BOOST_AUTO_TEST_CASE(encode_appends_to_the_output) {
  const Event event = test::sample_event(Clear{});
  std::string bytes = "x";
  encode(event, &bytes);
  BOOST_TEST(bytes == "x" + encode(event));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace procreg::events
