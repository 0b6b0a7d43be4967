// procreg replica: a replica of a running hub in this process (procreg::Replica), for watching
// a hub's state from another machine and for the demo.
//
// It prints JSON lines: {"event":"caught_up", "applied", "epoch"} once it caught up (bounded by
// --timeout-ms: exit 3 otherwise), {"event":"applied","seq"} whenever the applied sequence
// moved (checked every 50 ms), and on SIGINT/SIGTERM, --until-seq or --seconds it stops, writes
// dump_all of every table to --dump (the same JSON as serve --dump) and prints
// {"event":"stopped", "applied", the replica's counters}. With --stats EP it answers
// `procreg stats --stats EP` with its lag (head - applied), gaps and repairs. With --serve EP it
// is a command channel for thin clients (`procreg call --command EP`): reads answered from its
// state, writes forwarded to the writer. With --http it serves /metrics and /healthz.
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include <zmq.hpp>

#include "procreg/replica.h"
#include "tools/common/files.h"
#include "tools/common/signals.h"
#include "tools/procreg/cli.h"
#include "tools/procreg/commands.h"
#include "tools/procreg/http_endpoint.h"
#include "tools/procreg/json_convert.h"

namespace procreg::cli {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

struct ReplicaCmdOptions {
  HubEndpoints hub;
  std::string node = "replica";
  std::string dump;
  std::string stats = "none";
  std::string serve;
  std::size_t max_connections = 0;
  std::string policy;  // --curve-policy
  HttpFlags http;
  bool insecure = false;
  std::optional<std::uint64_t> until_seq;
  double seconds = 0;
};

Json replica_stats_json(const ReplicaStats& s) {
  return {{"events_applied", s.events_applied},
          {"live_events", s.live_events},
          {"duplicates_dropped", s.duplicates_dropped},
          {"gaps_detected", s.gaps_detected},
          {"events_repaired", s.events_repaired},
          {"snapshots_loaded", s.snapshots_loaded},
          {"resyncs", s.resyncs},
          {"heartbeats", s.heartbeats},
          {"bad_frames", s.bad_frames},
          {"replay_failures", s.replay_failures},
          {"fenced", s.fenced},
          {"histories_diverged", s.histories_diverged},
          {"commands_served", s.commands_served},
          {"command_errors", s.command_errors},
          {"replies_refused", s.replies_refused},
          {"permission_denied", s.permission_denied},
          {"connections_refused", s.connections_refused},
          {"connections_open", s.connections_open},
          {"connections_over_limit", s.connections_over_limit}};
}

int run_replica(ReplicaCmdOptions o) {
  const tools::Signals signals;  // before any thread starts
  o.hub.resolve();
  ReplicaOptions ro = o.hub.replica_options(o.node);
  ro.serve_endpoint = o.serve == "none" ? "" : o.serve;
  ro.max_connections = o.max_connections;
  if (!ro.serve_endpoint.empty()) raise_open_file_limit();
  // Its own endpoints are CURVE servers with the replica's keys, admitting --curve-policy.
  CurveFlags own = o.hub.curve_flags;
  own.policy = o.policy;
  own.insecure = o.insecure;
  own.check_endpoint(ro.serve_endpoint, "--serve");
  own.check_endpoint(o.stats, "--stats");
  if (o.hub.curve.enabled() && (!ro.serve_endpoint.empty() || o.stats != "none")) {
    ro.curve.policy = own.server_options().policy;
  }
  zmq::context_t context;
  auto started = Replica::start(context, ro);
  if (!started.ok()) throw CliError(kExitUsage, "cannot start: " + started.status().to_string());
  std::unique_ptr<Replica> replica = std::move(*started);
  StatsEndpoint stats(context, o.stats, ro.curve);
  const std::unique_ptr<HttpEndpoint> http = o.http.start();
  stats.attach(http.get());
  const auto make_stats = [&]() -> Json {
    const std::uint64_t applied = replica->last_applied();
    const std::uint64_t head = replica->head();
    return {{"hub", ro.hub},
            {"role", "replica"},
            {"node", ro.local_node},
            {"epoch", id_json(replica->epoch())},
            {"last_seq", applied},
            {"head", head},
            {"lag", head - applied},
            {"caught_up", replica->caught_up()},
            {"replica", replica_stats_json(replica->stats())}};
  };
  // Waits `timeout` for a signal, answering stats requests meanwhile; true on SIGINT/SIGTERM.
  const auto pause = [&](milliseconds timeout) {
    if (stats.active()) {
      stats.answer(timeout, make_stats);
      timeout = milliseconds(0);
    }
    return tools::Signals::stops(signals.wait(timeout));
  };

  const auto limit = Clock::now() + o.hub.timeout();
  while (!replica->wait_caught_up(milliseconds(50)).ok()) {
    if (pause(milliseconds(0))) return kExitOk;
    if (Clock::now() >= limit) {
      throw CliError(kExitUnreachable, "hub " + ro.hub + " did not answer within " +
                                           std::to_string(o.hub.timeout_ms) +
                                           " ms (replay service " + ro.replay_endpoint + ")");
    }
  }
  out_line(dump_line({{"event", "caught_up"},
                      {"applied", replica->last_applied()},
                      {"epoch", id_json(replica->epoch())},
                      {"stats", stats.endpoint()},
                      {"serve", replica->serve_endpoint()},
                      {"http", http ? http->url() : std::string()}}));

  const auto deadline = deadline_after(o.seconds);
  std::uint64_t shown = replica->last_applied();
  for (;;) {
    const std::uint64_t applied = replica->last_applied();
    if (applied != shown) {
      out_line(dump_line({{"event", "applied"}, {"seq", applied}}));
      shown = applied;
    }
    if ((o.until_seq && applied >= *o.until_seq) || Clock::now() >= deadline) break;
    if (pause(milliseconds(50))) break;
  }
  replica->stop();  // the state is final from here on
  if (!o.dump.empty()) {
    tools::write_file_atomic(o.dump,
                             dump_line(to_json(replica->registry().dump_all_tables())) + "\n");
  }
  out_line(dump_line({{"event", "stopped"},
                      {"applied", replica->last_applied()},
                      {"epoch", id_json(replica->epoch())},
                      {"stats", replica_stats_json(replica->stats())}}));
  return kExitOk;
}

}  // namespace

