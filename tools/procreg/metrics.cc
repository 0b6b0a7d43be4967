// Prometheus text from a stats answer: one table per role says which JSON field becomes which
// series, of which type, with which help text. A field the table does not name is not exported;
// tests/cli checks that every number a stats endpoint answers has a series.
#include "tools/procreg/metrics.h"

#include <span>
#include <string_view>

namespace procreg::cli {

namespace {

using Json = nlohmann::ordered_json;

enum class Type { kGauge, kCounter };

struct Series {
  const char* pointer;  // JSON pointer into the stats answer
  const char* name;     // after "procreg_"
  Type type;
  const char* help;
};

constexpr Type G = Type::kGauge;
constexpr Type C = Type::kCounter;

// The hub server's endpoints, in a writer's "server" group.
constexpr Series kServer[] = {
    {"/server/events_published", "server_events_published_total", C, "events published on the bus"},
    {"/server/event_messages_published", "server_event_messages_published_total", C,
     "event messages published on the bus (events committed together share one)"},
    {"/server/hook_messages_published", "server_hook_messages_published_total", C,
     "hook messages published on the bus"},
    {"/server/heartbeats", "server_heartbeats_total", C, "heartbeats published"},
    {"/server/bytes_published", "server_published_bytes_total", C, "bytes published on the bus"},
    {"/server/publish_dropped", "server_publish_dropped_total", C,
     "messages ZeroMQ would not queue (subscribers too slow)"},
    {"/server/replay_requests", "server_replay_requests_total", C,
     "requests to the replay service"},
    {"/server/replay_errors", "server_replay_errors_total", C,
     "replay requests answered with an error"},
    {"/server/replay_replies_dropped", "server_replay_replies_dropped_total", C,
     "replay replies ZeroMQ would not queue"},
    {"/server/snapshots_served", "server_snapshots_served_total", C, "snapshots served"},
    {"/server/snapshot_files_served", "server_snapshot_files_served_total", C,
     "snapshots served from a snapshot file"},
    {"/server/snapshot_files_refused", "server_snapshot_files_refused_total", C,
     "snapshot files not served (damaged or unreadable)"},
    {"/server/commands", "server_commands_total", C, "command-channel requests received"},
    {"/server/command_errors", "server_command_errors_total", C,
     "command-channel requests answered with an error"},
    {"/server/replies_refused", "server_replies_refused_total", C,
     "reads refused for the unread reply bytes their client holds"},
    {"/server/bad_frames", "server_bad_frames_total", C, "malformed or oversized requests"},
    {"/server/permission_denied", "server_permission_denied_total", C,
     "requests refused for their key's role"},
    {"/server/connections_refused", "server_connections_refused_total", C,
     "connections refused for their key"},
    {"/server/connections_open", "server_connections", G, "connections open now"},
    {"/server/max_connections", "server_max_connections", G, "connections allowed at once"},
    {"/server/connections_over_limit", "server_connections_over_limit_total", C,
     "connections refused for the connection limit"},
};

constexpr Series kWriter[] = {
    {"/last_seq", "writer_last_seq", G, "the last sequence number the writer committed"},
    {"/term", "writer_term", G, "the writer's term (raised by each promotion or election)"},
    {"/uptime_s", "writer_uptime_seconds", G, "seconds since this writer started"},
    {"/last_snapshot_seq", "writer_last_snapshot_seq", G,
     "the seq of the newest snapshot file (0: none)"},
    {"/writer/events_written", "writer_events_written_total", C, "events appended to the log"},
    {"/writer/bytes_written", "writer_written_bytes_total", C,
     "encoded bytes of the events appended"},
    {"/writer/writes_without_event", "writer_writes_without_event_total", C,
     "write calls that changed nothing and fired no hook"},
    {"/writer/invalid_calls", "writer_invalid_calls_total", C,
     "write calls refused for invalid arguments"},
    {"/writer/rows_expired", "writer_rows_expired_total", C, "rows removed by TTL expiry"},
    {"/writer/hook_events", "writer_hook_events_total", C, "hook events dispatched"},
    {"/writer/hook_handler_errors", "writer_hook_handler_errors_total", C,
     "hook handler invocations that threw"},
    {"/writer/snapshots_written", "writer_snapshots_written_total", C, "snapshot files written"},
    {"/writer/snapshot_failures", "writer_snapshot_failures_total", C,
     "background snapshots that failed"},
    {"/writer/segments_compacted", "writer_segments_compacted_total", C,
     "log segments removed or archived by compaction"},
    {"/writer/log_syncs", "writer_log_syncs_total", C, "fdatasyncs that made events durable"},
    {"/writer/log_synced_events", "writer_log_synced_events_total", C,
     "events those fdatasyncs made durable"},
    {"/writer/write_calls", "writer_write_calls_total", C, "write calls committed"},
    {"/writer/write_groups", "writer_write_groups_total", C,
     "groups of write calls committed together"},
    {"/log_largest_sync_group", "writer_largest_sync_group_events", G,
     "the most events one fdatasync made durable"},
    {"/largest_write_group", "writer_largest_write_group_calls", G,
     "the most write calls one group committed"},
    {"/write_calls_queued", "writer_queued_write_calls", G, "write calls waiting in the queue now"},
    {"/log/failed", "writer_log_failed", G,
     "1 once the writer takes no more writes until a restart (a failed fdatasync)"},
    {"/log/write_failures", "writer_log_write_failures_total", C,
     "writes refused with the log's files left as they were (a full disk)"},
    {"/rows", "writer_rows", G, "rows in every table (tombstones and pending rows too)"},
    {"/snapshot_job/running", "writer_snapshot_running", G,
     "1 while a snapshot asked for by procreg snapshot is being written"},
    {"/durable/subscribers", "writer_durable_subscribers", G,
     "durable hook subscribers whose position the writer keeps"},
    {"/durable/cut_off", "writer_durable_cut_off_total", C,
     "durable hook subscribers cut off for being too far behind"},
    {"/durable/max_lag", "writer_durable_max_lag_events", G,
     "how far the furthest durable hook subscriber is behind the head"},
    {"/lease/held", "writer_lease_held", G, "1 while the writer holds its election lease"},
    {"/replication/sync_standbys", "writer_sync_standbys", G,
     "standbys that must hold a write before it is acknowledged"},
    {"/replication/standbys_in_sync", "writer_standbys_in_sync", G, "standbys in sync now"},
    {"/replication/replicated_seq", "writer_replicated_seq", G,
     "the last seq the required standbys hold"},
    {"/replication/writes_refused_no_standby", "writer_writes_refused_no_standby_total", C,
     "writes refused for too few standbys in sync"},
};

// The connections a replica's --serve endpoint holds, and the reads it answered.
constexpr Series kReplica[] = {
    {"/last_seq", "replica_applied_seq", G, "the last seq the replica applied"},
    {"/head", "replica_head_seq", G, "the writer's last seq as the replica knows it"},
    {"/lag", "replica_lag_events", G, "events the replica has not applied yet"},
    {"/caught_up", "replica_caught_up", G, "1 once the replica has caught up with the writer"},
    {"/replica/events_applied", "replica_events_applied_total", C, "events applied"},
    {"/replica/live_events", "replica_live_events_total", C, "events received on the bus"},
    {"/replica/duplicates_dropped", "replica_duplicates_dropped_total", C,
     "duplicate events dropped"},
    {"/replica/gaps_detected", "replica_gaps_detected_total", C, "gaps in the event stream"},
    {"/replica/events_repaired", "replica_events_repaired_total", C,
     "events fetched from the replay service to fill gaps"},
    {"/replica/snapshots_loaded", "replica_snapshots_loaded_total", C, "snapshots loaded"},
    {"/replica/resyncs", "replica_resyncs_total", C, "full resynchronisations"},
    {"/replica/heartbeats", "replica_heartbeats_total", C, "writer heartbeats received"},
    {"/replica/bad_frames", "replica_bad_frames_total", C, "malformed messages dropped"},
    {"/replica/replay_failures", "replica_replay_failures_total", C, "replay requests that failed"},
    {"/replica/fenced", "replica_fenced_total", C,
     "messages of a writer of an older term, dropped"},
    {"/replica/histories_diverged", "replica_histories_diverged_total", C,
     "times the writer was found on another history"},
    {"/replica/commands_served", "replica_commands_served_total", C,
     "requests answered on the replica's --serve endpoint"},
    {"/replica/command_errors", "replica_command_errors_total", C,
     "--serve requests answered with an error"},
    {"/replica/replies_refused", "replica_replies_refused_total", C,
     "reads refused for the unread reply bytes their client holds"},
    {"/replica/permission_denied", "replica_permission_denied_total", C,
     "requests refused for their key's role"},
    {"/replica/connections_refused", "replica_connections_refused_total", C,
     "connections refused for their key"},
    {"/replica/connections_open", "replica_connections", G, "connections open now"},
    {"/replica/connections_over_limit", "replica_connections_over_limit_total", C,
     "connections refused for the connection limit"},
};

constexpr Series kStandby[] = {
    {"/last_seq", "standby_copied_seq", G, "the last seq the standby holds on disk"},
    {"/standby/head", "standby_head_seq", G, "the writer's last seq as the standby knows it"},
    {"/standby/lag_events", "standby_lag_events", G, "events the standby does not hold yet"},
    {"/standby/lag_bytes", "standby_lag_bytes", G, "bytes the standby does not hold yet"},
    {"/standby/term", "standby_term", G, "the writer's term"},
    {"/standby/since_answer_ms", "standby_since_answer_seconds", G,
     "seconds since the writer last answered"},
    {"/standby/rounds", "standby_rounds_total", C, "listing requests answered"},
    {"/standby/bytes_copied", "standby_copied_bytes_total", C, "bytes copied"},
    {"/standby/files_completed", "standby_files_completed_total", C, "files copied whole"},
    {"/standby/files_removed", "standby_files_removed_total", C,
     "files removed after the writer's compaction"},
    {"/standby/chunks_refused", "standby_chunks_refused_total", C,
     "chunks refused by the log format's checks"},
    {"/standby/repairs", "standby_repairs_total", C, "damaged copies repaired"},
    {"/standby/last_term", "standby_last_term", G, "the term that wrote the copy's last record"},
    {"/standby/unsynced_cut", "standby_unsynced_cut_total", C,
     "restarts of the writer that cut off records copied ahead of its disk"},
    {"/standby/request_failures", "standby_request_failures_total", C,
     "requests to the writer that failed"},
    {"/reads/applied", "standby_reads_applied_seq", G, "the last seq its --serve replica applied"},
};

constexpr Series kBus[] = {
    {"/uptime_s", "bus_uptime_seconds", G, "seconds since the bus started"},
    {"/bus/messages_forwarded", "bus_messages_forwarded_total", C,
     "messages forwarded from publishers to subscribers"},
    {"/bus/bytes_forwarded", "bus_forwarded_bytes_total", C, "bytes of those messages"},
    {"/bus/subscriptions_forwarded", "bus_subscriptions_forwarded_total", C,
     "subscription messages forwarded to publishers"},
    {"/bus/connections_open", "bus_connections", G, "connections open now"},
    {"/bus/max_connections", "bus_max_connections", G, "connections allowed at once"},
    {"/bus/connections_refused", "bus_connections_refused_total", C,
     "connections refused for their key"},
    {"/bus/connections_over_limit", "bus_connections_over_limit_total", C,
     "connections refused for the connection limit"},
};

std::string label_value(std::string_view s) {
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

// A sample's value as the exposition writes it: integers exactly, booleans as 0 or 1, and a
// millisecond field (`_ms` in its pointer, `_seconds` in its name) in seconds.
std::string sample(const Json& v, const Series& s) {
  const bool ms_to_s = std::string_view(s.pointer).ends_with("_ms");
  if (v.is_boolean()) return v.get<bool>() ? "1" : "0";
  if (ms_to_s) return Json(v.get<double>() / 1000.0).dump();
  return v.dump();
}

void add_table(std::string* out, const Json& stats, std::span<const Series> table,
               const std::string& labels) {
  for (const Series& s : table) {
    const Json::json_pointer pointer(s.pointer);
    if (!stats.contains(pointer)) continue;
    const Json& v = stats.at(pointer);
    if (!v.is_number() && !v.is_boolean()) continue;
    const std::string name = std::string("procreg_") + s.name;
    *out += "# HELP " + name + " " + s.help + "\n";
    *out += "# TYPE " + name + (s.type == Type::kCounter ? " counter\n" : " gauge\n");
    *out += name + labels + " " + sample(v, s) + "\n";
  }
}

std::string text_of(const Json& stats, const char* key) {
  const auto it = stats.find(key);
  if (it == stats.end()) return "";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

}  // namespace

const char* procreg_version() { return PROCREG_VERSION; }

Json bus_stats_json(const BusProxy& proxy) {
  const BusProxyStats s = proxy.stats();
  return {{"messages_forwarded", s.messages_forwarded},
          {"bytes_forwarded", s.bytes_forwarded},
          {"subscriptions_forwarded", s.subscriptions_forwarded},
          {"connections_open", s.connections_open},
          {"max_connections", s.max_connections},
          {"connections_refused", s.connections_refused},
          {"connections_over_limit", s.connections_over_limit}};
}

std::string prometheus_text(const Json& stats) {
  const std::string role = stats.contains("role") ? text_of(stats, "role") : "writer";
  std::string out;
  out += "# HELP procreg_build_info the program's version, wire protocol and log format\n";
  out += "# TYPE procreg_build_info gauge\n";
  out += std::string("procreg_build_info{version=\"") + procreg_version() +
         "\",wire_protocol=\"1\",log_format=\"3\"} 1\n";
  std::string labels;
  if (role != "bus") {
    labels = "{hub=\"" + label_value(text_of(stats, "hub")) + "\"}";
    out += "# HELP procreg_hub_info the hub this process serves, its role and the log's epoch\n";
    out += "# TYPE procreg_hub_info gauge\n";
    out += "procreg_hub_info{hub=\"" + label_value(text_of(stats, "hub")) + "\",role=\"" +
           label_value(role) + "\",epoch=\"" + label_value(text_of(stats, "epoch")) + "\"} 1\n";
  }
  if (role == "replica") {
    add_table(&out, stats, kReplica, labels);
  } else if (role == "standby") {
    add_table(&out, stats, kStandby, labels);
  } else if (role == "bus") {
    add_table(&out, stats, kBus, labels);
  } else {
    add_table(&out, stats, kWriter, labels);
    add_table(&out, stats, kServer, labels);
    // The embedded bus of a writer (serve without --connect or --bind).
    add_table(&out, stats, std::span(kBus).subspan(1), labels);
  }
  return out;
}

}  // namespace procreg::cli
