// What a writer accepts it can read back: values and records at the limits survive a reopen;
// past them, the call is refused before anything is appended. TTL and clock extremes neither
// overflow nor wrap. A write from inside an update function fails at once instead of
// stalling every writer. A write's timeout bounds its wait for the durability point. A write
// the log refuses for a full disk writes nothing, and the next one succeeds.
#include <chrono>
#include <cstdint>
#include <limits>
#include <string>

#include <boost/test/unit_test.hpp>

#include "file_size_limit.h"
#include "procreg/registry.h"
#include "temp_dir.h"

namespace procreg {
namespace {

RegistryOptions options_for(const std::string& dir) {
  RegistryOptions o;
  o.hub = "hub";
  o.log_dir = dir;
  o.local_node = "n0";
  o.log.durability = Durability::kNone;
  o.janitor_interval = std::chrono::milliseconds(0);
  return o;
}

// A Value nested `depth` levels deep: [[...[]...]].
Value nested(std::uint32_t depth) {
  Value v = Value::Array{};
  for (std::uint32_t i = 1; i < depth; ++i) v = Value::Array{std::move(v)};
  return v;
}

BOOST_AUTO_TEST_SUITE(limits)

BOOST_AUTO_TEST_CASE(a_write_refused_for_a_full_disk_changes_nothing_and_the_next_succeeds) {
  for (const Durability d : {Durability::kSyncEach, Durability::kGroupCommit, Durability::kNone}) {
    testing::TempDir dir;
    RegistryOptions o = options_for(dir.path());
    o.log.durability = d;
    Dump before;
    {
      auto opened = Registry::open(o);
      BOOST_REQUIRE(opened.ok());
      Registry& r = **opened;
      for (int i = 0; i < 5; ++i) {
        BOOST_TEST(r.insert(make_spec("c" + std::to_string(i)), {{"n0", "<1>"}}).ok());
      }
      InsertOptions big;
      big.metadata["pad"] = std::string(64u << 10, 'x');
      Result<std::uint64_t> refused = Status::internal("not run");
      {
        testing::FileSizeLimit limit(32u << 10);  // the segment is smaller: its next write fails
        refused = r.insert(make_spec("refused"), {{"n0", "<2>"}}, big);
      }
      BOOST_TEST(refused.status().code() == Code::kIoError, refused.status().to_string());
      BOOST_TEST(refused.status().message().find("nothing was written") != std::string::npos);
      BOOST_TEST(!r.entry_exists("refused"));
      BOOST_TEST(r.stats().log_write_failures == 1u);
      BOOST_TEST(r.stats().write_failure.empty());
      // The next write takes the seq the refused one would have had, and sees the state
      // without it.
      auto next = r.insert(make_spec("next"), {{"n0", "<3>"}}, big);
      BOOST_REQUIRE_MESSAGE(next.ok(), next.status().to_string());
      BOOST_TEST(*next == 6u);
      BOOST_TEST(r.entry_exists("next"));
      BOOST_TEST(!r.entry_exists("refused"));
      before = r.dump_all();
    }
    auto reopened = Registry::open(o);
    BOOST_REQUIRE_MESSAGE(reopened.ok(), reopened.status().to_string());
    BOOST_TEST((*reopened)->dump_all() == before);
    BOOST_TEST((*reopened)->last_sequence() == 6u);
  }
}

BOOST_AUTO_TEST_CASE(large_values_within_the_record_limit_survive_a_reopen) {
  testing::TempDir dir;
  Dump before;
  {
    auto opened = Registry::open(options_for(dir.path()));
    BOOST_REQUIRE(opened.ok());
    Registry& r = **opened;
    InsertOptions big_string;
    big_string.metadata["blob"] = std::string(6u << 20, 'x');  // over the old 4 MiB string cap
    BOOST_TEST(r.insert(make_spec("a"), {{"n0", "<1>"}}, big_string).ok());
    InsertOptions big_array;  // over the old 1 Mi-element container cap
    big_array.metadata["many"] = Value::Array(1'200'000, Value(nullptr));
    BOOST_TEST(r.insert(make_spec("b"), {{"n0", "<2>"}}, big_array).ok());
    InsertOptions deepest;  // metadata (1) + 31 levels = the deepest allowed
    deepest.metadata["deep"] = nested(31);
    BOOST_TEST(r.insert(make_spec("c"), {{"n0", "<3>"}}, deepest).ok());
    before = r.dump_all();
  }
  auto reopened = Registry::open(options_for(dir.path()));
  BOOST_REQUIRE_MESSAGE(reopened.ok(), reopened.status().to_string());
  BOOST_TEST((*reopened)->dump_all() == before);
  BOOST_TEST((*reopened)->last_sequence() == 3u);
}

BOOST_AUTO_TEST_CASE(values_and_records_past_the_limits_are_refused_before_the_append) {
  testing::TempDir dir;
  RegistryOptions o = options_for(dir.path());
  o.log.max_record_bytes = 64u << 10;
  auto opened = Registry::open(o);
  BOOST_REQUIRE(opened.ok());
  Registry& r = **opened;
  InsertOptions too_deep;
  too_deep.metadata["deep"] = nested(32);  // metadata (1) + 32 = 33 levels
  auto deep = r.insert(make_spec("a"), {}, too_deep);
  BOOST_TEST(deep.status().code() == Code::kInvalidArgument, deep.status().to_string());
  ChildSpec deep_args = make_spec("b", "M", "f", Value::Array{nested(32)});
  BOOST_TEST(r.insert(deep_args, {}).status().code() == Code::kInvalidArgument);
  auto deep_update = r.update("a", [](const ChildSpec& s, const NodePids& np, const Metadata&) {
    return Entry{s, np, Metadata{{"deep", nested(40)}}};
  });
  BOOST_TEST(deep_update.status().code() == Code::kNotFound);  // no row "a": never called
  BOOST_REQUIRE(r.insert(make_spec("a"), {{"n0", "<1>"}}).ok());
  deep_update = r.update("a", [](const ChildSpec& s, const NodePids& np, const Metadata&) {
    return Entry{s, np, Metadata{{"deep", nested(40)}}};
  });
  BOOST_TEST(deep_update.status().code() == Code::kInvalidArgument);
  InsertOptions too_big;
  too_big.metadata["blob"] = std::string(65u << 10, 'x');
  auto big = r.insert(make_spec("c"), {}, too_big);
  BOOST_TEST(big.status().code() == Code::kResourceExhausted, big.status().to_string());
  BOOST_TEST(r.stats().invalid_calls == 4u);
  BOOST_TEST(r.stats().events_written == 1u);
  // Nothing half-written: the writer goes on, and the log reopens with the one good event.
  BOOST_TEST(r.insert(make_spec("d"), {{"n0", "<4>"}}).ok());
  const Dump live = r.dump_all();
  opened->reset();
  auto reopened = Registry::open(o);
  BOOST_REQUIRE_MESSAGE(reopened.ok(), reopened.status().to_string());
  BOOST_TEST((*reopened)->dump_all() == live);
}

BOOST_AUTO_TEST_CASE(a_log_and_snapshot_with_a_larger_limit_replay_with_no_limit_passed) {
  testing::TempDir dir;
  RegistryOptions o = options_for(dir.path());
  o.log.max_record_bytes = 32u << 20;
  InsertOptions big;
  big.metadata["blob"] = std::string(20u << 20, 'y');  // past the default 16 MiB records
  {
    auto opened = Registry::open(o);
    BOOST_REQUIRE(opened.ok());
    BOOST_REQUIRE((*opened)->insert(make_spec("a"), {{"n0", "<1>"}}, big).ok());
  }
  // The segment header records the writer's limit: a replay needs no option.
  ReplayOptions defaults{dir.path(), "n0", 0};
  auto replayed = Registry::open_replay(defaults);
  BOOST_REQUIRE_MESSAGE(replayed.ok(), replayed.status().to_string());
  BOOST_TEST((*replayed)->entry_exists("a"));
  // Nor does a writer restarted with the default limit, nor a snapshot of the big row.
  {
    auto reopened = Registry::open(options_for(dir.path()));
    BOOST_REQUIRE_MESSAGE(reopened.ok(), reopened.status().to_string());
    BOOST_TEST((*reopened)->entry_exists("a"));
    BOOST_TEST((*reopened)->insert(make_spec("b"), {{"n0", "<2>"}}, big).status().code() ==
               Code::kResourceExhausted);
    BOOST_REQUIRE((*reopened)->insert(make_spec("c"), {{"n0", "<3>"}}).ok());
    auto snapshot = (*reopened)->snapshot();
    BOOST_REQUIRE_MESSAGE(snapshot.ok(), snapshot.status().to_string());
  }
  replayed = Registry::open_replay(defaults);
  BOOST_REQUIRE_MESSAGE(replayed.ok(), replayed.status().to_string());
  BOOST_TEST((*replayed)->recovery_report().find("started from snapshot-") == 0u,
             (*replayed)->recovery_report());
  BOOST_TEST((*replayed)->entry_exists("a"));
  BOOST_TEST((*replayed)->entry_exists("c"));
  ReplayOptions log_only = defaults;
  log_only.use_snapshots = false;
  replayed = Registry::open_replay(log_only);
  BOOST_REQUIRE_MESSAGE(replayed.ok(), replayed.status().to_string());
  BOOST_TEST((*replayed)->last_sequence() == 2u);
}

BOOST_AUTO_TEST_CASE(ttl_and_clock_extremes_neither_overflow_nor_wrap) {
  testing::TempDir dir;
  std::int64_t now = std::numeric_limits<std::int64_t>::max() - 5;
  RegistryOptions o = options_for(dir.path());
  o.clock = [&] { return now; };
  auto opened = Registry::open(o);
  BOOST_REQUIRE(opened.ok());
  Registry& r = **opened;
  InsertOptions ttl;
  ttl.ttl_ms = std::numeric_limits<std::int64_t>::min();  // std::abs of it is undefined
  BOOST_TEST(r.insert(make_spec("a"), {}, ttl).status().code() == Code::kInvalidArgument);
  ttl.ttl_ms = 1000;  // now + ttl would wrap into the past: saturates instead
  BOOST_REQUIRE(r.insert(make_spec("late"), {{"n0", "<1>"}}, ttl).ok());
  auto expired = r.run_janitor();
  BOOST_REQUIRE(expired.ok());
  BOOST_TEST(*expired == 0u);
  BOOST_TEST(r.entry_exists("late"));

  now = std::numeric_limits<std::int64_t>::min() + 5;  // a clock at the other end
  ttl.ttl_ms = -1000;  // already expired; must not become the no-expiry marker
  BOOST_REQUIRE(r.insert(make_spec("early"), {{"n0", "<2>"}}, ttl).ok());
  expired = r.run_janitor();
  BOOST_REQUIRE(expired.ok());
  BOOST_TEST(*expired == 1u);
  BOOST_TEST(!r.entry_exists("early"));

  RegistryOptions bad = options_for(dir.file("other"));
  bad.tombstone_ttl_ms = std::numeric_limits<std::int64_t>::max();
  BOOST_TEST(Registry::open(bad).status().code() == Code::kInvalidArgument);
  bad.tombstone_ttl_ms = 1000;
  bad.pending_ttl_ms = -1;
  BOOST_TEST(Registry::open(bad).status().code() == Code::kInvalidArgument);
}

BOOST_AUTO_TEST_CASE(a_write_from_inside_an_update_function_fails_at_once) {
  testing::TempDir dir;
  auto opened = Registry::open(options_for(dir.path()));
  BOOST_REQUIRE(opened.ok());
  Registry& r = **opened;
  BOOST_REQUIRE(r.insert(make_spec("a"), {{"n0", "<1>"}}).ok());
  Status inner;
  bool read_inside = false;
  const auto started = std::chrono::steady_clock::now();
  auto updated = r.update("a", [&](const ChildSpec& s, const NodePids& np, const Metadata& md) {
    InsertOptions quick;
    quick.timeout = std::chrono::seconds(5);
    inner = r.insert(make_spec("b"), {}, quick).status();
    read_inside = r.entry_exists("a");  // reads are fine
    Metadata next = md;
    next["touched"] = true;
    return Entry{s, np, next};
  });
  BOOST_TEST(updated.ok(), updated.status().to_string());
  BOOST_TEST(inner.code() == Code::kInvalidArgument, inner.to_string());
  // Failed at once, not after the inner call's 5 s timeout on a slot it would never get.
  BOOST_TEST((std::chrono::steady_clock::now() - started < std::chrono::seconds(5)));
  BOOST_TEST(read_inside);
  BOOST_TEST(!r.entry_exists("b"));
  auto row = r.lookup("a", LookupOptions{{}, true});
  BOOST_REQUIRE(row.has_value());
  BOOST_TEST((row->metadata->at("touched") == Value(true)));
  BOOST_TEST(r.insert(make_spec("b"), {}).ok());  // and the slot is free afterwards
}

BOOST_AUTO_TEST_CASE(a_write_timeout_bounds_the_wait_for_the_durability_point) {
  testing::TempDir dir;
  RegistryOptions o = options_for(dir.path());
  o.log.durability = Durability::kGroupCommit;
  o.log.group_commit_interval = std::chrono::milliseconds(3'000);
  auto opened = Registry::open(o);
  BOOST_REQUIRE(opened.ok());
  Registry& r = **opened;
  // The first write is synced at once; the next sync comes no sooner than 3 s after it.
  BOOST_REQUIRE(r.insert(make_spec("a"), {{"n0", "<1>"}}).ok());
  InsertOptions quick;
  quick.timeout = std::chrono::milliseconds(50);
  const auto started = std::chrono::steady_clock::now();
  auto slow = r.insert(make_spec("b"), {{"n0", "<2>"}}, quick);
  BOOST_TEST(slow.status().code() == Code::kTimeout, slow.status().to_string());
  BOOST_TEST((std::chrono::steady_clock::now() - started < std::chrono::milliseconds(2'500)));
  BOOST_TEST(slow.status().message().find("appended") != std::string::npos);
  // Appended, so it takes effect with the next sync: a later write waits for it.
  auto later = r.insert(make_spec("c"), {{"n0", "<3>"}});
  BOOST_REQUIRE(later.ok());
  BOOST_TEST(*later == 3u);
  BOOST_TEST(r.entry_exists("b"));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace procreg
