// ReplicatedEvent (registry/replica_writer.h): an insert a replica scans from its bytes gives
// the same state and the same hook events as the same insert decoded.
#include <boost/test/unit_test.hpp>

#include "events/codec.h"
#include "events/row_scan.h"
#include "registry/replica_writer.h"

namespace procreg::replay {
namespace {

Event insert_event(std::uint64_t seq, bool hooks, std::optional<std::int64_t> expires) {
  Event e;
  e.hub = "h";
  e.table = "h";
  e.seq = seq;
  e.epoch = 7;
  e.writer_time_ms = 1000 + static_cast<std::int64_t>(seq);
  e.hooks = hooks;
  events::Insert ins;
  ins.row.entry = Entry{make_spec("c" + std::to_string(seq), "M", "f", {Value("a")}),
                        {{"n1@h", "<0.1.0>"}, {"local@h", "<0.2.0>"}},
                        {{"tag", Value("t" + std::to_string(seq % 3))}}};
  ins.row.expires_at_ms = expires;
  e.body = std::move(ins);
  return e;
}

BOOST_AUTO_TEST_SUITE(replicated_event)

BOOST_AUTO_TEST_CASE(a_scanned_insert_applies_and_fires_hooks_as_its_decoded_form) {
  Projection from_bytes("h", "local@h");
  Projection from_events("h", "local@h");
  for (std::uint64_t seq = 1; seq <= 6; ++seq) {
    const Event event = insert_event(seq, seq % 2 == 0,
                                     seq == 3 ? std::optional<std::int64_t>(5000) : std::nullopt);
    const std::string bytes = events::encode(event);
    ReplicatedEvent scanned;
    BOOST_REQUIRE(
        events::scan_insert_event(bytes, events::record_limits(1u << 20), &scanned.scanned));
    ReplicatedEvent decoded;
    decoded.decoded = event;
    BOOST_TEST(scanned.seq() == seq);
    BOOST_TEST(scanned.epoch() == 7u);
    BOOST_TEST(scanned.hub() == "h");
    BOOST_TEST((scanned.hook_events() == hook_events_of(event)));
    BOOST_TEST((decoded.hook_events() == hook_events_of(event)));
    BOOST_REQUIRE(scanned.apply_to(from_bytes).ok());
    BOOST_REQUIRE(decoded.apply_to(from_events).ok());
  }
  BOOST_TEST((from_bytes.dump_all_tables() == from_events.dump_all_tables()));
  BOOST_TEST(from_bytes.hook_head(HookTopic::kChildRegistered) ==
             from_events.hook_head(HookTopic::kChildRegistered));
  BOOST_TEST(from_bytes.table("h")->local_rows().size() == 6u);
  BOOST_TEST(from_bytes.table("h")->ttl_rows().size() == 1u);
}

BOOST_AUTO_TEST_CASE(a_scanned_insert_out_of_sequence_is_refused_and_changes_nothing) {
  Projection p("h", "local@h");
  const std::string bytes = events::encode(insert_event(2, true, std::nullopt));
  ReplicatedEvent scanned;
  BOOST_REQUIRE(
      events::scan_insert_event(bytes, events::record_limits(1u << 20), &scanned.scanned));
  BOOST_TEST((scanned.apply_to(p).code() == Code::kInvalidArgument));
  BOOST_TEST(p.last_seq() == 0u);
  BOOST_TEST(p.table("h")->size() == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace procreg::replay
