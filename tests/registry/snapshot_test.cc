// Snapshots and retention: a writer opens from its newest valid snapshot plus the log after it,
// falls back past a damaged snapshot (and says so), compacts segments a snapshot covers, and a
// replay as of a point before the kept history is an explicit kCompacted.
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>
#include <thread>

#include "fixture.h"
#include "log/log_format.h"
#include "replay/snapshot.h"

namespace procreg::testing {
namespace {

namespace fs = std::filesystem;

// A writer on its own directory with the snapshot options a test sets.
struct Writer {
  TempDir dir;
  std::shared_ptr<std::atomic<std::int64_t>> clock =
      std::make_shared<std::atomic<std::int64_t>>(kStartMs);
  SnapshotOptions snapshots;
  std::uint64_t segment_bytes = 64ull << 20;
  Durability durability = Durability::kNone;
  std::chrono::milliseconds group_commit_interval{0};
  std::unique_ptr<Registry> reg;

  Writer() { snapshots.every_bytes = 0; }

  RegistryOptions options() const {
    RegistryOptions o;
    o.hub = kHub;
    o.log_dir = dir.path();
    o.local_node = kLocalNode;
    o.log.durability = durability;
    o.log.group_commit_interval = group_commit_interval;
    o.log.segment_bytes = segment_bytes;
    o.snapshots = snapshots;
    o.clock = [c = clock] { return c->load(); };
    o.janitor_interval = std::chrono::milliseconds(0);
    return o;
  }
  Result<std::unique_ptr<Registry>> try_open() const { return Registry::open(options()); }
  Registry& open() {
    reg.reset();
    auto opened = try_open();
    BOOST_REQUIRE_MESSAGE(opened.ok(), "open: " << opened.status().to_string());
    reg = std::move(*opened);
    return *reg;
  }
  void close() { reg.reset(); }
  std::unique_ptr<Registry> replay(std::uint64_t upto_seq, bool use_snapshots = true) const {
    ReplayOptions o{dir.path(), kLocalNode, upto_seq};
    o.use_snapshots = use_snapshots;
    auto r = Registry::open_replay(o);
    BOOST_REQUIRE_MESSAGE(r.ok(), "open_replay: " << r.status().to_string());
    return std::move(*r);
  }
  std::vector<std::string> files(std::string_view suffix) const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir.path())) {
      const std::string n = e.path().filename().string();
      if (n.ends_with(suffix)) names.push_back(n);
    }
    std::sort(names.begin(), names.end());
    return names;
  }
};

// A mixed workload over two tables: registrations, a migration, a TTL row, a tombstone, hooks.
void workload(Registry& r, int from, int to) {
  for (int i = from; i < to; ++i) {
    const std::string id = "c" + std::to_string(i);
    BOOST_REQUIRE(r.insert(S(id), {np("n" + std::to_string(i % 3), "p" + std::to_string(i))},
                           insert_options(i % 2 ? Hooks::kOn : Hooks::kOff))
                      .ok());
    if (i % 5 == 0) BOOST_REQUIRE(r.bulk_insert({E(id, {np("n9", "q" + std::to_string(i))})}).ok());
    if (i % 7 == 0) BOOST_REQUIRE(r.bulk_delete({{id, {"n0", "n1", "n2", "n9"}}}).ok());
    if (i % 11 == 0) BOOST_REQUIRE(r.erase(id, write_options(Hooks::kOn)).ok());
    InsertOptions ttl = insert_options(Hooks::kOff);
    ttl.table = "other";
    ttl.ttl_ms = 60'000 + i;
    if (i % 4 == 0) BOOST_REQUIRE(r.insert(S("t" + std::to_string(i)), {np("n1", "x")}, ttl).ok());
  }
}

void flip_byte(const std::string& path, std::uint64_t offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(c ^ 0x5a);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(&c, 1);
}

BOOST_AUTO_TEST_SUITE(snapshots)

