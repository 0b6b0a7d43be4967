// Malformed wire input: every error is a Status with the documented code and a message naming
// the field; unknown keys are skipped; nothing throws or crashes, on any input (a bounded
// random and mutation loop over every decoder and parse_topic, fixed seeds).

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "plugin/wire.h"
#include "plugin/wire_samples.h"

namespace procreg::plugin::wire {
namespace {

using test::from_hex;

bool contains(std::string_view s, std::string_view part) {
  return s.find(part) != std::string_view::npos;
}
bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

void check_error(const Status& status, Code code, std::string_view message_part) {
  BOOST_TEST_REQUIRE(!status.ok(), "decoded, expected " << code_name(code));
  BOOST_TEST(code_name(status.code()) == code_name(code), status.to_string());
  BOOST_TEST(contains(status.message(), message_part), status.message()
                                                           << " lacks " << message_part);
}

template <typename T>
void check_error(const Result<T>& result, Code code, std::string_view message_part) {
  check_error(result.status(), code, message_part);
}

template <typename T>
std::string encoded(const T& m) {
  std::string out;
  encode(m, &out);
  return out;
}

// The root of the error path of each kind's decoder.
std::string root_of(std::string_view kind) {
  static const std::map<std::string, std::string, std::less<>> roots = {
      {"event_header", "event_header"},
      {"event_batch_header", "event_header"},
      {"hook_header", "hook_header"},
      {"hook_payload", "hook_payload"},
      {"heartbeat", "heartbeat"},
      {"range_request", "replay_request"},
      {"snapshot_request", "replay_request"},
      {"range_reply", "replay_reply"},
      {"snapshot_reply", "replay_reply"},
      {"error_reply", "replay_reply"},
      {"snapshot_row", "snapshot_row"},
      {"command_reply", "command_reply"},
      {"conflict_reply", "command_reply"}};
  const auto it = roots.find(kind);
  return it == roots.end() ? "command" : it->second;
}

// Items of a wrong type for each top-level key of a kind, by the key's type.
const std::vector<std::string_view>& wrong_items(std::string_view kind, std::string_view key) {
  static const std::vector<std::string_view> for_uint = {"c0", "ff", "cb3ff8000000000000", "a131",
                                                         "c3"};
  static const std::vector<std::string_view> for_int = {"c0", "cb3ff8000000000000", "a131",
                                                        "cf8000000000000000"};        // 2^63
  static const std::vector<std::string_view> for_str = {"c0", "c40178", "01", "90"};  // bin "x"
  static const std::vector<std::string_view> for_bool = {"c0", "01", "a131"};
  static const std::vector<std::string_view> for_map = {"c0", "90", "a131"};
  static const std::vector<std::string_view> for_array = {"c0", "80", "a131"};
  static const std::map<std::string, const std::vector<std::string_view>*, std::less<>> types = {
      {"v", &for_uint},     {"seq", &for_uint},   {"ep", &for_uint},   {"prev", &for_uint},
      {"hprev", &for_uint}, {"i", &for_uint},     {"n", &for_uint},    {"hub", &for_str},
      {"tbl", &for_str},    {"id", &for_uint},    {"np", &for_array},  {"t", &for_int},
      {"reg", &for_uint},   {"unreg", &for_uint}, {"op", &for_str},    {"from", &for_uint},
      {"to", &for_uint},    {"sid", &for_uint},   {"off", &for_uint},  {"max_n", &for_uint},
      {"max_b", &for_uint}, {"status", &for_map}, {"head", &for_uint}, {"first", &for_uint},
      {"last", &for_uint},  {"end", &for_bool},   {"next", &for_uint}, {"total", &for_uint},
      {"row", &for_map},    {"rev", &for_uint},   {"hk", &for_bool},   {"tmo", &for_uint},
      {"spec", &for_map},   {"md", &for_map},     {"ttl", &for_int},   {"entries", &for_array},
      {"cid", &for_str},    {"dels", &for_array}, {"entry", &for_map}, {"node", &for_str}};
  // "id" is the request id, except in a hook payload, where it is the child id.
  const auto it = types.find(kind == "hook_payload" && key == "id" ? "cid" : key);
  BOOST_TEST_REQUIRE((it != types.end()), "no wrong items for " << key);
  return *it->second;
}

// The keys a kind's decoder requires.
bool required(std::string_view kind, std::string_view key) {
  if (kind == "range_request" || kind == "snapshot_request") {
    return key == "v" || key == "id" || key == "hub" || key == "op";
  }
  if (root_of(kind) == "command") {
    return key != "tbl" && key != "hk" && key != "tmo" && key != "ttl";
  }
  return true;
}

BOOST_AUTO_TEST_SUITE(wire_errors)

BOOST_AUTO_TEST_CASE(every_truncation_is_corruption_and_trailing_bytes_are_refused) {
  for (const test::Kind& kind : test::kinds()) {
    BOOST_TEST_CONTEXT(kind.name) {
      for (std::size_t size = 0; size < kind.bytes.size(); ++size) {
        const Status s = kind.decode(std::string_view(kind.bytes).substr(0, size), {});
        BOOST_TEST_REQUIRE((s.code() == Code::kCorruption), s.to_string());
        BOOST_TEST_REQUIRE(contains(s.message(), "truncated"), s.message());
      }
      BOOST_TEST(kind.decode(kind.bytes, {}).ok());
      check_error(kind.decode(kind.bytes + '\0', {}), Code::kCorruption, "1 trailing bytes");
      check_error(kind.decode(kind.bytes + kind.bytes, {}), Code::kCorruption, "trailing bytes");
    }
  }
}

BOOST_AUTO_TEST_CASE(a_body_that_is_not_a_map_is_corruption) {
  for (const test::Kind& kind : test::kinds()) {
    for (const std::string_view item : {"c0", "90", "01", "a176", "c1"}) {
      BOOST_TEST_CONTEXT(kind.name << " = " << item) {
        const Status s = kind.decode(from_hex(item), {});
        BOOST_TEST((s.code() == Code::kCorruption), s.to_string());
        BOOST_TEST(starts_with(s.message(), root_of(kind.name) + ": "), s.message());
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(a_wrong_type_for_any_key_is_corruption_naming_the_key) {
  for (const test::Kind& kind : test::kinds()) {
    for (const std::string& key : test::keys(kind.bytes)) {
      for (const std::string_view item : wrong_items(kind.name, key)) {
        BOOST_TEST_CONTEXT(kind.name << "." << key << " = " << item) {
          const Status s = kind.decode(test::replace_value(kind.bytes, key, from_hex(item)), {});
          BOOST_TEST_REQUIRE(!s.ok());
          if (key == "v") {  // read before anything else
            BOOST_TEST(starts_with(s.message(), root_of(kind.name) + ".v: "), s.message());
            continue;
          }
          BOOST_TEST((s.code() == Code::kCorruption), s.to_string());
          const std::string detail = item == "cf8000000000000000" ? "integer " : "expected ";
          BOOST_TEST(starts_with(s.message(), root_of(kind.name) + "." + key + ": " + detail),
                     s.message());
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(the_error_names_the_path_and_the_byte_offset) {
  const std::string bytes = encoded(test::sample_event_header());
  BOOST_TEST(decode_event_header(test::replace_value(bytes, "seq", from_hex("a131")))
                 .status()
                 .to_string() ==
             "corruption: event_header.seq: expected uint, found str at byte 8");
  // Nested: a node_pids pair of a command's entry, a Value in its metadata.
  Command bulk = test::sample_command(CommandOp::kBulkInsert);
  bulk.entries[1].node_pids = {{"n", "p"}};
  std::string cmd = encoded(bulk);
  const std::size_t np = cmd.rfind(from_hex("9192a16ea170"));  // [["n", "p"]]
  BOOST_TEST_REQUIRE(np != std::string::npos);
  cmd.replace(np, 6, from_hex("9192a16e01"));  // [["n", 1]]
  check_error(decode_command(cmd), Code::kCorruption,
              "command.entries[1].np[0]: expected str, found uint");
  Command dels = test::sample_command(CommandOp::kBulkDelete);
  std::string dbytes = test::replace_value(encoded(dels), "dels", from_hex("9192a1789102"));
  check_error(decode_command(dbytes), Code::kCorruption,
              "command.dels[0][1][0]: expected str, found uint");
  dbytes = test::replace_value(encoded(dels), "dels", from_hex("9193a17890c0"));
  check_error(decode_command(dbytes), Code::kCorruption,
              "command.dels[0]: expected an array of 2 elements, found 3");
}

BOOST_AUTO_TEST_CASE(integers_beyond_32_bits_are_refused_where_the_field_has_32) {
  const std::string u33 = from_hex("cf0000000100000000");  // 2^32
  const std::string u32max = from_hex("ceffffffff");
  const std::string hook = encoded(test::sample_hook_header());
  check_error(decode_hook_header(test::replace_value(hook, "n", u33)), Code::kCorruption,
              "hook_header.n: integer 4294967296 exceeds uint32");
  BOOST_TEST(decode_hook_header(test::replace_value(hook, "n", u32max)).ok());
  const std::string request = encoded(test::sample_range_request());
  check_error(decode_replay_request(test::replace_value(request, "max_n", u33)), Code::kCorruption,
              "replay_request.max_n: integer 4294967296 exceeds uint32");
  check_error(decode_replay_request(test::replace_value(request, "max_b", u33)), Code::kCorruption,
              "exceeds uint32");
  check_error(decode_replay_reply_header(
                  test::replace_value(encoded(test::sample_range_reply()), "n", u33)),
              Code::kCorruption, "replay_reply.n: integer 4294967296 exceeds uint32");
  check_error(decode_command(test::replace_value(encoded(test::sample_command(CommandOp::kErase)),
                                                 "tmo", u33)),
              Code::kCorruption, "command.tmo: integer 4294967296 exceeds uint32");
}

BOOST_AUTO_TEST_CASE(any_integer_format_is_read) {
  // uint 64 and int 8 forms of small values.
  const std::string bytes = encoded(test::sample_event_header());
  const std::string wide = test::replace_value(
      test::replace_value(bytes, "seq", from_hex("cf0000000000000007")), "prev", from_hex("d005"));
  const Result<EventHeader> decoded = decode_event_header(wide);
  BOOST_TEST_REQUIRE(decoded.ok(), decoded.status().to_string());
  BOOST_TEST((*decoded == test::sample_event_header()));
  const std::string heartbeat = encoded(test::sample_heartbeat());
  const Result<Heartbeat> negative =
      decode_heartbeat(test::replace_value(heartbeat, "t", from_hex("d3ffffffffffffffff")));
  BOOST_TEST_REQUIRE(negative.ok(), negative.status().to_string());
  BOOST_TEST(negative->time_ms == -1);
}

BOOST_AUTO_TEST_CASE(a_missing_required_key_is_corruption_naming_it) {
  for (const test::Kind& kind : test::kinds()) {
    for (const std::string& key : test::keys(kind.bytes)) {
      if (!required(kind.name, key)) continue;
      BOOST_TEST_CONTEXT(kind.name << " without " << key) {
        const Status s = kind.decode(test::remove_key(kind.bytes, key), {});
        check_error(s, Code::kCorruption, "missing key \"" + key + "\"");
        BOOST_TEST(starts_with(s.message(), root_of(kind.name) + ": missing key"), s.message());
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(a_missing_status_field_is_named_with_its_path) {
  const std::string reply = encoded(test::sample_command_reply());
  check_error(
      decode_command_reply(test::replace_value(reply, "status", from_hex("81a4636f6465a26f6b"))),
      Code::kCorruption, "command_reply.status: missing key \"message\"");
  check_error(
      decode_command_reply(test::replace_value(reply, "status", from_hex("81a76d657373616765a0"))),
      Code::kCorruption, "command_reply.status: missing key \"code\"");
}

BOOST_AUTO_TEST_CASE(a_command_names_the_key_its_op_requires) {
  check_error(
      decode_command(test::remove_key(encoded(test::sample_command(CommandOp::kInsert)), "spec")),
      Code::kCorruption, "command: missing key \"spec\" of op insert");
  check_error(
      decode_command(test::remove_key(encoded(test::sample_command(CommandOp::kUpdate)), "rev")),
      Code::kCorruption, "command: missing key \"rev\" of op update");
  // An op's keys come from the op; another op's keys are read and kept, not required.
  Command erase = test::sample_command(CommandOp::kErase);
  const std::string with_rev = test::add_key(encoded(erase), "rev", from_hex("05"));
  const Result<Command> decoded = decode_command(with_rev);
  BOOST_TEST_REQUIRE(decoded.ok(), decoded.status().to_string());
  BOOST_TEST(decoded->expect_revision == 5u);
  check_error(decode_command(test::add_key(encoded(erase), "rev", from_hex("a131"))),
              Code::kCorruption, "command.rev: expected uint");
}

BOOST_AUTO_TEST_CASE(optional_keys_read_as_their_defaults) {
  // A replay request of the four required keys.
  const std::string minimal = from_hex(
      "84"
      "a17601"
      "a269642a"
      "a3687562a3687562"
      "a26f70a8736e617073686f74");
  const Result<ReplayRequest> request = decode_replay_request(minimal);
  BOOST_TEST_REQUIRE(request.ok(), request.status().to_string());
  ReplayRequest expected;
  expected.id = 42;
  expected.hub = "hub";
  expected.op = ReplayOp::kSnapshot;
  BOOST_TEST((*request == expected));
  // A clear_all command without "tbl", "hk" and "tmo".
  std::string bytes = encoded(test::sample_command(CommandOp::kClearAll));
  for (const std::string_view key : {"tbl", "hk", "tmo"}) bytes = test::remove_key(bytes, key);
  const Result<Command> command = decode_command(bytes);
  BOOST_TEST_REQUIRE(command.ok(), command.status().to_string());
  Command expected_command;
  expected_command.id = 42;
  expected_command.hub = "hub";
  expected_command.op = CommandOp::kClearAll;
  BOOST_TEST((*command == expected_command));
  BOOST_TEST(command->timeout_ms == 10'000u);
  // An insert without "ttl" has none.
  const Result<Command> insert =
      decode_command(test::remove_key(encoded(test::sample_command(CommandOp::kInsert)), "ttl"));
  BOOST_TEST_REQUIRE(insert.ok(), insert.status().to_string());
  BOOST_TEST(!insert->ttl_ms.has_value());
}

BOOST_AUTO_TEST_CASE(a_duplicate_key_is_corruption) {
  for (const test::Kind& kind : test::kinds()) {
    for (const std::string& key : test::keys(kind.bytes)) {
      BOOST_TEST_CONTEXT(kind.name << " with " << key << " twice") {
        check_error(kind.decode(test::duplicate_key(kind.bytes, key), {}), Code::kCorruption,
                    "duplicate key \"" + key + "\"");
      }
    }
    BOOST_TEST_CONTEXT(kind.name << " with an unknown key twice") {
      const std::string twice =
          test::add_key(test::add_key(kind.bytes, "zz", from_hex("01")), "zz", from_hex("02"));
      check_error(kind.decode(twice, {}), Code::kCorruption, "duplicate key \"zz\"");
    }
  }
}

BOOST_AUTO_TEST_CASE(unknown_keys_are_skipped_in_any_order) {
  // Anything well-formed, ext and nesting included.
  const std::string item = from_hex(
      "82"
      "a161"
      "92d40102c0"
      "a162"
      "c70300616263");
  for (const test::Kind& kind : test::kinds()) {
    BOOST_TEST_CONTEXT(kind.name) {
      const std::string added = test::add_key(kind.bytes, "future", item);
      BOOST_TEST(kind.decode(added, {}).ok(), kind.decode(added, {}).to_string());
      BOOST_TEST(kind.reencode(added) == kind.bytes);
      // "v" last: still found first; every key moved to the end in turn.
      for (const std::string& key : test::keys(kind.bytes)) {
        const std::string moved = test::move_last(added, key);
        BOOST_TEST(kind.reencode(moved) == kind.bytes, key);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(a_newer_version_is_unsupported_before_anything_else_is_read) {
  for (const test::Kind& kind : test::kinds()) {
    BOOST_TEST_CONTEXT(kind.name) {
      const std::string root = root_of(kind.name);
      const std::uint32_t next = kind.newest + 1;
      const std::string next_fixint(1, static_cast<char>(next));  // a positive fixint
      check_error(kind.decode(test::replace_value(kind.bytes, "v", next_fixint), {}),
                  Code::kUnsupported,
                  root + ".v: wire version " + std::to_string(next) +
                      " is newer than this build's " + std::to_string(kind.newest));
      check_error(kind.decode(test::replace_value(kind.bytes, "v", from_hex("00")), {}),
                  Code::kCorruption, root + ".v: wire version 0 is invalid");
      // A v2 body whose other keys a v1 reader would misread: still unsupported, with "v" last.
      std::string v2 = test::replace_value(kind.bytes, "v", from_hex("cd0100"));
      for (const std::string& key : test::keys(kind.bytes)) {
        if (key != "v") v2 = test::replace_value(v2, key, from_hex("c0"));
      }
      check_error(kind.decode(test::move_last(v2, "v"), {}), Code::kUnsupported,
                  "wire version 256 is newer");
    }
  }
}

BOOST_AUTO_TEST_CASE(an_event_batch_header_needs_a_count_of_2_or_more_and_version_1_ignores_one) {
  const std::string batch = encoded(test::sample_event_batch_header());
  // 0, 1 (one event is version 1's), 65537, 2^32
  for (const std::string_view n : {"00", "01", "ce00010001", "cf0000000100000000"}) {
    BOOST_TEST_CONTEXT("n = " << n) {
      check_error(decode_event_header(test::replace_value(batch, "n", from_hex(n))),
                  Code::kCorruption, "is not in 2..65536");
    }
  }
  const auto max = decode_event_header(test::replace_value(batch, "n", from_hex("ce00010000")));
  BOOST_TEST_REQUIRE(max.ok(), max.status().to_string());
  BOOST_TEST(max->count == kMaxBatchEvents);
  const auto two = decode_event_header(test::replace_value(batch, "n", from_hex("02")));
  BOOST_TEST_REQUIRE(two.ok());
  BOOST_TEST(two->count == 2u);
  // Version 1 does not know "n": an unknown key, skipped whatever its value.
  for (const std::string_view n : {"05", "a178", "c0", "92c3c2"}) {
    BOOST_TEST_CONTEXT("v1 with n = " << n) {
      const std::string v1 = test::add_key(encoded(test::sample_event_header()), "n", from_hex(n));
      const auto skipped = decode_event_header(v1);
      BOOST_TEST_REQUIRE(skipped.ok(), skipped.status().to_string());
      BOOST_TEST(skipped->count == 1u);
    }
  }
}

BOOST_AUTO_TEST_CASE(an_event_batch_frame_is_exactly_n_bins) {
  std::vector<std::string_view> out;
  std::string bytes;  // what `out` points into
  auto decode = [&](std::string_view hex, std::uint32_t n, const events::DecodeLimits& l = {}) {
    out.clear();
    bytes = from_hex(hex);
    return decode_event_batch(bytes, n, l, &out);
  };
  BOOST_TEST(decode("92c40161c4026263", 2).ok());
  BOOST_TEST((out == std::vector<std::string_view>{"a", "bc"}));
  check_error(decode("92c40161c4026263", 3), Code::kCorruption,
              "event_batch: expected an array of 3 elements, found 2");
  check_error(decode("92c40161a26263", 2), Code::kCorruption,
              "event_batch[1]: expected bin, found str");
  check_error(decode("92c40161c4026263c0", 2), Code::kCorruption, "1 trailing bytes");
  check_error(decode("81c40161c40162", 1), Code::kCorruption, "expected array");
  for (const std::string_view cut : {"", "92", "92c4", "92c40161c402", "92c40161c40262"}) {
    BOOST_TEST_CONTEXT("cut to " << cut) {
      check_error(decode(cut, 2), Code::kCorruption, "truncated");
    }
  }
  events::DecodeLimits small;
  small.max_string = 1;
  check_error(decode("92c40161c4026263", 2, small), Code::kResourceExhausted,
              "event_batch[1]: bin of 2 bytes exceeds max_string 1");
  small = {};
  small.max_bytes = 7;
  check_error(decode("92c40161c4026263", 2, small), Code::kResourceExhausted, "max_bytes 7");
}

BOOST_AUTO_TEST_CASE(an_unknown_op_is_unsupported) {
  check_error(decode_replay_request(test::replace_value(encoded(test::sample_range_request()), "op",
                                                        from_hex("a474616c6c"))),
              Code::kUnsupported, "replay_request.op: unknown op \"tall\"");
  check_error(decode_command(test::replace_value(encoded(test::sample_command(CommandOp::kErase)),
                                                 "op", from_hex("a6646560657465"))),
              Code::kUnsupported, "command.op: unknown op \"de`ete\"");
  // Names are exact: no case folding, no prefixes.
  check_error(decode_command(test::replace_value(encoded(test::sample_command(CommandOp::kErase)),
                                                 "op", from_hex("a54552415345"))),
              Code::kUnsupported, "unknown op \"ERASE\"");
}

BOOST_AUTO_TEST_CASE(an_unknown_status_code_is_internal_and_keeps_the_code) {
  const std::string reply = test::replace_value(encoded(test::sample_command_reply()), "status",
                                                from_hex("82"
                                                         "a4636f6465"
                                                         "a7746f6f5f6c6174"
                                                         "a76d657373616765"
                                                         "a3776879"));
  const Result<CommandReply> decoded = decode_command_reply(reply);
  BOOST_TEST_REQUIRE(decoded.ok(), decoded.status().to_string());
  BOOST_TEST((decoded->status.code() == Code::kInternal));
  BOOST_TEST(decoded->status.message() == "unknown status code \"too_lat\": why");
  const Result<ReplayReplyHeader> header =
      decode_replay_reply_header(test::replace_value(encoded(test::sample_range_reply()), "status",
                                                     from_hex("82"
                                                              "a4636f6465"
                                                              "a0"
                                                              "a76d657373616765"
                                                              "a0")));
  BOOST_TEST_REQUIRE(header.ok(), header.status().to_string());
  BOOST_TEST(header->status.to_string() == "internal: unknown status code \"\": ");
}

BOOST_AUTO_TEST_CASE(empty_names_are_refused_where_the_protocol_has_none) {
  check_error(decode_hook_payload(
                  test::replace_value(encoded(test::sample_hook_payload()), "hub", from_hex("a0"))),
              Code::kCorruption, "hook_payload.hub: empty string");
  check_error(decode_hook_payload(
                  test::replace_value(encoded(test::sample_hook_payload()), "tbl", from_hex("a0"))),
              Code::kCorruption, "hook_payload.tbl: empty string");
  check_error(decode_snapshot_row(
                  test::replace_value(encoded(test::sample_snapshot_row()), "tbl", from_hex("a0"))),
              Code::kCorruption, "snapshot_row.tbl: empty string");
  check_error(decode_replay_request(test::replace_value(encoded(test::sample_range_request()),
                                                        "hub", from_hex("a0"))),
              Code::kCorruption, "replay_request.hub: empty string");
  check_error(decode_command(test::replace_value(encoded(test::sample_command(CommandOp::kErase)),
                                                 "hub", from_hex("a0"))),
              Code::kCorruption, "command.hub: empty string");
}

BOOST_AUTO_TEST_CASE(a_hook_index_must_be_below_its_count) {
  const std::string bytes = encoded(test::sample_hook_header());  // index 1, count 2
  check_error(decode_hook_header(test::replace_value(bytes, "i", from_hex("02"))),
              Code::kCorruption, "hook_header: index 2 is not below count 2");
  check_error(decode_hook_header(test::replace_value(
                  test::replace_value(bytes, "i", from_hex("00")), "n", from_hex("00"))),
              Code::kCorruption, "index 0 is not below count 0");
}

BOOST_AUTO_TEST_CASE(limits_bound_every_decoder_that_takes_them) {
  events::DecodeLimits limits;
  limits.max_bytes = 20;
  check_error(decode_hook_payload(encoded(test::sample_hook_payload()), limits),
              Code::kResourceExhausted, "hook_payload: input of 37 bytes exceeds max_bytes 20");
  limits = {};
  limits.max_string = 8;  // "temporary" has 9 bytes
  check_error(decode_snapshot_row(encoded(test::sample_snapshot_row()), limits),
              Code::kResourceExhausted,
              "snapshot_row.row.spec.restart: str of 9 bytes exceeds max_string 8");
  limits = {};
  limits.max_container = 1;
  check_error(decode_command(encoded(test::sample_command(CommandOp::kBulkInsert)), limits),
              Code::kResourceExhausted, "exceeds max_container 1");
  limits = {};
  limits.max_depth = 2;
  Command update = test::sample_command(CommandOp::kUpdate);
  update.entry.metadata["deep"] = Value(Value::Array{Value(Value::Array{})});  // depth 3
  check_error(decode_command(encoded(update), limits), Code::kResourceExhausted,
              "command.entry.md: Value nesting exceeds max_depth 2");
  update.entry.metadata["deep"] = Value(Value::Array{});  // depth 2
  BOOST_TEST(decode_command(encoded(update), limits).ok());
  // Decoders without a limits parameter use the defaults: 16 MiB and 4 MiB strings.
  ReplayReplyHeader reply = test::sample_error_reply();
  reply.status = Status::internal(std::string((4u << 20) + 1, 'x'));
  check_error(decode_replay_reply_header(encoded(reply)), Code::kResourceExhausted,
              "replay_reply.status.message: str of 4194305 bytes exceeds max_string 4194304");
}

BOOST_AUTO_TEST_CASE(declared_sizes_beyond_the_input_are_refused_without_allocating) {
  // A clear_all command given an "entries" key whose array claims 2^31 elements.
  std::string bytes = encoded(test::sample_command(CommandOp::kClearAll));
  BOOST_TEST_REQUIRE(test::to_hex(bytes.substr(0, 1)) == "87");
  bytes[0] = static_cast<char>(0x88);
  bytes += from_hex(
      "a7656e7472696573"
      "dd80000000");
  check_error(decode_command(bytes), Code::kResourceExhausted,
              "command.entries: array of 2147483648 elements exceeds max_container 1048576");
  events::DecodeLimits unlimited;
  unlimited.max_container = 0xffffffffu;
  check_error(decode_command(bytes, unlimited), Code::kCorruption,
              "command.entries: truncated: array of 2147483648 elements cannot fit in the 0 bytes "
              "left");
  // A body map claiming more pairs than the input holds.
  check_error(decode_heartbeat(from_hex("8f"
                                        "a17601")),
              Code::kCorruption, "truncated");
  check_error(decode_heartbeat(from_hex("df7fffffff"
                                        "a17601")),
              Code::kResourceExhausted, "exceeds max_container");
}

// ---- request ids -------------------------------------------------------------------------

bool id_is_42(std::string_view bytes) { return read_request_id(bytes) == std::uint64_t{42}; }

BOOST_AUTO_TEST_CASE(read_request_id_finds_the_id_of_a_request_that_fails_to_decode) {
  const std::string request = encoded(test::sample_range_request());
  BOOST_TEST(id_is_42(request));
  BOOST_TEST(id_is_42(encoded(test::sample_command(CommandOp::kErase))));
  // Undecodable, but the id is readable: a newer version, a wrong type elsewhere, a missing key,
  // trailing bytes.
  BOOST_TEST(id_is_42(test::replace_value(request, "v", from_hex("02"))));
  BOOST_TEST(id_is_42(test::replace_value(request, "hub", from_hex("01"))));
  BOOST_TEST(id_is_42(test::remove_key(request, "op")));
  BOOST_TEST(id_is_42(request + "junk"));
  BOOST_TEST(id_is_42(test::move_last(request, "id")));
  // No id: not a map, no "id", an id that is not a uint, a body broken before the id, a map
  // claiming more pairs than the bytes left can hold (a truncated body).
  BOOST_TEST(!read_request_id("").has_value());
  BOOST_TEST(!read_request_id(from_hex("912a")).has_value());
  BOOST_TEST(!read_request_id(test::remove_key(request, "id")).has_value());
  BOOST_TEST(!read_request_id(test::replace_value(request, "id", from_hex("ff"))).has_value());
  BOOST_TEST(!read_request_id(test::move_last(request, "id").substr(0, 20)).has_value());
  BOOST_TEST(!read_request_id(request.substr(0, 8)).has_value());
}

// ---- topics ------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(parse_topic_refuses_anything_but_an_exact_topic) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"", "root"},
      {"prc2/3:hub/hb", "root"},
      {"PRC1/3:hub/hb", "root"},
      {"prc1/", "hub: expected a decimal length"},
      {"prc1/3:hub/", "kind: expected e/, h/ or hb"},
      {"prc1/3:hub/e/", "table: expected a decimal length"},
      {"prc1/3:hub/h/", "hook kind"},
      {"prc1/3:hub/h/child_registered/", "child id: expected a decimal length"},
      {"prc1/3:hub/h/child_registered", "hook kind: expected '/'"},
      {"prc1/03:hub/hb", "hub: length with a leading zero"},
      {"prc1/3:hub/e/01:t", "table: length with a leading zero"},
      {"prc1/00:/hb", "length with a leading zero"},
      {"prc1/0:/hb", "hub: empty name"},
      {"prc1/3:hub/e/0:", "table: empty name"},
      {"prc1/3:hub/h/child_registered/0:", "child id: empty name"},
      {"prc1/4:hub/hb", "hub: expected '/'"},
      {"prc1/2:hub/hb", "hub: expected '/'"},
      {"prc1/9:hub/hb", "hub: length exceeds the topic"},
      {"prc1/99999999999999999999999:x", "hub: length exceeds the topic"},
      {"prc1/18446744073709551617:x", "length exceeds the topic"},
      {"prc1/3hub/hb", "hub: expected ':'"},
      {"prc1/3", "hub: length exceeds the topic"},
      {"prc1/3:", "hub: length exceeds the topic"},
      {"prc1/+3:hub/hb", "hub: expected a decimal length"},
      {"prc1/ 3:hub/hb", "hub: expected a decimal length"},
      {"prc1/3:hubhb", "hub: expected '/'"},
      {"prc1/3:hub/hb/", "topic: trailing bytes"},
      {"prc1/3:hub/hbx", "topic: trailing bytes"},
      {"prc1/3:hub/e/1:tx", "topic: trailing bytes"},
      {"prc1/3:hub/e/1:t/", "topic: trailing bytes"},
      {"prc1/3:hub/h/child_registered/2:c1 ", "topic: trailing bytes"},
      {"prc1/3:hub/h/child_registered/2:c", "child id: length exceeds the topic"},
      {"prc1/3:hub/h/child_Registered/2:c1", "hook kind"},
      {"prc1/3:hub/h/child_registere/2:c1", "hook kind"},
      {"prc1/3:hub/x/1:t", "kind: expected e/, h/ or hb"},
      {"prc1/3:hub/e1:t", "kind"},
      {std::string("prc1/3:hub/e/1:t\0", 17), "trailing bytes"},
  };
  for (const auto& [topic, message] : bad) {
    BOOST_TEST_CONTEXT("topic " << topic) {
      const Result<ParsedTopic> parsed = parse_topic(topic);
      check_error(parsed, Code::kCorruption, message);
    }
  }
  BOOST_TEST(parse_topic("prc1/3:hub/e/1:t\x01").status().message() ==
             "topic \"prc1/3:hub/e/1:t\\x01\": topic: trailing bytes at byte 16");
  // Prefixes are subscriptions, not topics.
  for (const std::string& prefix : {hub_prefix("hub"), events_prefix("hub"), hooks_prefix("hub"),
                                    hook_kind_prefix("hub", HookTopic::kChildUnregistered)}) {
    BOOST_TEST(!parse_topic(prefix).ok(), prefix);
  }
}

// ---- bounded random input ----------------------------------------------------------------

// Format bytes that stress length and count handling.
constexpr std::array<std::uint8_t, 16> kInterestingBytes = {
    0x00, 0x7f, 0x80, 0x8f, 0x90, 0xa0, 0xc0, 0xc1, 0xc3, 0xcf, 0xd3, 0xd9, 0xdb, 0xdd, 0xdf, 0xff};

class Mutator {
 public:
  explicit Mutator(std::uint64_t seed) : rng_(seed) {}

  std::uint64_t below(std::uint64_t n) {
    return std::uniform_int_distribution<std::uint64_t>(0, n - 1)(rng_);
  }

  std::string random_bytes(std::size_t max_size) {
    std::string out(below(max_size + 1), '\0');
    for (char& c : out) c = static_cast<char>(rng_());
    return out;
  }

  // 1 to 4 bit flips, byte inserts, deletes, overwrites, truncations or splices of `other`.
  std::string mutate(std::string bytes, std::string_view other) {
    const std::uint64_t edits = 1 + below(4);
    for (std::uint64_t i = 0; i < edits && !bytes.empty(); ++i) {
      const std::size_t pos = below(bytes.size());
      switch (below(6)) {
        case 0:
          bytes[pos] = static_cast<char>(bytes[pos] ^ (1 << below(8)));
          break;
        case 1:
          bytes.insert(pos, 1, static_cast<char>(rng_()));
          break;
        case 2:
          bytes.erase(pos, 1);
          break;
        case 3:
          bytes[pos] = static_cast<char>(kInterestingBytes[below(kInterestingBytes.size())]);
          break;
        case 4:
          if (!other.empty()) {
            const std::size_t from = below(other.size());
            bytes.insert(pos, other.substr(from, 1 + below(other.size() - from)));
          }
          break;
        default:
          bytes.resize(pos);
          break;
      }
    }
    return bytes;
  }

 private:
  std::mt19937_64 rng_;
};

constexpr int kInputsPerDecoder = 20'000;

void check_returned(const Status& status) {
  if (status.ok()) return;
  const Code code = status.code();
  BOOST_TEST_REQUIRE(
      (code == Code::kCorruption || code == Code::kResourceExhausted || code == Code::kUnsupported),
      status.to_string());
  BOOST_TEST_REQUIRE(!status.message().empty());
}

BOOST_AUTO_TEST_CASE(random_and_mutated_input_never_crashes_any_decoder) {
  const std::vector<test::Kind> kinds = test::kinds();
  Mutator mutator(20240611);
  events::DecodeLimits small;  // small limits, so that limit paths are taken too
  small.max_bytes = 4096;
  small.max_string = 16;
  small.max_container = 8;
  small.max_depth = 3;
  std::size_t accepted = 0;
  for (const test::Kind& kind : kinds) {
    BOOST_TEST_CONTEXT(kind.name) {
      for (int i = 0; i < kInputsPerDecoder; ++i) {
        const test::Kind& other = kinds[mutator.below(kinds.size())];
        const std::string input =
            i % 10 == 0 ? mutator.random_bytes(64) : mutator.mutate(kind.bytes, other.bytes);
        const Status status = kind.decode(input, i % 3 == 0 ? small : events::DecodeLimits{});
        check_returned(status);
        // What decodes re-encodes to bytes that decode to the same bytes again.
        const std::string again = kind.reencode(input);
        if (!again.empty()) {
          ++accepted;
          BOOST_TEST_REQUIRE(kind.reencode(again) == again);
        }
        // The id of a request is found or not, never a crash.
        (void)read_request_id(input);
      }
    }
  }
  BOOST_TEST(accepted > 0u);  // the mutations reach accepted inputs too
}

BOOST_AUTO_TEST_CASE(random_and_mutated_topics_never_crash_parse_topic) {
  const std::vector<std::string> topics = {
      event_topic("hub", "tbl"), hook_topic("hub", HookTopic::kChildRegistered, "w1"),
      hook_topic("h", HookTopic::kChildUnregistered, "child-12"), heartbeat_topic("hub"),
      event_topic(std::string(12, 'h'), std::string(100, 't'))};
  Mutator mutator(7);
  std::size_t accepted = 0;
  for (int i = 0; i < kInputsPerDecoder; ++i) {
    const std::string& base = topics[mutator.below(topics.size())];
    const std::string& other = topics[mutator.below(topics.size())];
    const std::string topic = i % 10 == 0 ? mutator.random_bytes(40) : mutator.mutate(base, other);
    const Result<ParsedTopic> parsed = parse_topic(topic);
    if (!parsed.ok()) {
      BOOST_TEST_REQUIRE((parsed.status().code() == Code::kCorruption));
      continue;
    }
    // A topic parses only if it is exactly the topic its parts build.
    ++accepted;
    std::string rebuilt;
    switch (parsed->kind) {
      case TopicKind::kEvent:
        rebuilt = event_topic(parsed->hub, parsed->table);
        break;
      case TopicKind::kHook:
        rebuilt = hook_topic(parsed->hub, parsed->hook, parsed->child_id);
        break;
      case TopicKind::kHeartbeat:
        rebuilt = heartbeat_topic(parsed->hub);
        break;
    }
    BOOST_TEST_REQUIRE(rebuilt == topic);
  }
  BOOST_TEST(accepted > 0u);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace procreg::plugin::wire