void add_replica_command(CLI::App& app, Commands* commands) {
  auto o = std::make_shared<ReplicaCmdOptions>();
  CLI::App* sub = app.add_subcommand("replica", "Keep a replica of a running hub; dump it on exit");
  o->hub.add_options(sub, "hbrc");
  sub->add_option("--node", o->node, "the replica's local node")->capture_default_str();
  sub->add_option("--dump", o->dump, "on exit, write dump_all of every table here (JSON)");
  sub->add_option("--until-seq", o->until_seq, "exit once this seq is applied");
  sub->add_option("--serve", o->serve,
                  "serve thin clients here (procreg call --command EP): reads from this replica, "
                  "writes forwarded to the writer");
  add_max_connections_option(sub, &o->max_connections);
  sub->add_option("--stats", o->stats,
                  "serve this replica's counters and lag here, for `procreg stats` (\"none\": off)")
      ->capture_default_str();
  sub->add_option("--seconds", o->seconds, "exit after this many seconds (0: on a signal)")
      ->check(CLI::NonNegativeNumber);
  o->http.add_options(sub);
  sub->add_option("--curve-policy", o->policy,
                  "CURVE: who may use --serve and --stats (a directory of keys per role)")
      ->envname("PROCREG_CURVE_POLICY");
  sub->add_flag("--insecure", o->insecure,
                "allow plaintext --serve or --stats on a tcp endpoint that is not loopback");
  commands->push_back({sub, [o] { return run_replica(*o); }});
}

}  // namespace procreg::cli