BOOST_AUTO_TEST_CASE(a_writer_reopens_from_its_snapshot_plus_the_log_after_it) {
  Writer w;
  Registry& r = w.open();
  workload(r, 0, 60);
  auto snap = r.snapshot();
  BOOST_REQUIRE_MESSAGE(snap.ok(), snap.status().to_string());
  BOOST_TEST(snap->seq == r.last_sequence());
  BOOST_TEST(snap->file == replay::snapshot_file_name(snap->seq));
  BOOST_TEST(snap->rows > 0u);
  BOOST_TEST(r.stats().snapshots_written == 1u);
  // Asking again at the same seq returns the same file without writing one.
  auto again = r.snapshot();
  BOOST_REQUIRE(again.ok());
  BOOST_TEST(again->file == snap->file);
  BOOST_TEST(again->rows == snap->rows);
  BOOST_TEST(r.stats().snapshots_written == 1u);
  workload(r, 60, 90);
  const auto tables = r.dump_all_tables();
  const std::uint64_t seq = r.last_sequence();
  w.close();

  Registry& reopened = w.open();
  BOOST_TEST(reopened.last_sequence() == seq);
  BOOST_TEST((reopened.dump_all_tables() == tables));
  BOOST_TEST_MESSAGE(reopened.recovery_report());
  BOOST_TEST(reopened.recovery_report().find("started from " + snap->file) != std::string::npos);
  // The same state as a replay of the whole log, and TTL rows keep their expiry: the janitor
  // of the reopened writer expires exactly what the full replay's would.
  auto full = w.replay(0, /*use_snapshots=*/false);
  BOOST_TEST((full->dump_all_tables() == tables));
  // (The replay's clock is the system clock, long past the fake one: everything is due there.)
  BOOST_TEST(reopened.scan_expired().empty());
  w.clock->fetch_add(120'000);
  const auto due = full->scan_expired();
  BOOST_TEST(due.size() > 0u);
  BOOST_TEST(reopened.scan_expired().size() == due.size());
  auto expired = reopened.run_janitor();
  BOOST_REQUIRE(expired.ok());
  BOOST_TEST(*expired == due.size());
  // Writes go on after it with the next sequence numbers.
  const std::uint64_t last = reopened.last_sequence();
  BOOST_TEST(last > seq);
  BOOST_TEST(*reopened.insert(S("after"), {np("n1", "p")}) == last + 1);
}

BOOST_AUTO_TEST_CASE(a_damaged_newest_snapshot_falls_back_to_an_older_one_and_says_so) {
  Writer w;
  Registry& r = w.open();
  workload(r, 0, 30);
  auto older = r.snapshot();
  BOOST_REQUIRE(older.ok());
  workload(r, 30, 60);
  auto newer = r.snapshot();
  BOOST_REQUIRE(newer.ok());
  workload(r, 60, 70);
  const auto tables = r.dump_all_tables();
  w.close();
  flip_byte(w.dir.file(newer->file), newer->bytes / 2);

  Registry& reopened = w.open();
  BOOST_TEST((reopened.dump_all_tables() == tables));
  const std::string report = reopened.recovery_report();
  BOOST_TEST_MESSAGE(report);
  BOOST_TEST(report.find("started from " + older->file) != std::string::npos);
  BOOST_TEST(report.find("skipped " + newer->file) != std::string::npos);
  BOOST_TEST(report.find("CRC mismatch") != std::string::npos);

  // Both damaged: the full log.
  w.close();
  flip_byte(w.dir.file(older->file), 3);  // the magic
  Registry& third = w.open();
  BOOST_TEST((third.dump_all_tables() == tables));
  BOOST_TEST(third.recovery_report().find("replayed the whole log") != std::string::npos);
  BOOST_TEST(third.recovery_report().find("bad magic") != std::string::npos);
}

// Leaves w's log as a power loss under Durability::kNone leaves it after a snapshot: the log
// ends at *kept, while the snapshot of a later state stays. Returns that snapshot.
SnapshotInfo lose_the_events_of_a_snapshot(Writer& w, std::uint64_t* kept) {
  const auto log_files = [&w] {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(w.dir.path())) {
      const std::string n = e.path().filename().string();
      if (!n.ends_with(".snap")) names.push_back(n);
    }
    return names;
  };
  Registry& r = w.open();
  workload(r, 0, 30);
  *kept = r.last_sequence();
  w.close();
  TempDir saved;  // the log as a power loss leaves it: put back below
  for (const std::string& name : log_files()) fs::copy_file(w.dir.file(name), saved.file(name));

  Registry& more = w.open();
  workload(more, 30, 60);
  auto snap = more.snapshot();
  BOOST_REQUIRE(snap.ok());
  BOOST_REQUIRE(snap->seq > *kept);
  w.close();
  for (const std::string& name : log_files()) fs::remove(w.dir.file(name));
  for (const auto& e : fs::directory_iterator(saved.path())) {
    fs::copy_file(e.path(), w.dir.file(e.path().filename().string()));
  }
  return *snap;
}

