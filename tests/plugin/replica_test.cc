// Replicas over real sockets: three converge to the writer under a random workload over tcp,
// ipc and inproc, directly and through an XSUB/XPUB proxy; a late joiner converges; a lossy bus
// is repaired from the replay service; a writer restarted on the same log is followed without
// a resync, a new log (epoch) is resynchronised, and so is a writer back on an older copy of its
// log (a shorter history of the same epoch); writes from replicas are read back at once;
// a write with the writer gone times out.
#include <dirent.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <future>
#include <thread>

#include <boost/test/unit_test.hpp>

#include "bus_fixture.h"
#include "lossy_proxy.h"
#include "plugin/zmq_util.h"
#include "procreg/bus_proxy.h"

namespace procreg {
namespace {

using namespace procreg::testing;
using std::chrono::milliseconds;

void three_replicas_converge(const Transport& t, bool through_proxy, bool batched = false) {
  BOOST_TEST_CONTEXT("transport " << t.name << (through_proxy ? " through a proxy" : "")
                                  << (batched ? ", batched writes" : "")) {
    zmq::context_t ctx;
    TempDir dir;
    std::unique_ptr<BusProxy> proxy;
    HubServerOptions so = Writer::server_options(t);
    std::string bus;
    if (through_proxy) {
      auto p = BusProxy::start(ctx);
      BOOST_REQUIRE(p.ok());
      proxy = std::move(*p);
      so.publish_endpoint = proxy->frontend_endpoint();
      so.publish_connect = true;
    }
    Writer w = Writer::open(ctx, writer_options(dir.path()), so);
    bus = through_proxy ? proxy->backend_endpoint() : w.server->publish_endpoint();
    random_workload(*w.registry, 1, 300);  // history before the replicas exist
    std::vector<std::unique_ptr<Replica>> replicas;
    for (int i = 0; i < 3; ++i) {
      replicas.push_back(start_replica(ctx, w.replica_options(bus, "n" + std::to_string(i))));
    }
    random_workload(*w.registry, 2, 2'000, 200, batched);  // live, while they sync
    if (batched) {  // runs of the batches went out as event batches (cut by tables, hooks)
      const HubServerStats st = w.server->stats();
      BOOST_TEST(st.events_published == w.registry->last_sequence());
      BOOST_TEST(st.event_messages_published < st.events_published);
    }
    for (auto& r : replicas) {
      check_converged(*w.registry, *r);
      BOOST_TEST(r->wait_caught_up(kWait).ok());
      BOOST_TEST(r->stats().snapshots_loaded == 1u);
      BOOST_TEST(r->stats().resyncs == 0u);
    }
    // Queries answer from the replica's own projection, local_* by its own node.
    BOOST_TEST((replicas[1]->registry().match_tag("t1") == w.registry->match_tag("t1")));
    auto sorted = [](ChildNodePids list) {  // in table order, which each table picks itself
      std::sort(list.begin(), list.end());
      return list;
    };
    BOOST_TEST((sorted(replicas[1]->registry().process_list(Scope::kGlobal)) ==
                sorted(w.registry->process_list(Scope::kGlobal))));
    for (const auto& [id, entry] : replicas[1]->registry().local_children()) {
      BOOST_TEST(replicas[1]->registry().local_pid(id).has_value());  // n1 is in each row
    }
  }
}

// A replica behind a proxy that drops a fifth of the messages repairs every gap from the
// replay service and converges without a resync. With `batched`, the writes go in batches and
// the writer publishes event batches of up to 8 events (more messages to lose, batches cut
// mid-write).
void replica_on_a_lossy_bus_converges(std::uint32_t seed, bool batched) {
  zmq::context_t ctx;
  TempDir dir;
  LossyProxy lossy(ctx, 0.2, batched ? 11 : 7);
  HubServerOptions so = Writer::server_options(tcp_transport());
  so.publish_endpoint = lossy.frontend();
  so.publish_connect = true;
  if (batched) so.max_events_per_message = 8;
  Writer w = Writer::open(ctx, writer_options(dir.path()), so);
  auto replica = start_replica(ctx, w.replica_options(lossy.backend()));
  BOOST_REQUIRE(replica->wait_caught_up(kWait).ok());
  random_workload(*w.registry, seed, 3'000, 200, batched);
  check_converged(*w.registry, *replica);
  if (batched) {
    BOOST_TEST(w.server->stats().event_messages_published < w.server->stats().events_published);
  }
  BOOST_TEST(lossy.dropped() > 0u);
  BOOST_TEST(replica->stats().gaps_detected > 0u);
  BOOST_TEST(replica->stats().events_repaired > 0u);
  BOOST_TEST(replica->stats().resyncs == 0u);
}

BOOST_AUTO_TEST_SUITE(replica)

BOOST_AUTO_TEST_CASE(three_replicas_converge_over_tcp_ipc_and_inproc) {
  TempDir sockets;
  three_replicas_converge(tcp_transport(), false);
  three_replicas_converge(ipc_transport(sockets), false);
#if !defined(__SANITIZE_THREAD__)
  // Over inproc:// libzmq hands message buffers between threads without a copy, through a
  // pipe ThreadSanitizer cannot see into: every decode would be reported as a race.
  three_replicas_converge(inproc_transport("direct"), false);
#endif
}

BOOST_AUTO_TEST_CASE(three_replicas_converge_through_an_xsub_xpub_proxy) {
  TempDir sockets;
  three_replicas_converge(tcp_transport(), true);
  three_replicas_converge(ipc_transport(sockets), true);
}

BOOST_AUTO_TEST_CASE(three_replicas_converge_on_event_batches_directly_and_through_a_proxy) {
  TempDir sockets;
  three_replicas_converge(tcp_transport(), false, true);
  three_replicas_converge(ipc_transport(sockets), true, true);
}

BOOST_AUTO_TEST_CASE(a_replica_on_a_lossy_bus_repairs_lost_event_batches) {
  replica_on_a_lossy_bus_converges(5, true);
}

BOOST_AUTO_TEST_CASE(a_replica_that_joins_mid_stream_converges) {
  zmq::context_t ctx;
  TempDir dir;
  Writer w = Writer::open(ctx, writer_options(dir.path()), Writer::server_options(tcp_transport()));
  std::thread load([&] { random_workload(*w.registry, 3, 5'000); });
  std::this_thread::sleep_for(milliseconds(50));  // join while the writer is busy
  auto late = start_replica(ctx, w.replica_options(w.server->publish_endpoint()));
  load.join();
  check_converged(*w.registry, *late);
}

BOOST_AUTO_TEST_CASE(a_replica_on_a_lossy_bus_repairs_the_gaps_and_converges) {
  replica_on_a_lossy_bus_converges(4, false);
}

BOOST_AUTO_TEST_CASE(a_replica_follows_a_restarted_writer_and_resyncs_on_a_new_log) {
  zmq::context_t ctx;
  TempDir dir, sockets;
  const Transport t = ipc_transport(sockets);  // stable endpoints across restarts
  const std::string log = dir.file("log");
  auto w =
      std::make_unique<Writer>(Writer::open(ctx, writer_options(log), Writer::server_options(t)));
  auto replica = start_replica(ctx, w->replica_options(w->server->publish_endpoint()));
  random_workload(*w->registry, 5, 500);
  check_converged(*w->registry, *replica);
  const std::uint64_t epoch = replica->epoch();

  // Restarted on the same log: the replica carries on from where it was.
  w.reset();
  w = std::make_unique<Writer>(Writer::open(ctx, writer_options(log), Writer::server_options(t)));
  random_workload(*w->registry, 6, 500);
  check_converged(*w->registry, *replica);
  BOOST_TEST(replica->epoch() == epoch);
  BOOST_TEST(replica->stats().snapshots_loaded == 1u);
  BOOST_TEST(replica->stats().resyncs == 0u);

  // A new log (another epoch): the replica drops its state and takes the new history.
  w.reset();
  std::filesystem::remove_all(log);
  w = std::make_unique<Writer>(Writer::open(ctx, writer_options(log), Writer::server_options(t)));
  random_workload(*w->registry, 7, 300);
  const auto limit = std::chrono::steady_clock::now() + kWait;
  while (replica->epoch() != w->registry->epoch() && std::chrono::steady_clock::now() < limit) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  BOOST_TEST(replica->epoch() == w->registry->epoch());
  check_converged(*w->registry, *replica);
  BOOST_TEST(replica->stats().resyncs >= 1u);
}

// A writer that comes back on an older copy of its log keeps the log's epoch but has lost
// events a replica already applied: the replica must notice (its heartbeats and the replay
// service's head are below the replica's position) and take the writer's history again,
// instead of dropping the writer's new events under those seqs as duplicates.
BOOST_AUTO_TEST_CASE(a_replica_ahead_of_a_writer_back_on_an_older_copy_of_its_log_resyncs) {
  zmq::context_t ctx;
  TempDir dir, sockets;
  const Transport t = ipc_transport(sockets);
  const std::string log = dir.file("log");
  const std::string copy = dir.file("copy");
  auto w =
      std::make_unique<Writer>(Writer::open(ctx, writer_options(log), Writer::server_options(t)));
  auto replica = start_replica(ctx, w->replica_options(w->server->publish_endpoint()));
  random_workload(*w->registry, 11, 300);
  check_converged(*w->registry, *replica);

  w.reset();
  std::filesystem::copy(log, copy, std::filesystem::copy_options::recursive);
  w = std::make_unique<Writer>(Writer::open(ctx, writer_options(log), Writer::server_options(t)));
  const std::uint64_t copied = w->registry->last_sequence();
  random_workload(*w->registry, 12, 300);
  check_converged(*w->registry, *replica);
  const std::uint64_t ahead = replica->last_applied();
  BOOST_REQUIRE(ahead > copied + 100);
  BOOST_TEST(replica->stats().resyncs == 0u);

  // Back on the copy: the same epoch, and another history from seq copied + 1 on.
  w.reset();
  std::filesystem::remove_all(log);
  std::filesystem::rename(copy, log);
  w = std::make_unique<Writer>(Writer::open(ctx, writer_options(log), Writer::server_options(t)));
  BOOST_REQUIRE(w->registry->last_sequence() == copied);
  BOOST_REQUIRE(w->registry->epoch() == replica->epoch());
  random_workload(*w->registry, 13, 50);
  BOOST_REQUIRE(w->registry->last_sequence() < ahead);
  // (wait_for alone would return at once: the replica is past the writer's seq.)
  const auto limit = std::chrono::steady_clock::now() + kWait;
  while (
      (replica->stats().resyncs == 0 || replica->last_applied() != w->registry->last_sequence()) &&
      std::chrono::steady_clock::now() < limit) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  BOOST_TEST(replica->stats().resyncs >= 1u);
  check_converged(*w->registry, *replica);
  // And it follows the writer's new history from there.
  random_workload(*w->registry, 14, 300);
  check_converged(*w->registry, *replica);
}

// A resync replaces the whole state at once: while the replica loads the new log's snapshot,
// readers see the old state, then the new one (and its later events), never a mix or a part.
BOOST_AUTO_TEST_CASE(a_resync_swaps_the_whole_state_at_once_for_readers) {
  zmq::context_t ctx;
  TempDir dir, sockets;
  const Transport t = ipc_transport(sockets);
  const std::string log = dir.file("log");
  constexpr int kBatch = 1'000;
  auto batch = [&](const std::string& prefix, int b) {
    std::vector<Entry> rows;
    for (int i = 0; i < kBatch; ++i) {
      rows.push_back(
          Entry{make_spec(prefix + std::to_string(b * kBatch + i)), {{"n0", "<0.1.0>"}}, {}});
    }
    return rows;
  };
  auto w =
      std::make_unique<Writer>(Writer::open(ctx, writer_options(log), Writer::server_options(t)));
  for (int b = 0; b < 2; ++b) BOOST_REQUIRE(w->registry->bulk_insert(batch("old_", b)).ok());
  auto replica = start_replica(ctx, w->replica_options(w->server->publish_endpoint()));
  check_converged(*w->registry, *replica);

  std::atomic<bool> done{false};
  std::atomic<int> reads{0}, bad{0}, old_reads{0}, new_reads{0};
  std::string first_bad;
  std::thread reader([&] {
    for (int i = 0; i < 1'000'000 && !done.load(); ++i) {
      const ChildNodePids list = replica->registry().process_list(Scope::kGlobal);
      const auto olds = static_cast<std::size_t>(std::count_if(
          list.begin(), list.end(), [](const auto& c) { return c.first.rfind("old_", 0) == 0; }));
      const bool old_state = olds == 2 * kBatch && list.size() == olds;
      const bool new_state = olds == 0 && list.size() % kBatch == 0;
      if (!old_state && !new_state && bad.fetch_add(1) == 0) {
        first_bad = std::to_string(list.size()) + " rows, " + std::to_string(olds) + " old";
      }
      if (old_state) old_reads.fetch_add(1);
      if (new_state && !list.empty()) new_reads.fetch_add(1);
      reads.fetch_add(1);
    }
  });
  // The reader reads the old state before the writer goes, and the new one before it stops:
  // its reads span the swap.
  auto wait_for = [&](const std::atomic<int>& count) {
    const auto until = std::chrono::steady_clock::now() + kWait;
    while (count.load() == 0 && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(milliseconds(1));
    }
  };
  wait_for(old_reads);
  w.reset();
  std::filesystem::remove_all(log);
  w = std::make_unique<Writer>(Writer::open(ctx, writer_options(log), Writer::server_options(t)));
  for (int b = 0; b < 30; ++b) BOOST_REQUIRE(w->registry->bulk_insert(batch("new_", b)).ok());
  const auto limit = std::chrono::steady_clock::now() + kWait;
  while (replica->epoch() != w->registry->epoch() && std::chrono::steady_clock::now() < limit) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  check_converged(*w->registry, *replica);
  wait_for(new_reads);
  done = true;
  reader.join();
  BOOST_TEST_MESSAGE(reads.load() << " reads during the resync (" << old_reads.load()
                                  << " of the old state, " << new_reads.load() << " of the new)");
  BOOST_TEST(bad.load() == 0, "a reader saw a mixed or partial state: " << first_bad);
  BOOST_TEST(old_reads.load() > 0);
  BOOST_TEST(new_reads.load() > 0);
  BOOST_TEST(replica->stats().resyncs >= 1u);
  BOOST_TEST(replica->registry().process_list(Scope::kGlobal).size() == 30u * kBatch);
}

// Writes from several threads of one replica are in flight together (one command socket
// each), so the writer makes them durable together: under group commit a sync covers more
// than one of them. With max_writes_in_flight 1 they go one by one and every sync covers one.
BOOST_AUTO_TEST_CASE(writes_from_threads_of_one_replica_share_the_writers_group_commits) {
  for (const int in_flight : {1, 4}) {
    BOOST_TEST_CONTEXT("max_writes_in_flight " << in_flight) {
      zmq::context_t ctx;
      TempDir dir;
      RegistryOptions wo = writer_options(dir.path());
      wo.log.durability = Durability::kGroupCommit;
      wo.log.group_commit_interval = milliseconds(20);
      Writer w = Writer::open(ctx, wo, Writer::server_options(tcp_transport()));
      ReplicaOptions ro = w.replica_options(w.server->publish_endpoint());
      ro.max_writes_in_flight = in_flight;
      auto r = start_replica(ctx, ro);
      BOOST_REQUIRE(r->wait_caught_up(kWait).ok());
      std::atomic<int> failed{0};
      std::vector<std::thread> threads;
      for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
          for (int i = 0; i < 5; ++i) {
            const std::string id = "t" + std::to_string(t) + "-" + std::to_string(i);
            if (!r->registry().insert(make_spec(id), {{"n1", "<1>"}}).ok()) failed.fetch_add(1);
            if (!r->registry().lookup(id).has_value()) failed.fetch_add(1);  // read-your-writes
          }
        });
      }
      for (auto& t : threads) t.join();
      BOOST_TEST(failed.load() == 0);
      check_converged(*w.registry, *r);
      BOOST_TEST(w.registry->dump_all().size() == 20u);
      const std::uint64_t largest = w.registry->stats().log_largest_sync_group;
      if (in_flight == 1) {
        BOOST_TEST(largest == 1u);
      } else {
        BOOST_TEST(largest > 1u);
      }
    }
  }
}

// With every command socket taken by a write the writer does not answer, a further write
// waits for one within its own timeout, then fails with kTimeout and sends nothing.
BOOST_AUTO_TEST_CASE(a_write_beyond_max_writes_in_flight_times_out_unsent) {
  zmq::context_t ctx;
  TempDir dir;
  Writer w = Writer::open(ctx, writer_options(dir.path()), Writer::server_options(tcp_transport()));
  zmq::socket_t silent(ctx, zmq::socket_type::router);  // takes commands, never answers
  silent.set(zmq::sockopt::linger, 0);
  silent.bind("tcp://127.0.0.1:*");
  ReplicaOptions ro = w.replica_options(w.server->publish_endpoint());
  ro.command_endpoint = silent.get(zmq::sockopt::last_endpoint);
  ro.max_writes_in_flight = 1;
  auto r = start_replica(ctx, ro);
  BOOST_REQUIRE(r->wait_caught_up(kWait).ok());
  InsertOptions slow;
  slow.timeout = milliseconds(3'000);
  auto first = std::async(std::launch::async, [&] {
    return r->registry().insert(make_spec("first"), {{"n1", "<1>"}}, slow);
  });
  // The first command reaches the silent writer: its socket is taken.
  plugin::Frames got;
  auto heard = plugin::recv_until(silent, &got, plugin::RecvLimits{},
                                  std::chrono::steady_clock::now() + kWait);
  BOOST_REQUIRE(heard.ok() && *heard);
  InsertOptions quick;
  quick.timeout = milliseconds(200);
  auto second = r->registry().insert(make_spec("second"), {{"n1", "<2>"}}, quick);
  BOOST_REQUIRE(!second.ok());
  BOOST_TEST(second.status().code() == Code::kTimeout);
  BOOST_TEST(second.status().message().find("busy") != std::string::npos,
             second.status().message());
  BOOST_TEST(second.status().message().find("not sent") != std::string::npos);
  auto first_result = first.get();
  BOOST_TEST(first_result.status().code() == Code::kTimeout);
  // Nothing of the second write reached the writer's socket.
  auto more = plugin::recv_until(silent, &got, plugin::RecvLimits{},
                                 std::chrono::steady_clock::now() + milliseconds(100));
  BOOST_TEST((more.ok() && !*more));
}

BOOST_AUTO_TEST_CASE(a_replica_refuses_max_writes_in_flight_below_one) {
  zmq::context_t ctx;
  ReplicaOptions o;
  o.hub = "hub";
  o.bus_endpoint = "tcp://127.0.0.1:1";
  o.replay_endpoint = "tcp://127.0.0.1:1";
  o.max_writes_in_flight = 0;
  auto r = Replica::start(ctx, o);
  BOOST_REQUIRE(!r.ok());
  BOOST_TEST(r.status().code() == Code::kInvalidArgument);
  BOOST_TEST(r.status().message().find("max_writes_in_flight") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(writes_from_two_replicas_are_read_back_at_once_and_converge) {
  zmq::context_t ctx;
  TempDir dir;
  Writer w = Writer::open(ctx, writer_options(dir.path()), Writer::server_options(tcp_transport()));
  auto a = start_replica(ctx, w.replica_options(w.server->publish_endpoint(), "na"));
  auto b = start_replica(ctx, w.replica_options(w.server->publish_endpoint(), "nb"));
  BOOST_REQUIRE(a->wait_caught_up(kWait).ok());
  BOOST_REQUIRE(b->wait_caught_up(kWait).ok());
  auto writes = [&](Replica& r, const std::string& prefix, int* misses) {
    for (int i = 0; i < 150; ++i) {
      const std::string id = prefix + std::to_string(i % 40);
      auto seq = r.registry().insert(make_spec(id), {{prefix, "<" + std::to_string(i) + ">"}});
      if (!seq.ok() ||
          r.registry().get_pid(id) != std::optional<Pid>("<" + std::to_string(i) + ">")) {
        ++*misses;  // read-your-writes broken
      }
      if (i % 10 == 0) {
        auto up = r.registry().update(
            id, [&](const ChildSpec& s, const NodePids& np, const Metadata& md) {
              Metadata next = md;
              next["by"] = prefix;
              return Entry{s, np, next};
            });
        if (!up.ok()) ++*misses;
      }
      if (i % 25 == 0 && !r.registry().erase("shared").ok()) ++*misses;
    }
  };
  int misses_a = 0, misses_b = 0;
  std::thread ta([&] { writes(*a, "na", &misses_a); });
  std::thread tb([&] { writes(*b, "nb", &misses_b); });
  ta.join();
  tb.join();
  BOOST_TEST(misses_a == 0);
  BOOST_TEST(misses_b == 0);
  check_converged(*w.registry, *a);
  check_converged(*w.registry, *b);
  BOOST_TEST(w.registry->dump_all().size() == 80u);
  // A remote update's function sees the replica's row, and the writer refuses a stale one.
  auto missing = a->registry().update(
      "absent", [](const ChildSpec& s, const NodePids& np, const Metadata& md) {
        return Entry{s, np, md};
      });
  BOOST_TEST(missing.status().code() == Code::kNotFound);
  BOOST_TEST(w.server->stats().commands > 0u);
}

BOOST_AUTO_TEST_CASE(a_batch_written_through_a_replica_is_read_back_at_once_in_order) {
  zmq::context_t ctx;
  TempDir dir;
  Writer w = Writer::open(ctx, writer_options(dir.path()), Writer::server_options(tcp_transport()));
  auto r = start_replica(ctx, w.replica_options(w.server->publish_endpoint()));
  BOOST_REQUIRE(r->wait_caught_up(kWait).ok());
  const std::uint64_t commands_before = w.server->stats().commands;
  WriteBatch batch;
  batch.insert(make_spec("b1"), {{"n1", "<1>"}})
      .insert(make_spec("b2"), {{"n1", "<2>"}})
      .update("b1",
              [](const ChildSpec& s, const NodePids& np, const Metadata& md) {
                Metadata next = md;
                next["seen"] = true;  // it sees b1 from this batch
                return Entry{s, np, next};
              })
      .insert(make_spec(""), {{"n1", "<3>"}})  // invalid: fails alone
      .erase("b2");
  const auto got = r->registry().write(std::move(batch));
  BOOST_REQUIRE_EQUAL(got.size(), 5u);
  for (std::size_t i : {0u, 1u, 2u, 4u}) {
    BOOST_REQUIRE_MESSAGE(got[i].ok(), "write " << i << ": " << got[i].status().to_string());
  }
  BOOST_TEST(*got[1] == *got[0] + 1);
  BOOST_TEST(*got[2] == *got[1] + 1);
  BOOST_TEST(*got[4] == *got[2] + 1);
  BOOST_TEST(got[3].status().code() == Code::kInvalidArgument);
  // Read-your-writes on the replica, and each write went as its own command.
  LookupOptions with_metadata;
  with_metadata.with_metadata = true;
  auto b1 = r->registry().lookup("b1", with_metadata);
  BOOST_REQUIRE(b1.has_value());
  BOOST_TEST(b1->metadata->count("seen") == 1u);
  BOOST_TEST(!r->registry().lookup("b2").has_value());
  BOOST_TEST(r->registry().last_sequence() >= *got[4]);
  BOOST_TEST(w.server->stats().commands - commands_before >= 4u);
  check_converged(*w.registry, *r);
}

BOOST_AUTO_TEST_CASE(a_write_while_the_writer_is_down_times_out_cleanly) {
  zmq::context_t ctx;
  TempDir dir, sockets;
  const Transport t = ipc_transport(sockets);
  auto w = std::make_unique<Writer>(
      Writer::open(ctx, writer_options(dir.path()), Writer::server_options(t)));
  auto replica = start_replica(ctx, w->replica_options(w->server->publish_endpoint()));
  BOOST_REQUIRE(replica->registry().insert(make_spec("a"), {{"n1", "<1>"}}).ok());
  w.reset();  // the writer is gone
  InsertOptions quick;
  quick.timeout = milliseconds(300);
  auto write = replica->registry().insert(make_spec("b"), {{"n1", "<2>"}}, quick);
  BOOST_TEST(write.status().code() == Code::kTimeout, write.status().to_string());
  BOOST_TEST(!replica->registry().entry_exists("b"));
  BOOST_TEST(replica->registry().entry_exists("a"));  // reads go on from local state
  // The writer comes back on the same log: writes work again and nothing was half-applied.
  w = std::make_unique<Writer>(
      Writer::open(ctx, writer_options(dir.path()), Writer::server_options(t)));
  BOOST_TEST(!w->registry->entry_exists("b"));
  auto again = replica->registry().insert(make_spec("c"), {{"n1", "<3>"}});
  BOOST_TEST(again.ok(), again.status().to_string());
  check_converged(*w->registry, *replica);
}

BOOST_AUTO_TEST_CASE(a_write_queued_behind_a_slow_one_keeps_its_own_timeout) {
  zmq::context_t ctx;
  TempDir dir, sockets;
  const Transport t = ipc_transport(sockets);
  auto w = std::make_unique<Writer>(
      Writer::open(ctx, writer_options(dir.path()), Writer::server_options(t)));
  auto replica = start_replica(ctx, w->replica_options(w->server->publish_endpoint()));
  BOOST_REQUIRE(replica->wait_caught_up(kWait).ok());
  w.reset();  // nobody answers: the first write holds the command channel for its 3 s
  std::thread slow([&] {
    InsertOptions o;
    o.timeout = milliseconds(3'000);
    (void)replica->registry().insert(make_spec("slow"), {{"n1", "<1>"}}, o);
  });
  std::this_thread::sleep_for(milliseconds(100));
  InsertOptions quick;
  quick.timeout = milliseconds(200);
  const auto started = std::chrono::steady_clock::now();
  auto queued = replica->registry().insert(make_spec("quick"), {{"n1", "<2>"}}, quick);
  const auto took = std::chrono::steady_clock::now() - started;
  slow.join();
  BOOST_TEST(queued.status().code() == Code::kTimeout, queued.status().to_string());
  BOOST_TEST((took < milliseconds(2'000)));  // its own 200 ms, not the slow write's 3 s
}

BOOST_AUTO_TEST_CASE(a_second_server_on_one_writer_is_refused_and_the_first_keeps_publishing) {
  zmq::context_t ctx;
  TempDir dir;
  Writer w = Writer::open(ctx, writer_options(dir.path()), Writer::server_options(tcp_transport()));
  auto second = HubServer::start(ctx, *w.registry, Writer::server_options(tcp_transport()));
  BOOST_TEST(second.status().code() == Code::kUnavailable, second.status().to_string());
  auto replica = start_replica(ctx, w.replica_options(w.server->publish_endpoint()));
  random_workload(*w.registry, 9, 200);
  check_converged(*w.registry, *replica);
  BOOST_TEST(w.server->stats().events_published == w.registry->last_sequence());
}

BOOST_AUTO_TEST_CASE(node_down_from_a_replica_cleans_the_writers_rows_and_fires_hooks) {
  zmq::context_t ctx;
  TempDir dir;
  Writer w = Writer::open(ctx, writer_options(dir.path()), Writer::server_options(tcp_transport()));
  std::atomic<int> unregistered{0};
  auto sub = w.registry->subscribe(HookTopic::kChildUnregistered,
                                   [&](const HookEvent&) { unregistered.fetch_add(1); });
  BOOST_REQUIRE(w.registry->insert(make_spec("a"), {{"n1", "<1>"}, {"n2", "<2>"}}).ok());
  BOOST_REQUIRE(w.registry->insert(make_spec("b"), {{"n1", "<3>"}}).ok());
  auto replica = start_replica(ctx, w.replica_options(w.server->publish_endpoint()));
  auto seq = replica->registry().node_down("n1");
  BOOST_REQUIRE_MESSAGE(seq.ok(), seq.status().to_string());
  BOOST_TEST((replica->registry().get_pids("a") == std::vector<Pid>{"<2>"}));  // read back at once
  BOOST_TEST(!replica->registry().lookup("b").has_value());
  BOOST_REQUIRE(w.registry->wait_for_hooks(*seq, kWait).ok());
  BOOST_TEST(unregistered.load() == 2);
  check_converged(*w.registry, *replica);
}

BOOST_AUTO_TEST_CASE(a_write_after_the_writer_moved_to_a_new_log_is_read_back_at_once) {
  zmq::context_t ctx;
  TempDir dir, sockets;
  const Transport t = ipc_transport(sockets);
  const std::string log = dir.file("log");
  auto w =
      std::make_unique<Writer>(Writer::open(ctx, writer_options(log), Writer::server_options(t)));
  auto replica = start_replica(ctx, w->replica_options(w->server->publish_endpoint()));
  random_workload(*w->registry, 8, 300);  // log A reaches a seq far above what B will have
  check_converged(*w->registry, *replica);
  w.reset();
  std::filesystem::remove_all(log);
  w = std::make_unique<Writer>(Writer::open(ctx, writer_options(log), Writer::server_options(t)));
  // The write commits as seq 1 of log B: it returns only once the replica holds log B's state.
  auto seq = replica->registry().insert(make_spec("fresh"), {{"n1", "<1>"}});
  BOOST_REQUIRE_MESSAGE(seq.ok(), seq.status().to_string());
  BOOST_TEST(*seq == 1u);
  BOOST_TEST((replica->registry().get_pid("fresh") == std::optional<Pid>("<1>")));
  BOOST_TEST(replica->epoch() == w->registry->epoch());
}

namespace {
std::atomic<int> signals_seen{0};
void count_signal(int) { signals_seen.fetch_add(1); }

// Sends `sig` to every thread of this process (the replica's, the server's, ZeroMQ's).
int signal_every_thread(int sig) {
  int sent = 0;
  DIR* tasks = opendir("/proc/self/task");
  if (tasks == nullptr) return 0;
  while (dirent* e = readdir(tasks)) {
    const int tid = std::atoi(e->d_name);
    if (tid > 0 && syscall(SYS_tgkill, getpid(), tid, sig) == 0) ++sent;
  }
  closedir(tasks);
  return sent;
}
}  // namespace

BOOST_AUTO_TEST_CASE(signals_delivered_to_procreg_threads_do_not_stop_them) {
  struct sigaction action {};
  action.sa_handler = count_signal;  // no SA_RESTART: blocking calls fail with EINTR
  struct sigaction previous {};
  BOOST_REQUIRE(sigaction(SIGUSR1, &action, &previous) == 0);
  {
    zmq::context_t ctx;
    TempDir dir;
    Writer w =
        Writer::open(ctx, writer_options(dir.path()), Writer::server_options(tcp_transport()));
    auto replica = start_replica(ctx, w.replica_options(w.server->publish_endpoint()));
    BOOST_REQUIRE(replica->wait_caught_up(kWait).ok());
    std::atomic<bool> done{false};
    std::atomic<int> remote_failures{0}, remote_writes{0};
    std::thread remote([&] {  // remote writes in flight while the signals arrive
      for (int i = 0; i < 2'000 && !done.load(); ++i) {
        auto seq = replica->registry().insert(make_spec("r" + std::to_string(i % 50)),
                                              {{"n1", "<" + std::to_string(i) + ">"}});
        remote_writes.fetch_add(1);
        if (!seq.ok()) remote_failures.fetch_add(1);
      }
    });
    for (int round = 0; round < 20; ++round) {
      BOOST_TEST(signal_every_thread(SIGUSR1) > 0);
      random_workload(*w.registry, 100 + round, 50);
      std::this_thread::sleep_for(milliseconds(5));
    }
    done = true;
    remote.join();
    BOOST_TEST(remote_writes.load() > 0);
    BOOST_TEST(remote_failures.load() == 0);  // a signal is not a timeout
    check_converged(*w.registry, *replica);
    BOOST_TEST(replica->registry().insert(make_spec("after"), {{"n1", "<1>"}}).ok());  // commands
    BOOST_TEST(signals_seen.load() > 0);
  }
  sigaction(SIGUSR1, &previous, nullptr);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace procreg
