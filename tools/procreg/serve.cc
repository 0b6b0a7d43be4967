// procreg serve: a hub's writer on a bus (procreg bus, the proxy alone: bus_cmd.cc).
//
// serve opens (or creates) the hub's log as its writer (Registry::open), attaches a HubServer
// (publisher, replay service, command channel) and serves until SIGINT or SIGTERM. The bus is
// its own BusProxy by default (publishers connect to its frontend, subscribers to its backend);
// --connect attaches to an existing proxy's frontend instead, --bind binds the PUB socket itself.
// It also answers stats requests (stats.cc) on a ROUTER socket: any one-frame request gets one
// frame of JSON, the writer's and the server's counters.
//
// Once ready it prints one JSON line {"event":"ready", endpoints...} and, with
// --endpoints-file, writes the endpoints as a JSON object for the clients' --endpoints. On a
// stop signal it stops the server, writes --dump, closes the log (synced) and prints
// {"event":"stopped", ...}.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include <zmq.hpp>

#include "plugin/zmq_util.h"
#include "procreg/bus_proxy.h"
#include "procreg/hub_server.h"
#include "procreg/registry.h"
#include "tools/common/files.h"
#include "tools/common/signals.h"
#include "tools/procreg/cli.h"
#include "tools/procreg/commands.h"
#include "tools/procreg/election_cmd.h"
#include "tools/procreg/http_endpoint.h"
#include "tools/procreg/json_convert.h"
#include "tools/procreg/metrics.h"
#include "tools/procreg/standby_cmd.h"
#include "tools/procreg/writer_ops.h"