// Under kNone a power loss can keep a snapshot file and lose the log records it was built from.
// The writer removes such a file when it opens: once the log grows past the file's seq again,
// with other events, the file would pass for the state at that seq.
BOOST_AUTO_TEST_CASE(a_snapshot_ahead_of_its_log_is_removed_when_the_writer_opens) {
  Writer w;
  std::uint64_t kept = 0;
  const SnapshotInfo snap = lose_the_events_of_a_snapshot(w, &kept);

  Registry& back = w.open();
  BOOST_TEST(back.last_sequence() == kept);
  BOOST_TEST(w.files(".snap").empty());
  BOOST_TEST_MESSAGE(back.recovery_report());
  BOOST_TEST(back.recovery_report().find("removed " + snap.file) != std::string::npos);
  workload(back, 100, 140);  // other events, under the seqs the snapshot had and past them
  BOOST_REQUIRE(back.last_sequence() > snap.seq);
  const auto tables = back.dump_all_tables();
  w.close();
  Registry& reopened = w.open();
  BOOST_TEST((reopened.dump_all_tables() == tables));
  BOOST_TEST((w.replay(0)->dump_all_tables() == tables));
}

// Every reader skips such a file too (it does not remove it: that is the writer's to do), or it
// would give a state the log does not hold.
BOOST_AUTO_TEST_CASE(a_replay_skips_a_snapshot_ahead_of_its_log_and_leaves_it) {
  Writer w;
  w.segment_bytes = 4096;  // the log ends in its last segment, the snapshot after it
  std::uint64_t kept = 0;
  const SnapshotInfo snap = lose_the_events_of_a_snapshot(w, &kept);
  const std::string why = snap.file + ": ahead of the log's last record " + std::to_string(kept);
  for (const std::uint64_t upto : {std::uint64_t{0}, snap.seq}) {
    auto replayed = w.replay(upto);
    BOOST_TEST(replayed->last_sequence() == kept);
    BOOST_TEST_MESSAGE(replayed->recovery_report());
    BOOST_TEST(replayed->recovery_report().find("skipped " + why) != std::string::npos);
    BOOST_TEST((replayed->dump_all_tables() == w.replay(0, false)->dump_all_tables()));
  }
  BOOST_TEST(w.files(".snap") == std::vector<std::string>{snap.file});  // a reader removes none
}

BOOST_AUTO_TEST_CASE(compaction_removes_covered_segments_and_old_history_is_an_explicit_answer) {
  Writer w;
  w.segment_bytes = 4096;
  w.snapshots.keep = 2;
  Registry& r = w.open();
  workload(r, 0, 100);
  const std::uint64_t early = 10;
  const auto at_early = w.replay(early)->dump_all_tables();
  auto first = r.snapshot();
  BOOST_REQUIRE(first.ok());
  workload(r, 100, 200);
  const std::uint64_t mid = r.last_sequence();
  const auto at_mid = r.dump_all_tables();
  auto second = r.snapshot();
  BOOST_REQUIRE(second.ok());
  workload(r, 200, 220);
  const std::size_t segments_before = w.files(".log").size();
  BOOST_REQUIRE(segments_before > 4u);

  // Compaction keeps what the oldest kept snapshot (the first) does not cover.
  auto removed = r.compact();
  BOOST_REQUIRE_MESSAGE(removed.ok(), removed.status().to_string());
  BOOST_TEST(*removed > 0u);
  BOOST_TEST(w.files(".log").size() == segments_before - *removed);
  BOOST_TEST(r.stats().segments_compacted == *removed);
  const std::uint64_t first_kept = *replay::parse_segment_file_name(w.files(".log").front());
  BOOST_TEST(first_kept <= first->seq + 1);
  BOOST_TEST(first_kept > 1u);

  // Before the kept history, with no snapshot at or before it: kCompacted, never a hole.
  ReplayOptions o{w.dir.path(), kLocalNode, early};
  auto gone = Registry::open_replay(o);
  BOOST_REQUIRE(!gone.ok());
  BOOST_TEST(gone.status().code() == Code::kCompacted);
  BOOST_TEST_MESSAGE(gone.status().to_string());
  (void)at_early;
  // At or after a snapshot: from it.
  BOOST_TEST((w.replay(mid)->dump_all_tables() == at_mid));
  BOOST_TEST(w.replay(first->seq)->last_sequence() == first->seq);

  // The writer reopens from its snapshot over the compacted log; a third snapshot (keep = 2)
  // drops the first, and the compact policy then removes what only the first covered.
  const auto tables = r.dump_all_tables();
  w.close();
  w.snapshots.compact = true;
  Registry& reopened = w.open();
  BOOST_TEST((reopened.dump_all_tables() == tables));
  workload(reopened, 220, 300);
  auto third = reopened.snapshot();
  BOOST_REQUIRE(third.ok());
  BOOST_TEST((w.files(".snap") == std::vector<std::string>{second->file, third->file}));
  const std::uint64_t now_first = *replay::parse_segment_file_name(w.files(".log").front());
  BOOST_TEST(now_first > first_kept);
  BOOST_TEST(now_first <= second->seq + 1);
}

