// The standby: a byte-for-byte copy of a writer's log directory over the replay service's
// files and file requests, checked by the log format's rules, following compaction, repairing
// a damaged copy and refusing one of another history.
#include <atomic>
#include <filesystem>
#include <thread>

#include <boost/test/unit_test.hpp>

#include "bus_fixture.h"
#include "log/segment_scan.h"
#include "plugin/replay_client.h"
#include "plugin/wire.h"
#include "plugin/zmq_util.h"
#include "procreg/standby.h"
#include "registry/registry_access.h"
#include "replay/log_test_util.h"

namespace procreg {
namespace {

using namespace procreg::testing;
using replay::testing::read_bytes;
using replay::testing::write_bytes;
using std::chrono::milliseconds;

StandbyOptions standby_options(const Writer& w, const std::string& dir) {
  StandbyOptions o;
  o.hub = w.registry->hub();
  o.dir = dir;
  o.replay_endpoint = w.server->replay_endpoint();
  o.poll_interval = milliseconds(10);
  o.request_timeout = milliseconds(2'000);
  o.chunk_bytes = 3'000;  // several chunks per segment, cut inside records
  return o;
}

std::unique_ptr<Standby> start_standby(zmq::context_t& ctx, const StandbyOptions& o) {
  auto s = Standby::start(ctx, o);
  BOOST_REQUIRE_MESSAGE(s.ok(), s.status().to_string());
  return std::move(*s);
}

// Where the records of dir/name end: a writer's active segment is zero-filled after them.
std::uint64_t records_end(const std::string& dir, const std::string& name) {
  auto scan = replay::SegmentScan::open(dir, name);
  BOOST_REQUIRE(scan.ok());
  BOOST_REQUIRE(scan->advance(UINT64_MAX).ok());
  return scan->size();
}

// The log files (segments and snapshot files) of `dir`, by name, with their bytes (a segment's
// up to the end of its records: a writer's active segment is zero-filled after them, its copy
// is not).
std::map<std::string, std::string> log_files(const std::string& dir) {
  std::map<std::string, std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.ends_with(".log")) {
      files[name] = read_bytes(entry.path().string()).substr(0, records_end(dir, name));
    } else if (name.ends_with(".snap")) {
      files[name] = read_bytes(entry.path().string());
    }
  }
  return files;
}

// The copy holds the writer's files, the same bytes (the writer's active segment may have
// grown past what the copy took: the copy is a prefix of it then, ending on a record).
void check_same_files(const std::string& writer_dir, const std::string& copy_dir) {
  auto mine = log_files(writer_dir);
  auto copy = log_files(copy_dir);
  BOOST_TEST(mine.size() == copy.size());
  for (const auto& [name, bytes] : mine) {
    BOOST_TEST_CONTEXT(name) {
      BOOST_REQUIRE(copy.count(name) == 1u);
      BOOST_TEST((copy[name] == bytes));
    }
  }
}

void wait_copied(const Registry& writer, const Standby& standby) {
  Status s = standby.wait_for(writer.last_sequence(), kWait);
  BOOST_REQUIRE_MESSAGE(s.ok(), s.to_string());
}

// The copy opens as a log and replays to the writer's state.
void check_replays_to(const Registry& writer, const std::string& copy_dir) {
  ReplayOptions ro;
  ro.log_dir = copy_dir;
  ro.local_node = "n0";
  auto replayed = Registry::open_replay(ro);
  BOOST_REQUIRE_MESSAGE(replayed.ok(), replayed.status().to_string());
  BOOST_TEST((*replayed)->last_sequence() == writer.last_sequence());
  BOOST_TEST(((*replayed)->dump_all_tables() == writer.dump_all_tables()));
}

// A writer of term 1 on `dir` ran a workload and closed.
void random_workload_into(zmq::context_t& ctx, const std::string& dir, std::uint32_t seed) {
  Writer w = Writer::open(ctx, compacting_options(dir), Writer::server_options(tcp_transport()));
  random_workload(*w.registry, seed, 200);
}

BOOST_AUTO_TEST_SUITE(standby)

BOOST_AUTO_TEST_CASE(copies_the_log_byte_for_byte_while_it_grows) {
  zmq::context_t ctx;
  TempDir dir;
  TempDir copy;
  Writer w =
      Writer::open(ctx, compacting_options(dir.path()), Writer::server_options(tcp_transport()));
  random_workload(*w.registry, 51, 800);
  auto standby = start_standby(ctx, standby_options(w, copy.path()));
  std::thread more([&] { random_workload(*w.registry, 52, 800); });  // copied while written
  more.join();
  wait_copied(*w.registry, *standby);
  BOOST_TEST(standby->status().ok());
  check_same_files(dir.path(), copy.path());
  const StandbyStats st = standby->stats();
  BOOST_TEST(st.copied_seq == w.registry->last_sequence());
  BOOST_TEST(st.epoch == w.registry->epoch());
  BOOST_TEST(st.files_completed >= 2u);  // sealed segments (8 KiB each)
  BOOST_TEST(st.chunks_refused == 0u);
  BOOST_TEST(eventually([&] { return standby->stats().lag_events == 0; }));
  standby->stop();
  check_replays_to(*w.registry, copy.path());
}

BOOST_AUTO_TEST_CASE(follows_snapshots_and_compaction_and_starts_from_a_compacted_log) {
  zmq::context_t ctx;
  TempDir dir;
  TempDir copy;
  TempDir late;
  Writer w =
      Writer::open(ctx, compacting_options(dir.path()), Writer::server_options(tcp_transport()));
  random_workload(*w.registry, 61, 1'000);
  auto standby = start_standby(ctx, standby_options(w, copy.path()));
  wait_copied(*w.registry, *standby);
  BOOST_REQUIRE(w.registry->snapshot().ok());  // keep 1, compact: old segments go
  BOOST_REQUIRE(w.registry->stats().segments_compacted > 0u);
  random_workload(*w.registry, 62, 300);
  wait_copied(*w.registry, *standby);
  BOOST_TEST(eventually([&] { return log_files(copy.path()) == log_files(dir.path()); }));
  BOOST_TEST(standby->stats().files_removed > 0u);
  // A standby that starts now copies the snapshot file and the segments after it.
  auto second = start_standby(ctx, standby_options(w, late.path()));
  wait_copied(*w.registry, *second);
  standby->stop();
  second->stop();
  check_same_files(dir.path(), late.path());
  check_replays_to(*w.registry, late.path());
}

BOOST_AUTO_TEST_CASE(a_damaged_or_cut_copy_is_repaired_from_the_writer) {
  zmq::context_t ctx;
  TempDir dir;
  TempDir copy;
  Writer w =
      Writer::open(ctx, compacting_options(dir.path()), Writer::server_options(tcp_transport()));
  random_workload(*w.registry, 71, 1'000);
  {
    auto standby = start_standby(ctx, standby_options(w, copy.path()));
    wait_copied(*w.registry, *standby);
  }
  auto files = log_files(copy.path());
  BOOST_REQUIRE(files.size() >= 4u);
  // A bit flipped inside the second segment, and the last one cut inside a record.
  auto second = std::next(files.begin());
  std::string flipped = second->second;
  flipped[flipped.size() / 2] = static_cast<char>(flipped[flipped.size() / 2] ^ 0x10);
  write_bytes(copy.file(second->first), flipped);
  auto last = std::prev(files.end());
  write_bytes(copy.file(last->first), last->second.substr(0, last->second.size() - 5));
  random_workload(*w.registry, 72, 200);
  auto standby = start_standby(ctx, standby_options(w, copy.path()));
  wait_copied(*w.registry, *standby);
  BOOST_TEST(standby->stats().repairs >= 1u);
  standby->stop();
  check_same_files(dir.path(), copy.path());
}

BOOST_AUTO_TEST_CASE(a_copy_of_another_history_is_refused_and_kept) {
  zmq::context_t ctx;
  TempDir dir_a;
  TempDir dir_b;
  TempDir copy;
  Writer a =
      Writer::open(ctx, compacting_options(dir_a.path()), Writer::server_options(tcp_transport()));
  random_workload(*a.registry, 81, 300);
  {
    auto standby = start_standby(ctx, standby_options(a, copy.path()));
    wait_copied(*a.registry, *standby);
  }
  const auto before = log_files(copy.path());
  // Another log of the same hub (another epoch) behind the endpoints.
  Writer b =
      Writer::open(ctx, compacting_options(dir_b.path()), Writer::server_options(tcp_transport()));
  random_workload(*b.registry, 82, 600);
  auto standby = start_standby(ctx, standby_options(b, copy.path()));
  BOOST_TEST(eventually([&] { return !standby->status().ok(); }));
  BOOST_TEST(standby->status().code() == Code::kConflict);
  BOOST_TEST(standby->wait_for(b.registry->last_sequence(), milliseconds(100)).code() ==
             Code::kConflict);
  standby->stop();
  BOOST_TEST((log_files(copy.path()) == before));
  // And a second standby on a directory in use is refused.
  auto again = start_standby(ctx, standby_options(a, copy.path()));
  auto twice = Standby::start(ctx, standby_options(a, copy.path()));
  BOOST_TEST(twice.status().code() == Code::kUnavailable);
}

// docs/PROTOCOL.md, "Terms and histories": a standby follows a writer promoted to a higher
// term on the same history, and refuses one of an older term afterwards, keeping its copy.
BOOST_AUTO_TEST_CASE(a_writer_of_an_older_term_is_refused) {
  zmq::context_t ctx;
  TempDir dir;
  TempDir old_copy;
  TempDir copy;
  random_workload_into(ctx, dir.path(), 83);
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    std::filesystem::copy_file(entry.path(), old_copy.file(entry.path().filename().string()));
  }
  {
    RegistryOptions promoted = compacting_options(dir.path());
    promoted.log.term = 2;
    Writer w = Writer::open(ctx, promoted, Writer::server_options(tcp_transport()));
    random_workload(*w.registry, 84, 100);
    auto standby = start_standby(ctx, standby_options(w, copy.path()));
    wait_copied(*w.registry, *standby);
    BOOST_TEST(standby->status().ok());
  }
  const auto before = log_files(copy.path());
  Writer old = Writer::open(ctx, compacting_options(old_copy.path()),
                            Writer::server_options(tcp_transport()));
  BOOST_TEST(old.registry->term() == 1u);
  auto standby = start_standby(ctx, standby_options(old, copy.path()));
  BOOST_TEST(eventually([&] { return !standby->status().ok(); }));
  BOOST_TEST(standby->status().code() == Code::kConflict);
  BOOST_TEST(standby->status().message().find("term 1") != std::string::npos,
             standby->status().to_string());
  standby->stop();
  BOOST_TEST((log_files(copy.path()) == before));
}

// The old writer's directory after a promotion: it holds records the promoted copy never got
// (never acknowledged with sync_standbys). As a standby of the new writer (a newer term) it
// drops them and copies the new history, ending byte for byte as the new writer's log.
BOOST_AUTO_TEST_CASE(an_old_writers_log_follows_the_promoted_writer_dropping_its_tail) {
  zmq::context_t ctx;
  TempDir dir;
  TempDir promoted_dir;
  {
    Writer w =
        Writer::open(ctx, compacting_options(dir.path()), Writer::server_options(tcp_transport()));
    random_workload(*w.registry, 85, 150);
    {
      auto standby = start_standby(ctx, standby_options(w, promoted_dir.path()));
      wait_copied(*w.registry, *standby);
    }
    random_workload(*w.registry, 86, 120);  // only on the old writer's disk
  }
  RegistryOptions promoted = compacting_options(promoted_dir.path());
  promoted.log.term = 2;
  Writer w = Writer::open(ctx, promoted, Writer::server_options(tcp_transport()));
  random_workload(*w.registry, 87, 40);  // the new history: other events at the same seqs
  auto old_as_standby = start_standby(ctx, standby_options(w, dir.path()));
  // Its copy claims higher seqs than the writer's at first: wait for the rounds, not the seq.
  BOOST_REQUIRE(eventually([&] {
    return old_as_standby->stats().rounds >= 2 &&
           log_files(dir.path()) == log_files(promoted_dir.path());
  }));
  BOOST_TEST(old_as_standby->status().ok(), old_as_standby->status().to_string());
  BOOST_TEST(old_as_standby->stats().files_removed >= 1u);
  BOOST_TEST(old_as_standby->stats().term == 2u);
  BOOST_TEST(old_as_standby->stats().last_term == 2u);  // its records are the new writer's now
  check_same_files(promoted_dir.path(), dir.path());
  old_as_standby->stop();
  check_replays_to(*w.registry, dir.path());
}

// docs/PROTOCOL.md, "A standby's acknowledgement": an acknowledgement whose record `have` is
// of another incarnation than the writer's, or past the writer's disk, counts for nothing.
BOOST_AUTO_TEST_CASE(an_acknowledgement_of_another_history_does_not_count) {
  zmq::context_t ctx;
  TempDir dir;
  RegistryOptions ro = compacting_options(dir.path());
  ro.log.durability = Durability::kSyncEach;
  ro.sync_standbys = 1;
  Writer w = Writer::open(ctx, ro, Writer::server_options(tcp_transport()));
  plugin::ReplayClient client(ctx, w.server->replay_endpoint(), "hub", milliseconds(2'000),
                              plugin::wire::kMaxChunkItems);
  const auto ack = [&](std::uint64_t have, std::uint64_t incarnation) {
    plugin::wire::ReplayRequest files;
    files.op = plugin::wire::ReplayOp::kFiles;
    files.standby = "sb";
    files.have = have;
    files.have_incarnation = incarnation;
    BOOST_REQUIRE(client.call(files).ok());
  };
  ack(0, 0);  // heard from: in sync, holding nothing
  std::atomic<bool> done{false};
  std::atomic<bool> inserted{false};
  std::thread writer([&] {  // no Boost.Test assertion here: it is not thread-safe
    InsertOptions io;
    io.timeout = milliseconds(5'000);
    inserted = w.registry->insert(make_spec("w1"), {{"n1", "p"}}, io).ok();
    done = true;
  });
  BOOST_REQUIRE(
      eventually([&] { return replay::RegistryAccess::local_durable_seq(*w.registry) == 1u; }));
  ack(1, w.registry->incarnation() ^ 1);  // seq 1 of another incarnation
  ack(2, w.registry->incarnation());      // more than this disk holds
  std::this_thread::sleep_for(milliseconds(300));
  BOOST_TEST(!done.load());
  BOOST_TEST(w.registry->stats().replicated_seq == 0u);
  ack(1, w.registry->incarnation());  // the writer's own record 1
  BOOST_TEST(eventually([&] { return done.load(); }));
  writer.join();
  BOOST_TEST(inserted.load());
  BOOST_TEST(w.registry->stats().replicated_seq == 1u);
}

BOOST_AUTO_TEST_CASE(file_requests_serve_only_listed_files_up_to_the_head) {
  zmq::context_t ctx;
  TempDir dir;
  Writer w =
      Writer::open(ctx, compacting_options(dir.path()), Writer::server_options(tcp_transport()));
  random_workload(*w.registry, 91, 400);
  plugin::ReplayClient client(ctx, w.server->replay_endpoint(), "hub", milliseconds(2'000),
                              plugin::wire::kMaxChunkItems);
  plugin::wire::ReplayRequest files;
  files.op = plugin::wire::ReplayOp::kFiles;
  auto listed = client.call(files);
  BOOST_REQUIRE_MESSAGE(listed.ok(), listed.status().to_string());
  BOOST_TEST(listed->header.head == w.registry->last_sequence());
  BOOST_REQUIRE(listed->header.count >= 2u);
  auto last = plugin::wire::decode_log_file(plugin::view(listed->payload.back()));
  BOOST_REQUIRE(last.ok());
  BOOST_TEST(!last->sealed);
  BOOST_TEST(last->last == w.registry->last_sequence());
  BOOST_TEST(last->size == records_end(dir.path(), last->name));

  plugin::wire::ReplayRequest file;
  file.op = plugin::wire::ReplayOp::kFile;
  for (const std::string name : {"../x", "00000000000000000001.log.tmp", "LOCK", ""}) {
    file.name = name;
    BOOST_TEST(client.call(file).status().code() == Code::kNotFound, name);
  }
  file.name = last->name;
  file.offset = last->size + 1;
  BOOST_TEST(client.call(file).status().code() == Code::kInvalidArgument);
  file.offset = 10;
  file.max_bytes = 100;
  auto chunk = client.call(file);
  BOOST_REQUIRE_MESSAGE(chunk.ok(), chunk.status().to_string());
  BOOST_TEST(chunk->header.next_offset == 110u);
  BOOST_TEST(chunk->header.total == last->size);
  BOOST_TEST(!chunk->header.end);
  BOOST_TEST(plugin::view(chunk->payload[0]) == read_bytes(dir.file(last->name)).substr(10, 100));
}

// docs/PROTOCOL.md, "Copying the log": a listing that names a segment and an offset carries
// that segment's bytes from the offset in one more frame; nothing for an offset at its size or
// a name it does not list. A held listing is answered when the log grows, not when it times out.
BOOST_AUTO_TEST_CASE(a_listing_carries_the_bytes_of_the_segment_named) {
  zmq::context_t ctx;
  TempDir dir;
  Writer w = Writer::open(ctx, writer_options(dir.path()), Writer::server_options(tcp_transport()));
  random_workload(*w.registry, 92, 200);
  plugin::ReplayClient client(ctx, w.server->replay_endpoint(), "hub", milliseconds(10'000),
                              plugin::wire::kMaxChunkItems);
  plugin::wire::ReplayRequest files;
  files.op = plugin::wire::ReplayOp::kFiles;
  auto plain = client.call(files);
  BOOST_REQUIRE_MESSAGE(plain.ok(), plain.status().to_string());
  BOOST_TEST(plain->header.count == plain->header.total);
  auto last = plugin::wire::decode_log_file(plugin::view(plain->payload.back()));
  BOOST_REQUIRE(last.ok());

  files.name = last->name;
  files.offset = 10;
  files.max_bytes = 100;
  auto carried = client.call(files);
  BOOST_REQUIRE_MESSAGE(carried.ok(), carried.status().to_string());
  BOOST_TEST(carried->header.total == plain->header.total);
  BOOST_REQUIRE(carried->header.count == carried->header.total + 1);
  BOOST_TEST(carried->header.next_offset == 110u);
  BOOST_TEST(plugin::view(carried->payload.back()) ==
             read_bytes(dir.file(last->name)).substr(10, 100));
  for (std::uint64_t offset : {last->size, last->size + 5}) {
    files.offset = offset;
    auto none = client.call(files);
    BOOST_REQUIRE(none.ok());
    BOOST_TEST(none->header.count == none->header.total, offset);
  }
  files.name = "00000000000000000001.log.tmp";
  files.offset = 0;
  auto unlisted = client.call(files);
  BOOST_REQUIRE(unlisted.ok());
  BOOST_TEST(unlisted->header.count == unlisted->header.total);

  // Held until the writer's disk holds a seq above `have`, then answered with the new bytes.
  files.name = last->name;
  files.offset = last->size;
  files.have = w.registry->last_sequence();
  files.wait_ms = 8'000;
  files.max_bytes = 1 << 20;
  std::thread later([&] {
    std::this_thread::sleep_for(milliseconds(100));
    (void)w.registry->insert(make_spec("late"), {{"n1", "p"}});
  });
  const auto asked = std::chrono::steady_clock::now();
  auto grown = client.call(files);
  const auto waited = std::chrono::steady_clock::now() - asked;
  later.join();
  BOOST_REQUIRE_MESSAGE(grown.ok(), grown.status().to_string());
  BOOST_TEST(grown->header.head == files.have + 1);
  BOOST_TEST((waited < milliseconds(6'000)));  // the log grew: well before the wait's end
  BOOST_REQUIRE(grown->header.count == grown->header.total + 1);
  const std::string now = read_bytes(dir.file(last->name));
  BOOST_TEST(grown->header.next_offset == now.size());
  BOOST_TEST(plugin::view(grown->payload.back()) == now.substr(last->size));
}

// docs/PROTOCOL.md, "Copying ahead": a standby copies what its writer wrote before the
// writer's disk holds it. A writer that comes back without such records (lost in a crash) is
// followed: the standby cuts them off and copies the new incarnation's records.
BOOST_AUTO_TEST_CASE(records_copied_ahead_and_lost_by_a_restarted_writer_are_cut_off) {
  zmq::context_t ctx;
  TempDir dir;
  TempDir copy;
  TempDir sockets;
  RegistryOptions ro = writer_options(dir.path());
  ro.log.durability = Durability::kGroupCommit;
  // One sync at once, then none for 4 s: the window in which seq 2 is written and not durable
  // (the writer's close waits for that sync).
  ro.log.group_commit_interval = milliseconds(4'000);
  const HubServerOptions so = Writer::server_options(ipc_transport(sockets));
  std::unique_ptr<Standby> standby;
  std::uint64_t durable_size = 0;
  std::string segment;
  {
    Writer a = Writer::open(ctx, ro, so);
    BOOST_REQUIRE(a.registry->insert(make_spec("a1"), {{"n1", "p"}}).ok());
    standby = start_standby(ctx, standby_options(a, copy.path()));
    BOOST_REQUIRE(standby->wait_for(1, kWait).ok());
    for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
      if (entry.path().extension() == ".log") segment = entry.path().filename().string();
    }
    durable_size = records_end(dir.path(), segment);
    std::thread pending([&] {  // written at once, durable only when the writer closes
      (void)a.registry->insert(make_spec("a2"), {{"n1", "p"}});
    });
    BOOST_REQUIRE(
        eventually([&] { return replay::RegistryAccess::written_seq(*a.registry) == 2; }));
    plugin::ReplayClient client(ctx, a.server->replay_endpoint(), "hub", milliseconds(2'000),
                                plugin::wire::kMaxChunkItems);
    plugin::wire::ReplayRequest files;
    files.op = plugin::wire::ReplayOp::kFiles;
    auto durable_only = client.call(files);
    files.ahead = true;
    auto written = client.call(files);
    BOOST_REQUIRE(durable_only.ok());
    BOOST_REQUIRE(written.ok());
    BOOST_TEST(durable_only->header.head == 1u);
    BOOST_TEST(written->header.head == 1u);  // head: durable on the writer's disk, either way
    BOOST_TEST(plugin::wire::decode_log_file(plugin::view(durable_only->payload.back()))->last ==
               1u);
    BOOST_TEST(plugin::wire::decode_log_file(plugin::view(written->payload.back()))->last == 2u);
    // The standby holds seq 2, synced, while the writer's disk does not.
    BOOST_REQUIRE(standby->wait_for(2, kWait).ok());
    BOOST_TEST(replay::RegistryAccess::local_durable_seq(*a.registry) == 1u);
    a.server.reset();  // the standby hears no more of this incarnation
    a.registry.reset();
    pending.join();
  }
  // The crash lost seq 2 on the writer's disk.
  std::filesystem::resize_file(dir.file(segment), durable_size);
  ro.log.group_commit_interval = milliseconds(0);
  Writer b = Writer::open(ctx, ro, so);
  BOOST_REQUIRE(b.registry->last_sequence() == 1u);
  for (const char* id : {"b2", "b3"}) {
    BOOST_REQUIRE(b.registry->insert(make_spec(id), {{"n1", "p"}}).ok());
  }
  BOOST_REQUIRE(eventually([&] {
    return standby->stats().unsynced_cut == 1u && standby->copied_seq() == 3u &&
           log_files(copy.path()) == log_files(dir.path());
  }));
  BOOST_TEST(standby->status().ok(), standby->status().to_string());
  standby->stop();
  check_same_files(dir.path(), copy.path());
  check_replays_to(*b.registry, copy.path());
}

// The same, but the standby restarted too: it cannot tell whether the writer's disk held the
// records it copied, so it refuses to cut them (kConflict) and keeps its copy.
BOOST_AUTO_TEST_CASE(a_restarted_standby_keeps_records_a_restarted_writer_lost) {
  zmq::context_t ctx;
  TempDir dir;
  TempDir copy;
  RegistryOptions ro = writer_options(dir.path());
  std::string segment;
  std::uint64_t one_record = 0;
  {
    Writer a = Writer::open(ctx, ro, Writer::server_options(tcp_transport()));
    BOOST_REQUIRE(a.registry->insert(make_spec("a1"), {{"n1", "p"}}).ok());
    for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
      if (entry.path().extension() == ".log") segment = entry.path().filename().string();
    }
    one_record = records_end(dir.path(), segment);
    BOOST_REQUIRE(a.registry->insert(make_spec("a2"), {{"n1", "p"}}).ok());
    auto standby = start_standby(ctx, standby_options(a, copy.path()));
    BOOST_REQUIRE(standby->wait_for(2, kWait).ok());
  }
  std::filesystem::resize_file(dir.file(segment), one_record);
  Writer b = Writer::open(ctx, ro, Writer::server_options(tcp_transport()));
  BOOST_REQUIRE(b.registry->insert(make_spec("b2"), {{"n1", "p"}}).ok());
  const auto before = log_files(copy.path());
  auto standby = start_standby(ctx, standby_options(b, copy.path()));
  BOOST_TEST(eventually([&] { return !standby->status().ok(); }));
  BOOST_TEST(standby->status().code() == Code::kConflict);
  BOOST_TEST(standby->stats().unsynced_cut == 0u);
  standby->stop();
  BOOST_TEST((log_files(copy.path()) == before));
}

// A standby restarted while its writer is gone knows its copy before any round: what it holds
// and of which log, so that it can be promoted without ever hearing from that writer again.
BOOST_AUTO_TEST_CASE(a_restarted_standby_knows_its_copy_before_it_hears_from_the_writer) {
  zmq::context_t ctx;
  TempDir dir;
  TempDir copy;
  StandbyOptions o;
  std::uint64_t epoch = 0;
  std::uint64_t head = 0;
  {
    Writer w =
        Writer::open(ctx, compacting_options(dir.path()), Writer::server_options(tcp_transport()));
    random_workload(*w.registry, 93, 120);
    o = standby_options(w, copy.path());
    auto standby = start_standby(ctx, o);
    wait_copied(*w.registry, *standby);
    epoch = w.registry->epoch();
    head = w.registry->last_sequence();
  }
  auto standby = start_standby(ctx, o);  // nobody answers at the writer's endpoint now
  const StandbyStats s = standby->stats();
  BOOST_TEST(s.epoch == epoch);
  BOOST_TEST(s.last_term == 1u);
  BOOST_TEST(s.copied_seq == head);
  BOOST_TEST(s.rounds == 0u);
  BOOST_TEST(s.since_answer_ms == -1);
}

BOOST_AUTO_TEST_CASE(synchronous_replication_acknowledges_only_what_a_standby_holds) {
  zmq::context_t ctx;
  TempDir dir;
  TempDir copy;
  RegistryOptions ro = compacting_options(dir.path());
  ro.log.durability = Durability::kSyncEach;
  ro.sync_standbys = 1;
  ro.standby_timeout = milliseconds(1'000);
  Writer w = Writer::open(ctx, ro, Writer::server_options(tcp_transport()));
  auto entry = [](int i) { return make_spec("w" + std::to_string(i)); };
  // No standby yet: refused at once, nothing written.
  auto refused = w.registry->insert(entry(0), {{"n1", "p0"}});
  BOOST_TEST(refused.status().code() == Code::kUnavailable);
  BOOST_TEST(w.registry->last_sequence() == 0u);
  BOOST_TEST(w.registry->stats().writes_refused_no_standby == 1u);

  auto standby = start_standby(ctx, standby_options(w, copy.path()));
  BOOST_REQUIRE(eventually([&] { return w.registry->stats().standbys_in_sync == 1u; }));
  // Every acknowledged write is on the standby's disk when the call returns.
  std::vector<std::thread> writers;
  std::atomic<int> behind{0};
  std::atomic<int> acked{0};
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        auto seq = w.registry->insert(entry(1 + t * 50 + i), {{"n1", "p"}});
        if (!seq.ok()) continue;
        acked.fetch_add(1);
        if (standby->copied_seq() < *seq) behind.fetch_add(1);
      }
    });
  }
  for (auto& t : writers) t.join();
  BOOST_TEST(acked.load() == 200);
  BOOST_TEST(behind.load() == 0);
  BOOST_TEST(w.registry->stats().replicated_seq >= 200u);

  // The standby goes: a write already admitted waits for it and times out (outcome unknown);
  // once the standby is out of sync, writes are refused at once.
  standby->stop();
  InsertOptions quick;
  quick.timeout = milliseconds(200);
  auto waited = w.registry->insert(entry(500), {{"n1", "p"}}, quick);
  BOOST_TEST(waited.status().code() == Code::kTimeout, waited.status().to_string());
  BOOST_REQUIRE(eventually([&] { return w.registry->stats().standbys_in_sync == 0u; }));
  BOOST_TEST(w.registry->insert(entry(501), {{"n1", "p"}}).status().code() == Code::kUnavailable);
  // It comes back and catches up: the waiting write is acknowledged by the log, and writes go on.
  auto back = start_standby(ctx, standby_options(w, copy.path()));
  BOOST_REQUIRE(eventually([&] { return w.registry->stats().standbys_in_sync == 1u; }));
  auto again = w.registry->insert(entry(502), {{"n1", "p"}});
  BOOST_REQUIRE_MESSAGE(again.ok(), again.status().to_string());
  BOOST_TEST(back->copied_seq() >= *again);
  BOOST_TEST(w.registry->entry_exists("w500"));  // the timed-out write took effect
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace procreg
