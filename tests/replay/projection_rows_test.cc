// Projection::apply with the event's encoding (the writer's form): the rows are kept as the bytes
// events::encode wrote, and they are byte for byte the rows that apply(Event) encodes itself,
// under random inserts, bulk inserts and updates that replace rows; places that do not fit the
// event are refused and change nothing.
#include <cstdint>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "events/codec.h"
#include "events/random_events.h"
#include "events/row_codec.h"
#include "events/row_scan.h"
#include "state/projection.h"

namespace procreg::replay {
namespace {

constexpr const char* kHub = "hub";

Event next_event(test::RandomEvents& rng, std::uint64_t seq) {
  Event e;
  e.hub = kHub;
  e.table = rng.one_in(4) ? "other" : kHub;
  e.seq = seq;
  e.epoch = 9;
  e.writer_time_ms = 1000 + static_cast<std::int64_t>(seq);
  switch (rng.below(4)) {
    case 0:
      e.body = events::Insert{rng.row()};
      break;
    case 1: {
      events::BulkInsert body;
      const std::uint64_t items = rng.below(5);
      for (std::uint64_t i = 0; i < items; ++i) body.items.push_back({rng.row(), {}});
      e.body = std::move(body);
      break;
    }
    case 2: {
      Row row = rng.row();
      std::string id = row.entry.spec.id;
      e.body = events::Update{std::move(id), std::move(row)};
      break;
    }
    default:
      e.body = events::Delete{rng.string()};
      break;
  }
  return e;
}

void require_same_rows(const Projection& a, const Projection& b) {
  BOOST_REQUIRE(a.table_names() == b.table_names());
  for (const std::string& name : a.table_names()) {
    const Table* ta = a.table(name);
    const Table* tb = b.table(name);
    BOOST_REQUIRE(ta != nullptr && tb != nullptr);
    BOOST_REQUIRE_EQUAL(ta->size(), tb->size());
    ta->for_each([&](const StoredRow& ra) {
      const StoredRow* rb = tb->find(ra.id());
      BOOST_REQUIRE(rb != nullptr);
      BOOST_TEST(ra.encoded().spec == rb->encoded().spec);
      BOOST_TEST(ra.encoded().node_pids == rb->encoded().node_pids);
      BOOST_TEST(ra.encoded().metadata == rb->encoded().metadata);
      BOOST_TEST((ra.tag() == rb->tag()));
      BOOST_TEST(ra.node_count() == rb->node_count());
      BOOST_TEST((ra.expires_at_ms() == rb->expires_at_ms()));
      BOOST_TEST(ra.seq == rb->seq);
    });
  }
}

BOOST_AUTO_TEST_SUITE(projection_rows)

BOOST_AUTO_TEST_CASE(rows_kept_as_the_events_bytes_are_the_rows_apply_encodes) {
  test::RandomEvents rng(20261203);
  Projection from_bytes(kHub, "n1");
  Projection encoded_again(kHub, "n1");
  std::string encoded;
  std::vector<events::EntryPartsAt> rows;
  std::size_t rows_seen = 0;
  for (std::uint64_t seq = 1; seq <= 1500; ++seq) {
    Event e = next_event(rng, seq);
    events::encode(e, &encoded, &rows);
    rows_seen += rows.size();
    // Each place is one whole item of the event's encoding.
    for (const auto& at : rows) {
      BOOST_REQUIRE(std::size_t{at.metadata} + at.metadata_size <= encoded.size());
      BOOST_REQUIRE(at.spec < at.node_pids && at.node_pids < at.metadata);
    }
    Event copy = e;
    BOOST_REQUIRE(from_bytes.apply(std::move(e), encoded, rows).ok());
    BOOST_REQUIRE(encoded_again.apply(std::move(copy)).ok());
    encoded.clear();
  }
  BOOST_TEST(rows_seen > 1000u);
  require_same_rows(from_bytes, encoded_again);
  BOOST_TEST((from_bytes.dump_all_tables() == encoded_again.dump_all_tables()));
}

BOOST_AUTO_TEST_CASE(places_that_do_not_fit_the_event_are_refused_and_change_nothing) {
  test::RandomEvents rng(7);
  Projection p(kHub, "n1");
  Event e;
  e.hub = kHub;
  e.table = kHub;
  e.seq = 1;
  e.epoch = 3;
  e.body = events::Insert{rng.row()};
  std::string encoded;
  std::vector<events::EntryPartsAt> rows;
  events::encode(e, &encoded, &rows);
  BOOST_REQUIRE_EQUAL(rows.size(), 1u);

  // No place for the event's row.
  Status s = p.apply(Event(e), encoded, {});
  BOOST_TEST((s.code() == Code::kInvalidArgument));
  // A place past the end of the encoding.
  std::vector<events::EntryPartsAt> outside = rows;
  outside[0].metadata_size = static_cast<std::uint32_t>(encoded.size());
  s = p.apply(Event(e), encoded, outside);
  BOOST_TEST((s.code() == Code::kInvalidArgument));
  BOOST_TEST(p.last_seq() == 0u);
  BOOST_TEST(p.table(kHub)->size() == 0u);

  BOOST_REQUIRE(p.apply(Event(e), encoded, rows).ok());
  BOOST_TEST(p.last_seq() == 1u);
  BOOST_TEST((p.table(kHub)->find(std::get<events::Insert>(e.body).row.entry.spec.id)->entry() ==
              std::get<events::Insert>(e.body).row.entry));
}

// Replay's fast path: an insert applied from its scanned bytes leaves the state (rows, positions,
// chain heads, times) that applying the decoded event leaves, and is refused for the same
// envelopes, changing nothing.
BOOST_AUTO_TEST_CASE(inserts_applied_from_their_scan_are_the_decoded_inserts) {
  test::RandomEvents rng(20261207);
  Projection scanned(kHub, "n1");
  Projection decoded(kHub, "n1");
  std::size_t scans = 0;
  for (std::uint64_t seq = 1; seq <= 1500; ++seq) {
    Event e = next_event(rng, seq);
    e.hooks = rng.one_in(2);
    e.writer_time_ms = static_cast<std::int64_t>(rng.below(5000));  // not in order
    const std::string bytes = events::encode(e);
    events::ScannedInsert scan;
    if (events::scan_insert_event(bytes, {}, &scan)) {
      ++scans;
      BOOST_REQUIRE(scanned.apply(scan).ok());
    } else {
      BOOST_REQUIRE(scanned.apply(Event(e)).ok());
    }
    BOOST_REQUIRE(decoded.apply(std::move(e)).ok());
    BOOST_REQUIRE(scanned.hook_head(HookTopic::kChildRegistered) ==
                  decoded.hook_head(HookTopic::kChildRegistered));
    BOOST_REQUIRE(scanned.max_time_ms() == decoded.max_time_ms());
  }
  BOOST_TEST(scans > 200u);
  BOOST_TEST(scanned.last_seq() == decoded.last_seq());
  BOOST_TEST(scanned.epoch() == decoded.epoch());
  BOOST_TEST(scanned.table("other")->last_seq() == decoded.table("other")->last_seq());
  require_same_rows(scanned, decoded);
  BOOST_TEST((scanned.dump_all_tables() == decoded.dump_all_tables()));

  // Refused envelopes: another hub, a sequence that does not follow, another epoch.
  Event e;
  e.hub = kHub;
  e.table = kHub;
  e.seq = decoded.last_seq() + 1;
  e.epoch = 9;
  e.body = events::Insert{rng.row()};
  for (int bad = 0; bad < 3; ++bad) {
    Event wrong = e;
    if (bad == 0) wrong.hub = "elsewhere";
    if (bad == 1) wrong.seq += 1;
    if (bad == 2) wrong.epoch += 1;
    const std::string bytes = events::encode(wrong);
    events::ScannedInsert scan;
    BOOST_REQUIRE(events::scan_insert_event(bytes, {}, &scan));
    BOOST_TEST((scanned.apply(scan).code() == Code::kInvalidArgument));
    BOOST_TEST((decoded.apply(std::move(wrong)).code() == Code::kInvalidArgument));
  }
  BOOST_TEST(scanned.last_seq() == decoded.last_seq());
  require_same_rows(scanned, decoded);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace procreg::replay