BOOST_AUTO_TEST_CASE(compaction_can_archive_instead_of_removing) {
  Writer w;
  w.segment_bytes = 4096;
  w.snapshots.keep = 1;
  w.snapshots.compact = true;
  TempDir archive;
  w.snapshots.archive_dir = archive.path() + "/old";
  Registry& r = w.open();
  workload(r, 0, 120);
  const std::size_t before = w.files(".log").size();
  auto snap = r.snapshot();
  BOOST_REQUIRE(snap.ok());
  const std::size_t kept = w.files(".log").size();
  BOOST_TEST(kept < before);
  std::size_t archived = 0;
  for (const auto& e : fs::directory_iterator(w.snapshots.archive_dir)) {
    BOOST_TEST(replay::parse_segment_file_name(e.path().filename().string()).has_value());
    ++archived;
  }
  BOOST_TEST(archived == before - kept);
}

BOOST_AUTO_TEST_CASE(the_policy_writes_snapshots_in_the_background_and_keeps_the_newest) {
  Writer w;
  w.snapshots.every_events = 50;
  w.snapshots.keep = 2;
  Registry& r = w.open();
  workload(r, 0, 150);
  // Bounded wait: the snapshotter runs on its own thread. A snapshotter that wakes late covers
  // everything appended by then, so more events may be needed for a second one to be due.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (int next = 150;
       r.stats().snapshots_written < 2 && std::chrono::steady_clock::now() < deadline;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (r.stats().snapshots_written == 1) {
      workload(r, next, next + 10);
      next += 10;
    }
  }
  const RegistryStats stats = r.stats();
  BOOST_TEST(stats.snapshots_written >= 2u);
  BOOST_TEST(stats.snapshot_failures == 0u, stats.last_snapshot_error);
  (void)r.snapshot();  // waits for a background one in progress, then settles the files
  BOOST_TEST(w.files(".snap").size() == 2u);
  BOOST_TEST(w.files(".tmp").empty());
  const auto tables = r.dump_all_tables();
  w.close();
  BOOST_TEST((w.open().dump_all_tables() == tables));
}

