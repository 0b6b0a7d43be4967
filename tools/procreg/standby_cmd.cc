// procreg serve --standby-of (tools/procreg/standby_cmd.h).
#include "tools/procreg/standby_cmd.h"

#include <chrono>
#include <memory>

#include <zmq.hpp>

#include "procreg/replica.h"
#include "procreg/standby.h"
#include "tools/common/files.h"
#include "tools/common/signals.h"
#include "tools/procreg/cli.h"
#include "tools/procreg/http_endpoint.h"
#include "tools/procreg/json_convert.h"

namespace procreg::cli {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

Json standby_stats_json(const Standby& standby) {
  const StandbyStats s = standby.stats();
  const Status st = standby.status();
  return {{"rounds", s.rounds},
          {"bytes_copied", s.bytes_copied},
          {"files_completed", s.files_completed},
          {"files_removed", s.files_removed},
          {"chunks_refused", s.chunks_refused},
          {"repairs", s.repairs},
          {"unsynced_cut", s.unsynced_cut},
          {"request_failures", s.request_failures},
          {"copied_seq", s.copied_seq},
          {"last_term", s.last_term},
          {"head", s.head},
          {"lag_events", s.lag_events},
          {"lag_bytes", s.lag_bytes},
          {"term", s.term},
          {"since_answer_ms", s.since_answer_ms},
          {"status", st.ok() ? std::string("copying") : st.to_string()}};
}

// The writer's endpoints: from a file, or its replay endpoint alone.
HubEndpoints writer_endpoints(const StandbyRunOptions& o) {
  if (o.writer) {
    HubEndpoints hub = *o.writer;
    hub.curve_flags = o.curve;
    hub.resolve();
    return hub;
  }
  HubEndpoints hub;
  hub.hub = o.hub;
  if (o.standby_of.find("://") != std::string::npos) {
    hub.replay = o.standby_of;
    hub.bus = "none";
    hub.command = "none";
  } else {
    hub.endpoints_file = o.standby_of;
  }
  hub.curve_flags = o.curve;
  hub.resolve();
  return hub;
}

}  // namespace

// The replica that answers reads at `serve` (--serve).
std::unique_ptr<Replica> start_reads(zmq::context_t& context, const HubEndpoints& hub,
                                     const StandbyRunOptions& o, const std::string& serve,
                                     const CurveOptions& curve) {
  raise_open_file_limit();
  ReplicaOptions ro = hub.replica_options(o.node);
  ro.serve_endpoint = serve;
  ro.max_connections = o.max_connections;
  ro.curve = curve;
  auto r = Replica::start(context, ro);
  if (!r.ok()) throw CliError(kExitFailure, "cannot start the reads: " + r.status().to_string());
  return std::move(*r);
}

// What the stats endpoint answers.
Json stats_json(const std::string& hub, const Standby& standby, const Replica* replica) {
  Json j = {{"hub", hub},
            {"role", "standby"},
            {"epoch", id_json(standby.stats().epoch)},
            {"last_seq", standby.copied_seq()},
            {"standby", standby_stats_json(standby)}};
  if (replica != nullptr) {
    j["reads"] = {{"applied", replica->last_applied()},
                  {"head", replica->head()},
                  {"caught_up", replica->caught_up()}};
  }
  return j;
}

// The answer to a "promote" request (see standby_cmd.h); sets *term when it promotes.
Json promote(const Standby& standby, std::string_view request, bool admin, std::uint64_t* term) {
  const auto refuse = [](const std::string& why) {
    return Json{{"promoted", false}, {"error", why}};
  };
  if (!admin) return refuse("permission_denied: promote needs the admin role");
  if (Status st = standby.status(); !st.ok()) {
    return refuse("the copy cannot be promoted: " + st.to_string());
  }
  const StandbyStats s = standby.stats();
  if (s.epoch == 0) return refuse("the copy holds no log yet: nothing to promote");
  // -1 (never answered) is below the bound too: a writer not yet heard may be alive.
  if (request != "promote force" && s.since_answer_ms < kWriterGoneMs) {
    return refuse("the writer answered " + std::to_string(s.since_answer_ms) +
                  " ms ago: it is alive. Stop it first, or promote with --force (two writers of "
                  "different terms would then run until it is stopped)");
  }
  *term = std::max<std::uint64_t>(s.term, 1) + 1;
  return {{"promoted", true},
          {"term", *term},
          {"epoch", id_json(s.epoch)},
          {"copied_seq", standby.copied_seq()}};
}

