// procreg stats: a running hub's counters, from the stats endpoint of `procreg serve`.
//
// Sends one request frame ("stats") on a REQ socket and prints the JSON reply, or with
// --prometheus the counters in Prometheus' text exposition format (version 0.0.4), each
// labelled with the hub. No reply within --timeout-ms: exit 3.
#include <map>
#include <string>
#include <string_view>

#include <zmq.hpp>

#include "plugin/zap_handler.h"
#include "tools/procreg/cli.h"
#include "tools/procreg/commands.h"
#include "tools/procreg/json_convert.h"

namespace procreg::cli {

namespace {

struct StatsOptions {
  HubEndpoints hub;
  bool prometheus = false;
};

// What each counter means, for the # HELP lines.
const std::map<std::string, std::string>& help_texts() {
  static const std::map<std::string, std::string> kHelp = {
      {"last_seq", "the last sequence number the writer committed"},
      {"uptime_seconds", "seconds since procreg serve started"},
      {"last_snapshot_seq", "the seq of the newest snapshot file (0: none)"},
      {"writer_events_written", "events appended to the log"},
      {"writer_bytes_written", "encoded bytes of the events appended"},
      {"writer_writes_without_event", "calls that changed nothing and fired no hook"},
      {"writer_invalid_calls", "calls refused for invalid arguments"},
      {"writer_rows_expired", "rows removed by TTL expiry events"},
      {"writer_hook_events", "hook events dispatched in the writer"},
      {"writer_hook_handler_errors", "hook handler invocations that threw"},
      {"writer_snapshots_written", "snapshot files written"},
      {"writer_snapshot_failures", "background snapshots that failed"},
      {"writer_segments_compacted", "log segments removed or archived by compaction"},
      {"writer_log_syncs", "fdatasyncs that made events durable (group commits)"},
      {"writer_log_synced_events", "events those syncs made durable (/ syncs: mean group size)"},
      {"log_largest_sync_group", "the most events one sync made durable"},
      {"writer_write_calls", "write calls committed (each insert, ..., or batch)"},
      {"writer_write_groups", "groups of write calls committed together (/: mean group size)"},
      {"largest_write_group", "the most write calls one group committed"},
      {"write_calls_queued", "write calls in the writer queue now"},
      {"server_snapshot_files_served", "snapshots served from a snapshot file"},
      {"server_snapshot_files_refused", "snapshot files not served (damaged or unreadable)"},
      {"head", "the writer's last seq as the replica knows it"},
      {"lag", "events the replica has not applied yet (head - last_seq)"},
      {"replica_events_applied", "events the replica applied"},
      {"replica_live_events", "events received on the bus"},
      {"replica_duplicates_dropped", "duplicate events dropped"},
      {"replica_gaps_detected", "gaps detected in the event stream"},
      {"replica_events_repaired", "events fetched from the replay service to fill gaps"},
      {"replica_snapshots_loaded", "snapshots loaded"},
      {"replica_resyncs", "full resynchronisations"},
      {"replica_heartbeats", "heartbeats received"},
      {"replica_bad_frames", "malformed messages dropped"},
      {"replica_replay_failures", "replay requests that failed"},
      {"replica_fenced", "messages and replies of a writer of an older term, dropped"},
      {"replica_histories_diverged", "times the writer was found on another history"},
      {"term", "the writer's term (raised by each promotion)"},
      {"server_events_published", "events published on the bus"},
      {"server_event_messages_published", "event messages carrying them (a batch is one)"},
      {"server_hook_messages_published", "hook messages published on the bus"},
      {"server_heartbeats", "heartbeats published"},
      {"server_bytes_published", "bytes published on the bus"},
      {"server_publish_dropped", "messages ZeroMQ would not queue"},
      {"server_replay_requests", "requests to the replay service"},
      {"server_replay_errors", "replay requests answered with an error"},
      {"server_snapshots_served", "snapshots served"},
      {"server_commands", "commands (remote writes) received"},
      {"server_command_errors", "commands answered with an error"},
      {"server_bad_frames", "malformed or oversized requests"},
  };
  return kHelp;
}

std::string label_value(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

void print_prometheus(const Json& j) {
  const std::string labels = "{hub=\"" + label_value(j.value("hub", std::string())) + "\"}";
  const auto metric = [&](const std::string& name, const Json& value, bool counter) {
    const std::string full = "procreg_" + name + (counter ? "_total" : "");
    auto help = help_texts().find(name);
    if (help != help_texts().end()) out_line("# HELP " + full + " " + help->second);
    out_line("# TYPE " + full + (counter ? " counter" : " gauge"));
    out_line(full + labels + " " + value.dump());
  };
  metric("last_seq", j.value("last_seq", Json(0)), false);
  if (j.contains("uptime_s")) metric("uptime_seconds", j["uptime_s"], false);
  if (j.contains("last_snapshot_seq")) metric("last_snapshot_seq", j["last_snapshot_seq"], false);
  for (const char* gauge : {"log_largest_sync_group", "largest_write_group", "write_calls_queued",
                            "head", "lag", "term"}) {
    if (j.contains(gauge)) metric(gauge, j[gauge], false);
  }
  for (const char* group : {"writer", "server", "replica"}) {
    if (!j.contains(group)) continue;
    for (const auto& [key, value] : j[group].items()) {
      metric(std::string(group) + "_" + key, value, true);
    }
  }
}

int run_stats(StatsOptions o) {
  o.hub.resolve();
  zmq::context_t context;
  const Json j = ask_stats_endpoint(context, o.hub.stats, o.hub.curve, "stats", o.hub.timeout());
  if (o.prometheus) {
    print_prometheus(j);
  } else {
    out_line(dump_line(j));
  }
  return kExitOk;
}

}  // namespace

void add_stats_command(CLI::App& app, Commands* commands) {
  auto o = std::make_shared<StatsOptions>();
  CLI::App* sub = app.add_subcommand("stats", "A running hub's counters (JSON or Prometheus text)");
  o->hub.add_options(sub, "s");
  sub->add_flag("--prometheus", o->prometheus, "print the Prometheus text format");
  commands->push_back({sub, [o] { return run_stats(*o); }});
}

}  // namespace procreg::cli