namespace procreg::cli {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

struct ServeOptions {
  std::string log_dir;
  std::string hub = kDefaultHub;
  std::string node = "local";
  std::string frontend = kDefaultBusFrontend;
  std::string backend = kDefaultBusBackend;
  std::string connect;
  std::string bind;
  std::string replay = kDefaultReplay;
  std::string command = kDefaultCommand;
  std::string stats = kDefaultStats;
  std::string durability = "sync";
  int heartbeat_ms = 1'000;
  std::uint32_t max_events_per_message = HubServerOptions{}.max_events_per_message;
  std::string advertise_bus;
  std::string endpoints_file;
  std::string dump;
  double seconds = 0;
  std::uint64_t segment_bytes = LogOptions{}.segment_bytes;
  std::uint64_t zero_fill_bytes = LogOptions{}.zero_fill_bytes;
  SnapshotOptions snapshots;  // --snapshot-every-events, ... (the library's defaults)
  std::int64_t janitor_ms = RegistryOptions{}.janitor_interval.count();
  std::int64_t tombstone_ttl_ms = RegistryOptions{}.tombstone_ttl_ms;
  std::int64_t pending_ttl_ms = RegistryOptions{}.pending_ttl_ms;
  std::size_t max_connections = 0;
  CurveFlags curve;
  std::size_t sync_standbys = 0;
  std::int64_t standby_timeout_ms = RegistryOptions{}.standby_timeout.count();
  std::uint64_t term = 0;       // --term: the writer's term (0: the log's)
  std::string standby_of;       // a standby of this writer instead of a writer
  std::string serve;            // a standby's read endpoint
  ElectionRunOptions election;  // --election: a member with automatic failover
  // Set by the election (election_cmd.h) for the writer it runs: the registry's lease, a call
  // once ready with the endpoints, and a check every round (true: step down).
  std::shared_ptr<WriteLease> lease;
  std::function<void(const Json&)> on_ready;
  std::function<bool()> until;
  HttpFlags http;                               // --http, --health-max-*
  std::shared_ptr<HttpEndpoint> http_endpoint;  // started once by run_serve
};

Durability parse_durability(const std::string& d) {
  if (d == "sync") return Durability::kSyncEach;
  if (d == "group") return Durability::kGroupCommit;
  if (d == "none") return Durability::kNone;
  usage_error("--durability must be sync, group or none");
}

std::string off_if_none(const std::string& endpoint) { return endpoint == "none" ? "" : endpoint; }

Json stats_json(const Registry& registry, const HubServer& server, Clock::time_point started) {
  const RegistryStats r = registry.stats();
  const HubServerStats s = server.stats();
  return {{"hub", registry.hub()},
          {"role", "writer"},
          {"node", registry.local_node()},
          {"epoch", id_json(registry.epoch())},
          {"term", registry.term()},
          {"incarnation", id_json(registry.incarnation())},
          {"incarnation_start_seq", registry.incarnation_start_seq()},
          {"last_seq", registry.last_sequence()},
          {"uptime_s", std::chrono::duration<double>(Clock::now() - started).count()},
          {"last_snapshot_seq", r.last_snapshot_seq},
          {"last_snapshot_error", r.last_snapshot_error},
          {"rows", r.rows},
          {"durable",
           {{"subscribers", r.durable_subscribers},
            {"cut_off", r.durable_cut_off},
            {"max_lag", r.durable_max_lag}}},
          {"log",
           {{"failed", !r.write_failure.empty()},
            {"error", r.write_failure},
            {"write_failures", r.log_write_failures}}},
          {"writer",
           {{"events_written", r.events_written},
            {"bytes_written", r.bytes_written},
            {"writes_without_event", r.writes_without_event},
            {"invalid_calls", r.invalid_calls},
            {"rows_expired", r.rows_expired},
            {"hook_events", r.hook_events},
            {"hook_handler_errors", r.hook_handler_errors},
            {"snapshots_written", r.snapshots_written},
            {"snapshot_failures", r.snapshot_failures},
            {"segments_compacted", r.segments_compacted},
            {"log_syncs", r.log_syncs},
            {"log_synced_events", r.log_synced_events},
            {"write_calls", r.write_calls},
            {"write_groups", r.write_groups}}},
          {"log_largest_sync_group", r.log_largest_sync_group},
          {"largest_write_group", r.largest_write_group},
          {"write_calls_queued", r.write_calls_queued},
          {"replication",
           {{"sync_standbys", r.sync_standbys},
            {"standbys_in_sync", r.standbys_in_sync},
            {"replicated_seq", r.replicated_seq},
            {"writes_refused_no_standby", r.writes_refused_no_standby}}},
          {"server",
           {{"events_published", s.events_published},
            {"event_messages_published", s.event_messages_published},
            {"hook_messages_published", s.hook_messages_published},
            {"heartbeats", s.heartbeats},
            {"bytes_published", s.bytes_published},
            {"publish_dropped", s.publish_dropped},
            {"replay_requests", s.replay_requests},
            {"replay_errors", s.replay_errors},
            {"replay_replies_dropped", s.replay_replies_dropped},
            {"snapshots_served", s.snapshots_served},
            {"snapshot_files_served", s.snapshot_files_served},
            {"snapshot_files_refused", s.snapshot_files_refused},
            {"commands", s.commands},
            {"command_errors", s.command_errors},
            {"replies_refused", s.replies_refused},
            {"bad_frames", s.bad_frames},
            {"permission_denied", s.permission_denied},
            {"connections_refused", s.connections_refused},
            {"connections_open", s.connections_open},
            {"max_connections", s.max_connections},
            {"connections_over_limit", s.connections_over_limit}}}};
}

RegistryOptions registry_options(const ServeOptions& o) {
  RegistryOptions ro;
  ro.hub = o.hub;
  ro.log_dir = o.log_dir;
  ro.local_node = o.node;
  ro.log.durability = parse_durability(o.durability);
  ro.log.segment_bytes = o.segment_bytes;
  ro.log.zero_fill_bytes = o.zero_fill_bytes;
  ro.log.term = o.term;
  ro.snapshots = o.snapshots;
  ro.janitor_interval = std::chrono::milliseconds(o.janitor_ms);
  ro.tombstone_ttl_ms = o.tombstone_ttl_ms;
  ro.pending_ttl_ms = o.pending_ttl_ms;
  ro.sync_standbys = o.sync_standbys;
  ro.standby_timeout = std::chrono::milliseconds(o.standby_timeout_ms);
  ro.lease = o.lease;
  if (!ro.snapshots.archive_dir.empty() && !ro.snapshots.compact) {
    usage_error("--archive-dir needs --compact");
  }
  return ro;
}

// The writer's HubServer and where it publishes: the embedded proxy (the default), a proxy
// given by --connect, or its own PUB socket (--bind).
struct Server {
  std::unique_ptr<BusProxy> proxy;  // the embedded one, or none
  std::unique_ptr<HubServer> hub;
  std::string subscribe_at;  // where subscribers connect ("" if unknown)
};

// Refuses plaintext on an endpoint that is not loopback (unless --insecure).
void check_endpoints(const ServeOptions& o) {
  o.curve.check_endpoint(o.replay, "--replay");
  o.curve.check_endpoint(o.command, "--command");
  o.curve.check_endpoint(o.stats, "--stats");
  o.curve.check_endpoint(o.connect, "--connect");
  o.curve.check_endpoint(o.bind, "--bind");
  if (o.connect.empty() && o.bind.empty()) {
    o.curve.check_endpoint(o.frontend, "--bus-frontend");
    o.curve.check_endpoint(o.backend, "--bus-backend");
  }
}

Server start_server(zmq::context_t& context, Registry& registry, const ServeOptions& o,
                    const CurveOptions& curve) {
  Server server;
  HubServerOptions so;
  so.curve = curve;
  so.replay_endpoint = off_if_none(o.replay);
  so.command_endpoint = off_if_none(o.command);
  so.heartbeat_interval = milliseconds(o.heartbeat_ms);
  so.max_events_per_message = o.max_events_per_message;
  so.max_connections = o.max_connections;
  if (!o.connect.empty()) {
    if (curve.enabled() && curve.bus_server_key.empty()) {
      usage_error("--connect with --curve-key needs --curve-bus (the proxy's public key)");
    }
    so.publish_connect = true;
    so.publish_endpoint = o.connect;
    server.subscribe_at = o.advertise_bus;  // the proxy's backend, if given
  } else if (!o.bind.empty()) {
    so.publish_endpoint = o.bind;
  } else {
    BusProxyOptions po;
    po.frontend = o.frontend;
    po.backend = o.backend;
    po.curve = curve;
    po.max_connections = o.max_connections;
    if (curve.enabled()) {
      // The embedded proxy has the writer's keys, and admits the writer as its publisher.
      curve.policy->grant_always(curve.keys.public_key, Role::kPublisher);
      so.curve.bus_server_key = curve.keys.public_key;
    }
    auto started = BusProxy::start(context, po);
    if (!started.ok()) {
      throw CliError(kExitFailure, "cannot start the bus: " + started.status().to_string());
    }
    server.proxy = std::move(*started);
    so.publish_connect = true;
    so.publish_endpoint = server.proxy->frontend_endpoint();
    server.subscribe_at = server.proxy->backend_endpoint();
  }
  auto started = HubServer::start(context, registry, so);
  if (!started.ok()) {
    throw CliError(kExitFailure, "cannot start the hub server: " + started.status().to_string());
  }
  server.hub = std::move(*started);
  if (server.subscribe_at.empty() && !so.publish_connect) {
    server.subscribe_at = server.hub->publish_endpoint();
  }
  return server;
}

// Writes --endpoints-file and prints the "ready" line.
void announce_ready(const ServeOptions& o, const Registry& registry, const Server& server,
                    const std::string& stats_endpoint) {
  const HubServer& hub = *server.hub;
  const Json endpoints = {{"hub", registry.hub()},
                          {"bus", server.subscribe_at},
                          {"publish", hub.publish_endpoint()},
                          {"replay", hub.replay_endpoint()},
                          {"command", hub.command_endpoint()},
                          {"stats", stats_endpoint},
                          {"http", o.http_endpoint ? o.http_endpoint->url() : std::string()}};
  if (!o.endpoints_file.empty()) {
    tools::write_file_atomic(o.endpoints_file, endpoints.dump(2) + "\n");
  }
  Json ready = {{"event", "ready"},
                {"log_dir", o.log_dir},
                {"epoch", id_json(registry.epoch())},
                {"term", registry.term()},
                {"incarnation", id_json(registry.incarnation())},
                {"last_seq", registry.last_sequence()},
                {"recovery", registry.recovery_report()}};
  ready.update(endpoints);
  out_line(dump_line(ready));
  if (o.on_ready) o.on_ready(endpoints);
}

// Answers stats requests until SIGINT or SIGTERM, or --seconds, or the registry takes no more
// writes (a failed fdatasync): then it says why on stderr and returns false.
bool serve_until_stopped(const ServeOptions& o, const tools::Signals& signals, StatsEndpoint& stats,
                         Registry& registry, const std::function<Json()>& make_stats) {
  AdminOps admin(registry);  // snapshot and compact on request (writer_ops.h)
  const auto with_job = [&] {
    Json j = make_stats();
    j["snapshot_job"] = admin.snapshot_job();
    return j;
  };
  const auto handle = [&](std::string_view request, bool is_admin) {
    return admin.handle(request, is_admin);
  };
  const auto deadline = deadline_after(o.seconds);
  DurableWarnings durable(o.snapshots.durable_max_events);
  while (Clock::now() < deadline && !(o.until && o.until())) {
    const RegistryStats now = registry.stats();
    durable.check(now);
    if (const std::string& failed = now.write_failure; !failed.empty()) {
      std::fprintf(stderr,
                   "procreg serve: the log takes no more writes: %s; stopping (exit 1) so that "
                   "a restart recovers the log from what the disk holds\n",
                   failed.c_str());
      return false;
    }
    if (stats.active()) {
      stats.answer(milliseconds(100), with_job, handle);
      if (tools::Signals::stops(signals.wait(milliseconds(0)))) break;
    } else if (tools::Signals::stops(signals.wait(milliseconds(100)))) {
      break;
    }
  }
  return true;
}

int run_writer(const ServeOptions& o);

StandbyRunOptions standby_options(const ServeOptions& o) {
  StandbyRunOptions so;
  so.log_dir = o.log_dir;
  so.hub = o.hub;
  so.node = o.node;
  so.standby_of = o.standby_of;
  so.serve = o.serve;
  so.stats = o.stats;
  so.endpoints_file = o.endpoints_file;
  so.seconds = o.seconds;
  so.max_connections = o.max_connections;
  so.curve = o.curve;
  so.http = o.http_endpoint;
  return so;
}

// --election: standby or writer as etcd says (election_cmd.h).
int run_member(const ServeOptions& o) {
  if (!o.standby_of.empty()) usage_error("--election and --standby-of exclude each other");
  if (o.term != 0) usage_error("--election takes the term etcd gives: drop --term");
  ElectionRunOptions eo = o.election;
  eo.log_dir = o.log_dir;
  eo.hub = o.hub;
  eo.seconds = o.seconds;
  if (eo.name.empty())
    eo.name = o.node + "-" + std::filesystem::path(o.log_dir).filename().string();
  const auto standby = [&](const HubEndpoints& writer,
                           const std::function<bool(const StandbyStats&)>& until) {
    StandbyRunOptions so = standby_options(o);
    so.seconds = 0;  // the election's deadline is in `until`
    so.writer = writer;
    so.until = until;
    std::uint64_t ignored = 0;
    return run_standby(so, &ignored);
  };
  const auto writer = [&](std::uint64_t term, std::shared_ptr<WriteLease> lease,
                          const std::function<void(const Json&)>& on_ready,
                          const std::function<bool()>& until) {
    ServeOptions w = o;
    w.election = {};
    w.serve.clear();
    w.seconds = 0;
    w.term = term;
    w.lease = std::move(lease);
    w.on_ready = on_ready;
    w.until = until;
    return run_writer(w);
  };
  return run_elected(eo, standby, writer);
}

int run_serve(ServeOptions o) {
  o.http_endpoint = o.http.start();
  if (!o.election.url.empty()) return run_member(o);
  if (!o.standby_of.empty()) {
    StandbyRunOptions so = standby_options(o);
    std::uint64_t term = 0;
    const int code = run_standby(so, &term);
    if (term == 0) return code;
    // Promoted: the same process serves the copy as the hub's writer, at the next term, on the
    // endpoints its writer options name.
    ServeOptions writer = o;
    writer.standby_of.clear();
    writer.serve.clear();
    writer.term = term;
    return run_writer(writer);
  }
  if (!o.serve.empty()) usage_error("--serve is a standby's read endpoint: it needs --standby-of");
  return run_writer(o);
}

int run_writer(const ServeOptions& o) {
  const tools::Signals signals;  // before any thread starts
  if (!o.connect.empty() && !o.bind.empty()) usage_error("give --connect or --bind, not both");
  check_endpoints(o);
  const CurveOptions curve = o.curve.server_options();  // before the log: a bad key changes nothing
  raise_open_file_limit();
  auto opened = Registry::open(registry_options(o));
  if (!opened.ok()) {
    throw CliError(kExitFailure,
                   "cannot open the log in " + o.log_dir + ": " + opened.status().to_string());
  }
  std::unique_ptr<Registry> registry = std::move(*opened);

  zmq::context_t context;
  Server server = start_server(context, *registry, o, curve);
  StatsEndpoint stats(context, off_if_none(o.stats), curve);
  stats.attach(o.http_endpoint.get());
  announce_ready(o, *registry, server, stats.endpoint());
  const auto started = Clock::now();
  const bool healthy = serve_until_stopped(o, signals, stats, *registry, [&] {
    Json j = stats_json(*registry, *server.hub, started);
    if (server.proxy) j["bus"] = bus_stats_json(*server.proxy);
    if (o.lease) j["lease"] = {{"held", o.lease->held()}};
    return j;
  });

  // Clean shutdown: no more remote writes or publishing, then the final state, then the log.
  server.hub->stop();
  const HubServerStats s = server.hub->stats();
  const std::uint64_t last = registry->last_sequence();
  const std::uint64_t rows = registry->stats().rows;
  if (!o.dump.empty()) {
    tools::write_file_atomic(o.dump, dump_line(to_json(registry->dump_all_tables())) + "\n");
  }
  server.hub.reset();
  registry.reset();  // syncs and closes the log
  if (server.proxy) server.proxy->stop();
  out_line(dump_line({{"event", "stopped"},
                      {"last_seq", last},
                      {"events_published", s.events_published},
                      {"commands", s.commands},
                      {"rows", rows}}));
  return healthy ? kExitOk : kExitFailure;
}

// serve's options for the log's lifecycle: TTL expiry, segments, snapshots, compaction.
void add_log_options(CLI::App* serve, ServeOptions* o) {
  serve
      ->add_option("--janitor-ms", o->janitor_ms,
                   "expire TTL rows every MS ms (0: never; rows then stay until written over)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  serve
      ->add_option("--tombstone-ttl-ms", o->tombstone_ttl_ms,
                   "how long a row bulk_delete emptied stays (0 to 100 years)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  serve
      ->add_option("--pending-ttl-ms", o->pending_ttl_ms,
                   "how long a pending-forward row stays (0 to 100 years)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  serve
      ->add_option("--segment-bytes", o->segment_bytes,
                   "roll to a new log segment past this size (compaction removes whole segments)")
      ->check(CLI::Range(std::uint64_t{4096}, std::uint64_t{1} << 40))
      ->capture_default_str();
  serve
      ->add_option("--zero-fill-bytes", o->zero_fill_bytes,
                   "under sync and group durability, keep the log this far ahead zero-filled so "
                   "an fdatasync has no file size to record (0: append)")
      ->check(CLI::Range(std::uint64_t{0}, std::uint64_t{1} << 30))
      ->capture_default_str();
  serve
      ->add_option("--snapshot-every-events", o->snapshots.every_events,
                   "write a snapshot in the background after this many events (0: not by count)")
      ->capture_default_str();
  serve
      ->add_option("--snapshot-every-bytes", o->snapshots.every_bytes,
                   "write a snapshot in the background after this many bytes of events (0: not "
                   "by size)")
      ->capture_default_str();
  serve->add_option("--snapshot-keep", o->snapshots.keep, "snapshot files kept (at least 1)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1'000'000}))
      ->capture_default_str();
  serve->add_flag("--compact", o->snapshots.compact,
                  "after each snapshot, remove the log segments the oldest kept snapshot covers");
  serve
      ->add_option("--durable-retention-events", o->snapshots.durable_max_events,
                   "compaction keeps the events durable hook subscribers (tail --hooks --durable) "
                   "still need, unless one is this many events behind: it is then cut off (0: "
                   "they hold nothing back)")
      ->capture_default_str();
  serve->add_option("--archive-dir", o->snapshots.archive_dir,
                    "with --compact: move those segments here (same file system) instead");
}

void add_serve_command(CLI::App& app, Commands* commands) {
  auto o = std::make_shared<ServeOptions>();
  CLI::App* serve = app.add_subcommand("serve", "Run a hub's writer on a log directory, on a bus");
  serve->add_option("--log-dir", o->log_dir, "the hub's log directory (created if missing)")
      ->required();
  serve->add_option("--hub", o->hub, "the hub id")->capture_default_str();
  serve->add_option("--node", o->node, "the writer's local node (local_* queries)")
      ->capture_default_str();
  serve
      ->add_option("--bus-frontend", o->frontend,
                   "the embedded bus: where publishers connect (XSUB)")
      ->capture_default_str();
  serve
      ->add_option("--bus-backend", o->backend,
                   "the embedded bus: where subscribers connect (XPUB)")
      ->capture_default_str();
  serve->add_option("--connect", o->connect,
                    "no embedded bus: connect the PUB socket to this proxy frontend (XSUB)");
  serve->add_option("--advertise-bus", o->advertise_bus,
                    "with --connect: the proxy's backend, for the endpoints file and ready line");
  serve->add_option("--bind", o->bind, "no embedded bus: bind the PUB socket here");
  serve->add_option("--replay", o->replay, "the replay service's endpoint (\"none\": off)")
      ->capture_default_str();
  serve->add_option("--command", o->command, "the command channel's endpoint (\"none\": off)")
      ->capture_default_str();
  serve->add_option("--stats", o->stats, "the stats endpoint (\"none\": off)")
      ->capture_default_str();
  serve->add_option("--durability", o->durability, "sync | group | none")
      ->check(CLI::IsMember({"sync", "group", "none"}))
      ->capture_default_str();
  serve
      ->add_option("--max-events-per-message", o->max_events_per_message,
                   "events one bus message may carry (1: one per message, for subscribers "
                   "that predate event batches)")
      ->capture_default_str()
      ->check(CLI::Range(1u, 65536u));
  serve->add_option("--heartbeat-ms", o->heartbeat_ms, "heartbeat interval in ms")
      ->check(CLI::Range(10, 60'000))
      ->capture_default_str();
  serve->add_option("--endpoints-file", o->endpoints_file,
                    "write the hub and its endpoints here (JSON) once ready");
  serve->add_option("--dump", o->dump, "on exit, write dump_all of every table here (JSON)");
  serve->add_option("--seconds", o->seconds, "exit after this many seconds (0: on a signal)")
      ->check(CLI::NonNegativeNumber);
  add_max_connections_option(serve, &o->max_connections);
  serve
      ->add_option("--sync-standbys", o->sync_standbys,
                   "acknowledge a write only once this many standbys hold it on disk (0: off)")
      ->check(CLI::Range(std::size_t{0}, std::size_t{64}))
      ->capture_default_str();
  serve
      ->add_option("--standby-timeout-ms", o->standby_timeout_ms,
                   "a standby not heard from for this long is out of sync (writes are refused "
                   "while fewer than --sync-standbys are in sync)")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{3'600'000}))
      ->capture_default_str();
  serve
      ->add_option("--term", o->term,
                   "take this term: above the log's to promote a copy by hand (a lower one is "
                   "refused: fenced); 0 keeps the log's")
      ->capture_default_str();
  serve->add_option("--standby-of", o->standby_of,
                    "be a standby of this writer instead: copy its log into --log-dir, byte for "
                    "byte (its endpoints file, or its replay endpoint)");
  serve->add_option("--serve", o->serve,
                    "with --standby-of and an endpoints file: answer reads here, as a replica");
  serve->add_option("--election", o->election.url,
                    "automatic failover: be a member of the hub's election on etcd "
                    "(etcd://HOST:PORT/PREFIX): the writer while elected, else a standby of it");
  serve->add_option("--election-name", o->election.name,
                    "this member's name in the election (default: --node, '-' and the log "
                    "directory's name)");
  serve
      ->add_option_function<std::string>(
          "--when-fenced",
          [o](const std::string& v) { o->election.exit_when_fenced = v == "exit"; },
          "with --election, a writer that lost its lease: becomes a standby, or exits (1)")
      ->check(CLI::IsMember({"standby", "exit"}))
      ->default_str("standby");
  serve
      ->add_option("--election-ttl-s", o->election.ttl_s,
                   "the etcd lease's TTL: a writer gone this long is replaced")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{3600}))
      ->capture_default_str();
  serve->add_option("--curve-server", o->curve.server,
                    "with --standby-of and CURVE: the writer's public key (file or Z85)");
  o->curve.add_server_options(serve, /*publishes=*/true);
  add_log_options(serve, o.get());
  o->http.add_options(serve);
  commands->push_back({serve, [o] { return run_serve(*o); }});
}

}  // namespace

void add_serve_commands(CLI::App& app, Commands* commands) {
  add_serve_command(app, commands);
  add_bus_command(app, commands);
}

}  // namespace procreg::cli