BOOST_AUTO_TEST_CASE(the_event_policy_counts_the_events_since_the_last_snapshot_across_reopens) {
  Writer w;
  w.snapshots.every_events = 10;
  for (int run = 0; run < 4; ++run) {  // 4 events per open: under the policy in any one run
    Registry& r = w.open();
    for (int i = 0; i < 4; ++i) {
      const std::string id = "r" + std::to_string(run) + "-" + std::to_string(i);
      BOOST_REQUIRE(r.insert(S(id), {np("n1", "p")}, insert_options(Hooks::kOff)).ok());
    }
    if (r.last_sequence() >= 10) {  // 10 events since the start: one is due
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      while (r.stats().snapshots_written == 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      BOOST_TEST(r.stats().snapshots_written == 1u, r.stats().last_snapshot_error);
      break;
    }
    w.close();
  }
  BOOST_TEST(w.files(".snap").size() == 1u);
}

// The policy counts appended events; a snapshot covers the applied ones. Events appended and
// not applied yet (waiting for their sync) when a snapshot is taken count towards the next.
BOOST_AUTO_TEST_CASE(events_not_yet_applied_at_a_snapshot_count_towards_the_next_one) {
  Writer w;
  w.snapshots.every_events = 4;
  w.durability = Durability::kGroupCommit;
  w.group_commit_interval = std::chrono::milliseconds(300);  // one sync at once, then 300 ms apart
  Registry& r = w.open();
  BOOST_REQUIRE(r.insert(S("first"), {np("n1", "p")}, insert_options(Hooks::kOff)).ok());
  std::atomic<int> done{0};
  for (int i = 0; i < 5; ++i) {  // appended at once, applied at the next sync
    r.submit_insert(S("later" + std::to_string(i)), {np("n1", "p")}, insert_options(Hooks::kOff),
                    [&](Result<std::uint64_t>) { done.fetch_add(1); });
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while ((r.stats().last_snapshot_seq < 6 || done.load() < 5) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  BOOST_TEST(done.load() == 5);
  BOOST_TEST(r.stats().last_snapshot_seq == 6u, r.stats().last_snapshot_error);
}

BOOST_AUTO_TEST_CASE(time_travel_starts_from_the_snapshot_before_the_point) {
  Writer w;
  Registry& r = w.open();
  std::vector<std::pair<std::int64_t, std::map<std::string, Dump>>> states;
  for (int round = 0; round < 4; ++round) {
    workload(r, round * 20, round * 20 + 20);
    states.emplace_back(w.clock->load(), r.dump_all_tables());
    BOOST_REQUIRE(r.snapshot().ok());
    w.clock->fetch_add(1'000);
  }
  for (std::size_t i = 0; i < states.size(); ++i) {
    ReplayOptions o{w.dir.path(), kLocalNode, 0};
    o.upto_time_ms = states[i].first + 500;
    auto as_of = Registry::open_replay(o);
    BOOST_REQUIRE(as_of.ok());
    BOOST_TEST_CONTEXT("state " << i << ": " << (*as_of)->recovery_report()) {
      BOOST_TEST(((*as_of)->dump_all_tables() == states[i].second));
    }
  }
  // Every seq, with and without snapshots, gives the same state.
  for (std::uint64_t seq = 1; seq <= r.last_sequence(); seq += 7) {
    BOOST_TEST_CONTEXT("seq " << seq) {
      BOOST_TEST((w.replay(seq)->dump_all_tables() == w.replay(seq, false)->dump_all_tables()));
    }
  }
}

BOOST_AUTO_TEST_CASE(leftovers_of_a_crash_and_a_missing_log_are_handled) {
  Writer w;
  Registry& r = w.open();
  workload(r, 0, 20);
  auto snap = r.snapshot();
  BOOST_REQUIRE(snap.ok());
  w.close();
  // A snapshot write cut by a crash: a temporary file, removed at open.
  const std::string temp = w.dir.file(replay::snapshot_file_name(snap->seq + 5) + ".tmp");
  { std::ofstream(temp) << "half a snapshot"; }
  w.open();
  BOOST_TEST(!fs::exists(temp));
  w.close();
  // Snapshots but no segment: refused, never a new log over them.
  for (const std::string& name : w.files(".log")) fs::remove(w.dir.file(name));
  auto opened = w.try_open();
  BOOST_REQUIRE(!opened.ok());
  BOOST_TEST(opened.status().code() == Code::kCorruption);
  BOOST_TEST(opened.status().message().find("no log segment") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(snapshot_arguments_and_roles) {
  Writer w;
  Registry& r = w.open();
  auto empty = r.snapshot();
  BOOST_REQUIRE(!empty.ok());
  BOOST_TEST(empty.status().code() == Code::kInvalidArgument);
  workload(r, 0, 3);
  BOOST_REQUIRE(r.snapshot().ok());
  auto replay = w.replay(0);
  BOOST_TEST(replay->snapshot().status().code() == Code::kUnavailable);
  BOOST_TEST(replay->compact().status().code() == Code::kUnavailable);
  w.close();
  w.snapshots.compact = true;
  w.snapshots.load = false;
  auto refused = w.try_open();
  BOOST_REQUIRE(!refused.ok());
  BOOST_TEST(refused.status().code() == Code::kInvalidArgument);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace procreg::testing