int run_standby(const StandbyRunOptions& o, std::uint64_t* promote_term) {
  *promote_term = 0;
  const tools::Signals signals;  // before any thread starts
  const HubEndpoints hub = writer_endpoints(o);
  const std::string serve = o.serve == "none" ? "" : o.serve;
  if (!serve.empty() && hub.bus == "none") {
    usage_error("--serve on a standby needs the writer's bus: give --standby-of an endpoints file");
  }
  o.curve.check_endpoint(serve, "--serve");
  o.curve.check_endpoint(o.stats, "--stats");
  CurveOptions own = hub.curve;  // a client of the writer; its own endpoints admit the policy
  if (o.curve.enabled() && !o.curve.policy.empty()) own.policy = o.curve.server_options().policy;

  StandbyOptions so;
  so.hub = hub.hub;
  so.dir = o.log_dir;
  so.replay_endpoint = hub.replay;
  so.curve = own;
  zmq::context_t context;
  auto started = Standby::start(context, so);
  if (!started.ok()) {
    throw CliError(kExitFailure, "cannot start the standby: " + started.status().to_string());
  }
  std::unique_ptr<Standby> standby = std::move(*started);
  std::unique_ptr<Replica> replica =
      serve.empty() ? nullptr : start_reads(context, hub, o, serve, own);
  StatsEndpoint stats(context, o.stats == "none" ? "" : o.stats, own);
  const auto make_stats = [&] { return stats_json(hub.hub, *standby, replica.get()); };
  stats.attach(o.http.get());
  const Json endpoints = {{"hub", hub.hub},
                          {"serve", replica ? replica->serve_endpoint() : std::string()},
                          {"stats", stats.endpoint()},
                          {"http", o.http ? o.http->url() : std::string()}};
  if (!o.endpoints_file.empty()) {
    tools::write_file_atomic(o.endpoints_file, endpoints.dump(2) + "\n");
  }
  Json ready = {{"event", "ready"},
                {"role", "standby"},
                {"log_dir", o.log_dir},
                {"standby_of", hub.replay},
                {"copied_seq", standby->copied_seq()}};
  ready.update(endpoints);
  out_line(dump_line(ready));

  const auto deadline = deadline_after(o.seconds);
  std::string stopped_copying;
  const auto handle = [&](std::string_view request, bool admin) -> std::optional<Json> {
    if (request != "promote" && request != "promote force") return std::nullopt;
    if (o.until) {
      return Json{{"promoted", false},
                  {"error",
                   "this standby is a member of an election (--election): etcd elects "
                   "the writer"}};
    }
    return promote(*standby, request, admin, promote_term);
  };
  while (Clock::now() < deadline && *promote_term == 0) {
    milliseconds wait(100);
    if (stats.active()) {
      stats.answer(wait, make_stats, handle);
      wait = milliseconds(0);
    }
    if (*promote_term != 0) break;
    if (tools::Signals::stops(signals.wait(wait))) break;
    if (Status st = standby->status(); !st.ok()) {
      stopped_copying = st.to_string();
      break;
    }
    if (o.until && o.until(standby->stats())) break;
  }
  if (replica) replica->stop();
  const StandbyStats s = standby->stats();
  standby->stop();  // releases the directory
  if (*promote_term != 0) {
    out_line(dump_line({{"event", "promoted"},
                        {"role", "standby"},
                        {"term", *promote_term},
                        {"copied_seq", standby->copied_seq()}}));
    return kExitOk;
  }
  out_line(dump_line({{"event", "stopped"},
                      {"role", "standby"},
                      {"copied_seq", s.copied_seq},
                      {"head", s.head},
                      {"bytes_copied", s.bytes_copied}}));
  if (!stopped_copying.empty()) {
    throw CliError(kExitFailure, "the standby stopped copying: " + stopped_copying);
  }
  return kExitOk;
}

}  // namespace procreg::cli
