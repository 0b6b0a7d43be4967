// The bus and the log's lifecycle: the replay service serves a writer's snapshot file (no lock
// on the projection), and history that compaction removed is an explicit "compacted" answer:
// to a raw range request, to a replica (which resynchronises from a snapshot) and to a hook
// subscriber (which stops and says so instead of skipping hook events).
#include <thread>

#include <boost/test/unit_test.hpp>

#include "bus_fixture.h"
#include "log/log_format.h"
#include "plugin/replay_client.h"
#include "plugin/wire.h"
#include "plugin/zmq_util.h"
#include "procreg/hook_subscriber.h"
#include "replay/log_test_util.h"

namespace procreg {
namespace {

using namespace procreg::testing;
using std::chrono::milliseconds;

BOOST_AUTO_TEST_SUITE(snapshot_serving)

BOOST_AUTO_TEST_CASE(a_new_replica_starts_from_the_snapshot_file_and_the_log_after_it) {
  zmq::context_t ctx;
  TempDir dir;
  Writer w =
      Writer::open(ctx, compacting_options(dir.path()), Writer::server_options(tcp_transport()));
  random_workload(*w.registry, 31, 1'500);
  auto snap = w.registry->snapshot();
  BOOST_REQUIRE_MESSAGE(snap.ok(), snap.status().to_string());
  random_workload(*w.registry, 32, 300);  // after the snapshot: fetched as a range
  auto replica = start_replica(ctx, w.replica_options(w.server->publish_endpoint()));
  check_converged(*w.registry, *replica);
  // (At least: on a loaded machine a timed-out request is retried, and an idle file expires.)
  BOOST_TEST(w.server->stats().snapshot_files_served >= 1u);
  BOOST_TEST(replica->stats().snapshots_loaded >= 1u);
  auto second = start_replica(ctx, w.replica_options(w.server->publish_endpoint()));
  check_converged(*w.registry, *second);
  BOOST_TEST(second->stats().snapshots_loaded >= 1u);
}

BOOST_AUTO_TEST_CASE(a_damaged_snapshot_file_is_refused_and_counted_and_the_projection_served) {
  zmq::context_t ctx;
  TempDir dir;
  RegistryOptions o = writer_options(dir.path());
  o.snapshots.every_bytes = 0;  // only the snapshot below
  Writer w = Writer::open(ctx, o, Writer::server_options(tcp_transport()));
  random_workload(*w.registry, 41, 1'500);
  auto snap = w.registry->snapshot();
  BOOST_REQUIRE_MESSAGE(snap.ok(), snap.status().to_string());
  // One byte changed inside the rows: the file's sizes and framing still look right.
  const std::string path = dir.path() + "/" + snap->file;
  std::string bytes = replay::testing::read_bytes(path);
  BOOST_REQUIRE_GT(bytes.size(), 200u);
  bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x5A);
  replay::testing::write_bytes(path, bytes);
  random_workload(*w.registry, 42, 100);

  auto replica = start_replica(ctx, w.replica_options(w.server->publish_endpoint()));
  check_converged(*w.registry, *replica);
  const HubServerStats s = w.server->stats();
  BOOST_TEST(s.snapshot_files_refused >= 1u);
  BOOST_TEST(s.snapshot_files_served == 0u);
  BOOST_TEST(s.snapshots_served >= 1u);  // captured from the projection instead
}

// A service (forged here: a bare ROUTER) that ends a snapshot before the rows its header
// announced: the client refuses the fetch as corruption instead of handing over a part.
BOOST_AUTO_TEST_CASE(a_snapshot_that_ends_before_its_total_is_refused) {
  zmq::context_t ctx;
  zmq::socket_t router(ctx, zmq::socket_type::router);
  router.set(zmq::sockopt::linger, 0);
  router.set(zmq::sockopt::rcvtimeo, 5'000);
  router.bind("tcp://127.0.0.1:*");
  const std::string endpoint = router.get(zmq::sockopt::last_endpoint);
  std::string served;  // what the forged service did, for the checks below
  std::thread service([&] {
    plugin::Frames request;
    auto got = plugin::recv_until(router, &request, plugin::RecvLimits{},
                                  std::chrono::steady_clock::now() + std::chrono::seconds(5));
    if (!got.ok() || !*got || request.size() != 2) return;
    auto req = plugin::wire::decode_replay_request(plugin::view(request[1]));
    if (!req.ok()) return;
    plugin::wire::ReplayReplyHeader h;
    h.id = req->id;
    h.epoch = 1;
    h.head = h.last = 10;
    h.snapshot_id = 7;
    h.total = 1'000;  // announced; then 2 rows and the end
    h.count = 2;
    h.next_offset = 2;
    h.end = true;
    std::string head, row;
    plugin::wire::encode(h, &head);
    plugin::wire::SnapshotRow r;
    r.table = "default";
    r.row.entry = Entry{make_spec("c1"), {{"n0", "<0.1.0>"}}, {}};
    plugin::wire::encode(r, &row);
    plugin::Frames reply;
    reply.emplace_back(request[0].data(), request[0].size());
    reply.emplace_back(head.data(), head.size());
    reply.emplace_back(row.data(), row.size());
    reply.emplace_back(row.data(), row.size());
    if (plugin::send_message(router, reply).ok()) served = "short snapshot";
  });
  plugin::ReplayClient client(ctx, endpoint, "hub", milliseconds(5'000), 64);
  int rows = 0;
  auto fetched = client.fetch_snapshot(
      [&](std::string_view) {
        ++rows;
        return Status();
      },
      nullptr);
  service.join();
  BOOST_REQUIRE(served == "short snapshot");
  BOOST_REQUIRE(!fetched.ok());
  BOOST_TEST(fetched.status().code() == Code::kCorruption);
  BOOST_TEST(fetched.status().message().find("row 2 of 1000") != std::string::npos,
             fetched.status().message());
  BOOST_TEST(rows == 0);  // refused before any row was handed over
}

// A snapshot captured from the projection shares the rows' bytes with it: rows that the writer
// then removes, replaces or clears must still be served as they were at the capture, in every
// later chunk (under ASan, a body freed too early is also a reported use after free).
BOOST_AUTO_TEST_CASE(a_captured_snapshot_is_served_as_captured_while_the_writer_changes_its_rows) {
  zmq::context_t ctx;
  TempDir dir;
  RegistryOptions o = writer_options(dir.path());
  o.snapshots.every_bytes = 0;  // no snapshot file: the service captures the projection
  o.snapshots.every_events = 0;
  Writer w = Writer::open(ctx, o, Writer::server_options(tcp_transport()));
  InsertOptions other;
  other.table = "other";
  for (int i = 0; i < 300; ++i) {
    InsertOptions io = i % 3 == 0 ? other : InsertOptions{};
    io.metadata = {{"tag", "t" + std::to_string(i % 7)}, {"i", i}};
    BOOST_REQUIRE(w.registry
                      ->insert(make_spec("c" + std::to_string(i)),
                               {{"n" + std::to_string(i % 4), "<0." + std::to_string(i) + ".0>"}},
                               io)
                      .ok());
  }
  const auto expected = w.registry->dump_all_tables();
  const std::uint64_t captured_at = w.registry->last_sequence();

  plugin::ReplayClient client(ctx, w.server->replay_endpoint(), w.registry->hub(),
                              milliseconds(5'000), 16);  // 19 chunks of 16 rows
  std::map<std::string, Dump> served;
  int rows = 0;
  Status changed;
  auto header = client.fetch_snapshot([&](std::string_view bytes) {
    auto row = plugin::wire::decode_snapshot_row(bytes);
    if (!row.ok()) return row.status();
    served[row->table].emplace(row->row.entry.spec.id, row->row.entry);
    if (++rows == 1) {
      // The capture is done (its first chunk arrived): now change every row it holds.
      for (int i = 0; i < 300 && changed.ok(); i += 2) {
        auto r = w.registry->erase("c" + std::to_string(i),
                                   i % 3 == 0 ? WriteOptions{.table = "other"} : WriteOptions{});
        if (!r.ok()) changed = r.status();
      }
      for (int i = 1; i < 300 && changed.ok(); i += 2) {
        InsertOptions io = i % 3 == 0 ? other : InsertOptions{};
        io.metadata = {{"tag", "changed"}};
        auto r = w.registry->insert(make_spec("c" + std::to_string(i)), {{"n9", "<9.9.9>"}}, io);
        if (!r.ok()) changed = r.status();
      }
      if (changed.ok()) {
        auto cleared = w.registry->clear_all();
        if (!cleared.ok()) changed = cleared.status();
      }
    }
    return Status();
  });
  BOOST_REQUIRE_MESSAGE(header.ok(), header.status().to_string());
  BOOST_REQUIRE_MESSAGE(changed.ok(), changed.to_string());
  BOOST_TEST(header->last == captured_at);
  BOOST_TEST(w.registry->last_sequence() > captured_at);  // the writer did change the rows
  BOOST_TEST(rows == 300);
  BOOST_TEST((served == expected));
  BOOST_TEST(w.server->stats().snapshots_served == 1u);
}

BOOST_AUTO_TEST_CASE(a_range_that_was_compacted_away_is_answered_compacted) {
  zmq::context_t ctx;
  TempDir dir;
  Writer w =
      Writer::open(ctx, compacting_options(dir.path()), Writer::server_options(tcp_transport()));
  random_workload(*w.registry, 33, 1'000);
  BOOST_REQUIRE(w.registry->snapshot().ok());
  BOOST_REQUIRE(w.registry->stats().segments_compacted > 0u);
  plugin::ReplayClient client(ctx, w.server->replay_endpoint(), w.registry->hub(),
                              milliseconds(2'000), 64);
  plugin::wire::ReplayRequest req;
  req.op = plugin::wire::ReplayOp::kRange;
  req.from = 1;
  auto reply = client.call(req);
  BOOST_REQUIRE(!reply.ok());
  BOOST_TEST(reply.status().code() == Code::kCompacted);
  // What is gone, by seq, and what to do; not where the writer keeps its log.
  auto segments = replay::list_segments(dir.path());
  BOOST_REQUIRE(segments.ok() && !segments->empty());
  const std::uint64_t first = segments->front().first_seq;
  const std::string message = reply.status().message();
  BOOST_TEST_MESSAGE(message);
  BOOST_TEST(message == "compacted: the writer's log no longer holds seqs 1 to " +
                            std::to_string(first - 1) + " (it starts at seq " +
                            std::to_string(first) +
                            "), and seq 1 was asked for: start again from a snapshot (op "
                            "snapshot), or ask from seq " +
                            std::to_string(first) + " on");
  BOOST_TEST(message.find(dir.path()) == std::string::npos);
  // The service goes on serving what it holds.
  req.from = w.registry->last_sequence();
  auto kept = client.call(req);
  BOOST_REQUIRE_MESSAGE(kept.ok(), kept.status().to_string());
  BOOST_TEST(kept->header.count == 1u);
}

BOOST_AUTO_TEST_CASE(a_hook_subscriber_behind_the_compacted_history_stops_and_says_so) {
  zmq::context_t ctx;
  TempDir dir;
  Writer w =
      Writer::open(ctx, compacting_options(dir.path()), Writer::server_options(tcp_transport()));
  random_workload(*w.registry, 34, 1'000);
  BOOST_REQUIRE(w.registry->snapshot().ok());
  std::atomic<int> delivered{0};
  HookSubscriberOptions o;
  o.hub = w.registry->hub();
  o.bus_endpoint = w.server->publish_endpoint();
  o.replay_endpoint = w.server->replay_endpoint();
  o.request_timeout = milliseconds(1'000);
  o.from_seq = 5;  // a stored position the log no longer holds the events after
  o.from_epoch = w.registry->epoch();
  auto count = [&](const HookEvent&) { delivered.fetch_add(1); };
  auto s = HookSubscriber::start(
      ctx, o, {{HookTopic::kChildRegistered, count, 0}, {HookTopic::kChildUnregistered, count, 0}});
  BOOST_REQUIRE(s.ok());
  const Status waited = (*s)->wait_position(w.registry->last_sequence(), kWait);
  BOOST_TEST(waited.code() == Code::kCompacted, waited.to_string());
  BOOST_TEST((*s)->status().code() == Code::kCompacted);
  BOOST_TEST((*s)->status().message().find("after seq 5") != std::string::npos);
  BOOST_TEST(delivered.load() == 0);
  BOOST_TEST((*s)->position().seq == 5u);
}

BOOST_AUTO_TEST_CASE(a_replica_whose_repair_range_was_compacted_resynchronises) {
  zmq::context_t ctx;
  TempDir dir;
  Writer w = Writer::open(ctx, compacting_options(dir.path()),
                          Writer::server_options(tcp_transport(), milliseconds(50)));
  random_workload(*w.registry, 35, 200);
  auto replica = start_replica(ctx, w.replica_options(w.server->publish_endpoint()));
  check_converged(*w.registry, *replica);
  // The replica stops hearing the bus (its subscription is cut by stopping the server), the
  // writer goes on, snapshots and compacts; the server comes back on the same endpoints.
  const HubServerOptions so = Writer::server_options(tcp_transport(), milliseconds(50));
  HubServerOptions same = so;
  same.publish_endpoint = w.server->publish_endpoint();
  same.replay_endpoint = w.server->replay_endpoint();
  same.command_endpoint = w.server->command_endpoint();
  w.server.reset();
  random_workload(*w.registry, 36, 1'500);
  BOOST_REQUIRE(w.registry->snapshot().ok());
  BOOST_REQUIRE(w.registry->stats().segments_compacted > 0u);
  auto restarted = HubServer::start(ctx, *w.registry, same);
  BOOST_REQUIRE_MESSAGE(restarted.ok(), restarted.status().to_string());
  w.server = std::move(*restarted);
  check_converged(*w.registry, *replica);
  BOOST_TEST(replica->stats().snapshots_loaded >= 2u);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace procreg
