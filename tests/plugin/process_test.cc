// The bus across real processes: the harness programs in process/ (bus_writer, bus_replica,
// bus_hooks) started with fork + exec, killed with SIGKILL or SIGTERM and started again.
//   - a replica process killed with SIGKILL and restarted converges to the writer;
//   - a writer killed with SIGKILL under a steady workload with sync-every-append durability
//     loses no acknowledged write; an in-process Replica follows it across the restart without
//     a resync, and resyncs when the writer comes back on a new log (a new epoch);
//   - hook subscribers in two processes receive every hook event exactly once and in order,
//     one of them stopped with SIGTERM mid-stream and resumed from its stored position.
// Endpoints are ipc files in each test's temporary directory (stable across restarts). Every
// wait is bounded; every process is killed and reaped when its test ends, passed or not.
//
// The suite is disabled in a plain plugin_test run (it needs the harness programs and runs for
// a while); ctest runs it as its own entry, plugin_process (plugin_test --run_test=process).
#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <sstream>

#include <boost/test/unit_test.hpp>
#include <zmq.hpp>

#include "harness/canonical_text.h"
#include "process_util.h"
#include "procreg/client.h"
#include "procreg/registry.h"
#include "procreg/replica.h"

namespace procreg {
namespace {

using namespace procreg::testing;
using harness::canonical_dump;
using std::chrono::milliseconds;
using tools::read_file;
using tools::read_lines;

std::vector<std::string> writer_args(const std::string& log, const Endpoints& ep,
                                     std::vector<std::string> more) {
  std::vector<std::string> args{"--log-dir", log,        "--hub",          "hub",
                                "--publish", ep.publish, "--replay",       ep.replay,
                                "--command", ep.command, "--heartbeat-ms", "100"};
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

std::vector<std::string> replica_args(const Endpoints& ep, const std::string& node,
                                      const std::string& dump, std::vector<std::string> more = {}) {
  std::vector<std::string> args{"--hub",    "hub",     "--bus",     ep.publish,
                                "--replay", ep.replay, "--command", ep.command,
                                "--node",   node,      "--dump",    dump};
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

std::vector<std::string> hooks_args(const Endpoints& ep, const std::string& out,
                                    const std::string& position, std::vector<std::string> more) {
  std::vector<std::string> args{"--hub",   "hub",   "--bus", ep.publish,        "--replay",
                                ep.replay, "--out", out,     "--position-file", position};
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

// One line of bus_writer's --ack-file: "<seq> <child> <op> <node> <pid>".
struct Ack {
  std::uint64_t seq = 0;
  std::string child, op, node, pid;
};

std::vector<Ack> read_acks(const std::string& file) {
  std::vector<Ack> acks;
  for (const auto& line : read_lines(file)) {  // complete lines only
    std::istringstream in(line);
    Ack a;
    if (!(in >> a.seq >> a.child >> a.op >> a.node >> a.pid)) {
      BOOST_FAIL("malformed ack line '" << line << "'");
    }
    acks.push_back(a);
  }
  return acks;
}

// "" if the registry (as of the ack's seq) shows the acknowledged write, else what is wrong.
std::string check_ack(const Registry& at, const Ack& a) {
  LookupOptions lo;
  const auto row = at.lookup(a.child, lo);
  const NodePids np = row ? row->node_pids : NodePids{};
  const NodePid pair{a.node, a.pid};
  bool holds = false;
  if (a.op == "insert" || a.op == "migrate") {
    holds = np == NodePids{pair};
  } else if (a.op == "bulk_insert") {
    holds = std::find(np.begin(), np.end(), pair) != np.end();
  } else if (a.op == "erase") {
    holds = np.empty();
  } else if (a.op == "node_down") {
    holds = std::none_of(np.begin(), np.end(), [&](const NodePid& p) { return p.node == a.node; });
  } else {
    return "unknown op " + a.op;
  }
  if (holds) return "";
  return "seq " + std::to_string(a.seq) + " " + a.op + " of " + a.child + " on " + a.node +
         " not found: the row holds " + harness::node_pids_text(np);
}

ReplicaOptions in_process_replica(const Endpoints& ep) {
  ReplicaOptions o;
  o.hub = "hub";
  o.local_node = "n9";
  o.bus_endpoint = ep.publish;
  o.replay_endpoint = ep.replay;
  o.command_endpoint = ep.command;
  o.request_timeout = milliseconds(1'000);
  return o;
}

BOOST_AUTO_TEST_SUITE(process, *boost::unit_test::disabled())

// Four thin clients keep many inserts in flight each (pipelined on one socket) while the
// writer process is killed with SIGKILL. Every acknowledged write is in the restarted
// writer's state with its acknowledged seq or later; every other write was reported as of
// unknown outcome (kTimeout or kUnavailable), never as a failure that hides a commit.
BOOST_AUTO_TEST_CASE(pipelined_client_writes_survive_a_killed_writer) {
  TempDir dir;
  const Endpoints ep = ipc_endpoints(dir);
  const std::string log = dir.file("log");
  zmq::context_t ctx;
  Proc first("writer-1", kBusWriter, writer_args(log, ep, {"--durability", "group"}), dir);
  wait_until("the writer's endpoints", [&] { return !first.last_line("endpoints ").empty(); },
             {&first});
  constexpr int kClients = 4;
  struct Outcome {
    std::mutex mu;
    std::map<std::string, std::uint64_t> acked;  // child id -> acknowledged seq
    std::map<std::string, Status> unknown;
  } outcome;
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int c = 0; c < kClients; ++c) {
    threads.emplace_back([&, c] {
      ClientOptions co;
      co.endpoint = ep.command;
      co.hub = "hub";
      co.max_in_flight = 256;
      auto client = Client::connect(ctx, co);
      if (!client.ok()) return;
      for (int round = 0; round < 10'000 && !stop.load(); ++round) {
        WriteBatch batch;
        std::vector<std::string> ids;
        InsertOptions io;
        io.timeout = milliseconds(1'500);
        for (int i = 0; i < 64; ++i) {
          ids.push_back("k" + std::to_string(c) + "-" + std::to_string(round * 64 + i));
          batch.insert(make_spec(ids.back()), {{"n1", "<" + ids.back() + ">"}}, io);
        }
        const auto results = (*client)->submit(std::move(batch)).get();
        std::lock_guard l(outcome.mu);
        for (std::size_t i = 0; i < ids.size(); ++i) {
          if (results[i].ok()) {
            outcome.acked[ids[i]] = results[i]->seq;
          } else {
            outcome.unknown[ids[i]] = results[i].status();
          }
        }
      }
    });
  }
  auto acked = [&] {
    std::lock_guard l(outcome.mu);
    return outcome.acked.size();
  };
  wait_until("2000 acknowledged writes", [&] { return acked() >= 2'000; }, {&first});
  BOOST_REQUIRE(kill_hard(first));
  // Writes still in flight, or sent later, get no answer: they time out.
  wait_until("writes after the kill reported unknown",
             [&] {
               std::lock_guard l(outcome.mu);
               return outcome.unknown.size() >= 64;
             },
             {});
  stop = true;
  for (auto& t : threads) t.join();

  Proc second("writer-2", kBusWriter, writer_args(log, ep, {"--durability", "group"}), dir);
  wait_until("the restarted writer", [&] { return !second.last_line("endpoints ").empty(); },
             {&second});
  ClientOptions co;
  co.endpoint = ep.command;
  co.hub = "hub";
  auto reader = Client::connect(ctx, co);
  BOOST_REQUIRE(reader.ok());
  RemoteReadOptions ro;
  ro.timeout = kProcessWait;
  auto state = (*reader)->dump_all(ro);
  BOOST_REQUIRE_MESSAGE(state.ok(), state.status().to_string());
  std::size_t lost = 0, wrong_error = 0, unknown_present = 0;
  for (const auto& [id, seq] : outcome.acked) {
    auto it = state->value.find(id);
    const bool present = it != state->value.end() && it->second.node_pids.size() == 1 &&
                         it->second.node_pids[0].pid == "<" + id + ">";
    if ((!present || seq > state->seq) && ++lost <= 5) {
      BOOST_ERROR("acknowledged write " << id << " (seq " << seq << ") lost");
    }
  }
  for (const auto& [id, status] : outcome.unknown) {
    if (status.code() != Code::kTimeout && status.code() != Code::kUnavailable &&
        ++wrong_error <= 5) {
      BOOST_ERROR(id << " failed with " << status.to_string() << ", not an unknown outcome");
    }
    unknown_present += state->value.count(id);
  }
  BOOST_TEST(lost == 0u);
  BOOST_TEST(wrong_error == 0u);
  BOOST_TEST(state->value.size() == outcome.acked.size() + unknown_present);
  BOOST_TEST_MESSAGE(outcome.acked.size()
                     << " acknowledged, " << outcome.unknown.size() << " unknown ("
                     << unknown_present << " of them committed)");
  stop_cleanly(second);
}

BOOST_AUTO_TEST_CASE(a_replica_process_killed_and_restarted_converges) {
  TempDir dir;
  const Endpoints ep = ipc_endpoints(dir);
  Proc writer("writer", kBusWriter,
              writer_args(dir.file("log"), ep,
                          {"--durability", "none", "--workload", "30", "--rounds", "0", "--pace-ms",
                           "2", "--dump", dir.file("writer.dump")}),
              dir);
  wait_until("the writer's endpoints", [&] { return !writer.last_line("endpoints ").empty(); },
             {&writer});

  Proc replica("replica", kBusReplica, replica_args(ep, "r1", dir.file("replica.dump")), dir);
  wait_until("the replica to catch up", [&] { return !replica.last_line("caught_up ").empty(); },
             {&writer, &replica});
  const std::uint64_t caught_up = replica.last_field("caught_up ", "applied");
  wait_until("the replica to follow live events",
             [&] { return replica.last_number("applied ") >= caught_up + 40; },
             {&writer, &replica});
  const std::uint64_t killed_at = replica.last_number("applied ");
  BOOST_REQUIRE(kill_hard(replica));
  BOOST_TEST_MESSAGE("replica killed at applied " << killed_at);

  // The same replica again (same node, same dump file), writing through itself meanwhile.
  Proc again("replica-restarted", kBusReplica,
             replica_args(ep, "r1", dir.file("replica.dump"), {"--writes", "10"}), dir);
  wait_until("the restarted replica's remote writes",
             [&] { return !again.last_line("writes done").empty(); }, {&writer, &again});
  const std::uint64_t remote_last = again.last_field("writes done", "last_seq");
  const std::size_t rounds = writer.count_lines("round ");
  wait_until("another round of the workload", [&] { return writer.count_lines("round ") > rounds; },
             {&writer, &again});

  writer.process().signal(SIGUSR1);  // end the workload, keep serving
  wait_until("the end of the workload", [&] { return !writer.last_line("workload done").empty(); },
             {&writer, &again});
  const std::uint64_t last = std::max(writer.last_field("workload done", "last_seq"), remote_last);
  BOOST_TEST(last > killed_at);
  wait_until("the restarted replica to apply " + std::to_string(last),
             [&] { return again.last_number("applied ") >= last; }, {&writer, &again});

  stop_cleanly(again);
  stop_cleanly(writer);
  BOOST_TEST(writer.last_field("stopped ", "last_seq") == last);
  const std::string expected = read_file(dir.file("writer.dump"));
  BOOST_REQUIRE(!expected.empty());
  BOOST_TEST(read_file(dir.file("replica.dump")) == expected);
  BOOST_TEST(again.last_field("stopped ", "snapshots") == 1u);
  BOOST_TEST(again.last_field("stopped ", "resyncs") == 0u);
}

BOOST_AUTO_TEST_CASE(a_writer_killed_under_load_keeps_every_acknowledged_write) {
  TempDir dir;
  const Endpoints ep = ipc_endpoints(dir);
  const std::string log = dir.file("log");
  const std::string acks_file = dir.file("acks");
  zmq::context_t ctx;

  // 1. A steady workload, every append synced; each acknowledged write is in the ack file.
  Proc first("writer-1", kBusWriter,
             writer_args(log, ep,
                         {"--durability", "sync", "--workload", "30", "--rounds", "0", "--pace-ms",
                          "1", "--ack-file", acks_file}),
             dir);
  wait_until("the writer's endpoints", [&] { return !first.last_line("endpoints ").empty(); },
             {&first});
  const std::uint64_t epoch = first.last_field("opened ", "epoch");
  auto started = Replica::start(ctx, in_process_replica(ep));
  BOOST_REQUIRE_MESSAGE(started.ok(), started.status().to_string());
  std::unique_ptr<Replica> replica = std::move(*started);
  BOOST_REQUIRE(replica->wait_caught_up(kProcessWait).ok());
  wait_until("200 acknowledged writes", [&] { return read_lines(acks_file).size() >= 200; },
             {&first});
  BOOST_REQUIRE(kill_hard(first));

  // 2. Every acknowledged write is in the log: the log holds its seq, and the registry as of
  // that seq shows it.
  const std::vector<Ack> acks = read_acks(acks_file);
  BOOST_REQUIRE(acks.size() >= 200u);
  std::uint64_t max_ack = 0;
  for (const auto& a : acks) max_ack = std::max(max_ack, a.seq);
  std::uint64_t recovered = 0;
  {
    auto whole = Registry::open_replay({log, "n0", 0});
    BOOST_REQUIRE_MESSAGE(whole.ok(), whole.status().to_string());
    recovered = (*whole)->last_sequence();
    BOOST_TEST(recovered >= max_ack);
    std::map<std::uint64_t, std::vector<const Ack*>> by_seq;
    for (const auto& a : acks) by_seq[a.seq].push_back(&a);
    std::size_t missing = 0;
    for (const auto& [seq, list] : by_seq) {
      auto at = Registry::open_replay({log, "n0", seq});
      BOOST_REQUIRE_MESSAGE(at.ok(), at.status().to_string());
      BOOST_REQUIRE((*at)->last_sequence() == seq);
      for (const Ack* a : list) {
        const std::string wrong = check_ack(**at, *a);
        if (!wrong.empty() && ++missing <= 5) BOOST_ERROR(wrong);
      }
    }
    BOOST_TEST(missing == 0u);
    BOOST_TEST_MESSAGE(acks.size() << " acknowledged writes checked in " << by_seq.size()
                                   << " events; the log holds " << recovered);
  }

  // 3. Restarted on the same log: the replica carries on without a resync and converges.
  Proc second("writer-2", kBusWriter,
              writer_args(log, ep,
                          {"--durability", "sync", "--workload", "30", "--rounds", "2", "--dump",
                           dir.file("writer-2.dump")}),
              dir);
  wait_until("the restarted writer's workload",
             [&] { return !second.last_line("workload done").empty(); }, {&second});
  BOOST_TEST(second.last_field("opened ", "last_seq") == recovered);
  BOOST_TEST(second.last_field("opened ", "epoch") == epoch);
  const std::uint64_t last = second.last_field("workload done", "last_seq");
  BOOST_REQUIRE_MESSAGE(replica->wait_for(last, kProcessWait).ok(),
                        "replica at " << replica->last_applied() << ", writer at " << last);
  stop_cleanly(second);  // its dump: the final state (nothing writes after the workload)
  BOOST_TEST(replica->last_applied() == last);
  BOOST_TEST(replica->epoch() == epoch);
  BOOST_TEST(replica->stats().resyncs == 0u);
  BOOST_TEST(replica->stats().snapshots_loaded == 1u);
  BOOST_TEST(canonical_dump(replica->registry().dump_all_tables()) ==
             read_file(dir.file("writer-2.dump")));

  // 4. A writer on a new log (a new epoch) behind the same endpoints: the replica resyncs.
  Proc third("writer-3", kBusWriter,
             writer_args(dir.file("log-new"), ep,
                         {"--durability", "sync", "--workload", "20", "--rounds", "1", "--dump",
                          dir.file("writer-3.dump")}),
             dir);
  wait_until("the new log's workload", [&] { return !third.last_line("workload done").empty(); },
             {&third});
  const std::uint64_t new_epoch = third.last_field("opened ", "epoch");
  const std::uint64_t new_last = third.last_field("workload done", "last_seq");
  BOOST_REQUIRE(new_epoch != epoch);
  wait_until("the replica to follow the new log",
             [&] { return replica->epoch() == new_epoch && replica->last_applied() >= new_last; },
             {&third});
  stop_cleanly(third);
  BOOST_TEST(replica->last_applied() == new_last);
  BOOST_TEST(replica->stats().resyncs >= 1u);
  BOOST_TEST_MESSAGE("in-process replica: "
                     << replica->stats().snapshots_loaded << " snapshots, "
                     << replica->stats().resyncs << " resyncs, " << replica->stats().gaps_detected
                     << " gaps, " << replica->stats().replay_failures << " failed replay requests");
  BOOST_TEST(canonical_dump(replica->registry().dump_all_tables()) ==
             read_file(dir.file("writer-3.dump")));
}

BOOST_AUTO_TEST_CASE(hook_subscribers_in_two_processes_get_every_hook_event_once_in_order) {
  TempDir dir;
  const Endpoints ep = ipc_endpoints(dir);
  Proc writer("writer", kBusWriter,
              writer_args(dir.file("log"), ep,
                          {"--durability", "none", "--workload", "30", "--rounds", "0", "--pace-ms",
                           "2", "--hooks-out", dir.file("writer.hooks")}),
              dir);
  wait_until("the writer's endpoints", [&] { return !writer.last_line("endpoints ").empty(); },
             {&writer});
  Proc steady(
      "hooks-1", kBusHooks,
      hooks_args(ep, dir.file("hooks-1.events"), dir.file("hooks-1.pos"), {"--from-seq", "0"}),
      dir);
  Proc interrupted(
      "hooks-2", kBusHooks,
      hooks_args(ep, dir.file("hooks-2.events"), dir.file("hooks-2.pos"), {"--from-seq", "0"}),
      dir);

  // Stop the second subscriber mid-stream (the writer never stops writing before SIGUSR1).
  wait_until("80 hook events at the second subscriber",
             [&] { return read_lines(dir.file("hooks-2.events")).size() >= 80; },
             {&writer, &steady, &interrupted});
  stop_cleanly(interrupted);
  const std::size_t before_restart = read_lines(dir.file("hooks-2.events")).size();
  std::istringstream stored(read_file(dir.file("hooks-2.pos")));
  std::uint64_t epoch = 0, seq = 0, partial = 0;
  BOOST_REQUIRE(stored >> epoch >> seq >> partial);
  BOOST_TEST(epoch == writer.last_field("opened ", "epoch"));
  BOOST_TEST_MESSAGE("subscriber stopped after " << before_restart << " hook events at position "
                                                 << seq << " (+" << partial << ")");

  Proc resumed("hooks-2-resumed", kBusHooks,
               hooks_args(ep, dir.file("hooks-2.events"), dir.file("hooks-2.pos"),
                          {"--from-epoch", std::to_string(epoch), "--from-seq", std::to_string(seq),
                           "--from-partial", std::to_string(partial)}),
               dir);
  wait_until("the resumed subscriber to follow live events",
             [&] { return resumed.last_number("position ") >= seq + 40; },
             {&writer, &steady, &resumed});

  writer.process().signal(SIGUSR1);  // end the workload, keep serving
  wait_until("the end of the workload", [&] { return !writer.last_line("workload done").empty(); },
             {&writer, &steady, &resumed});
  const std::uint64_t last = writer.last_field("workload done", "last_seq");
  for (Proc* p : {&steady, &resumed}) {
    wait_until(p->name() + " to reach " + std::to_string(last),
               [&] { return p->last_number("position ") >= last; }, {&writer, &steady, &resumed});
  }
  stop_cleanly(steady);
  stop_cleanly(resumed);
  stop_cleanly(writer);  // its hook stream is complete once it stopped

  const auto expected = read_lines(dir.file("writer.hooks"));
  BOOST_REQUIRE(!expected.empty());
  BOOST_TEST(expected.size() == writer.last_field("hooks ", "count"));
  BOOST_TEST((read_lines(dir.file("hooks-1.events")) == expected));
  BOOST_TEST((read_lines(dir.file("hooks-2.events")) == expected));
  // What the stopped subscriber had written is exactly what its stored position says.
  std::size_t covered = 0;
  for (const auto& line : expected) {
    const std::uint64_t s = std::stoull(line.substr(0, line.find(' ')));
    if (s <= seq) ++covered;
  }
  BOOST_TEST(before_restart == covered + partial);
  BOOST_TEST(before_restart < expected.size());
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace procreg
