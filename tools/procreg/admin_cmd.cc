// procreg snapshot and procreg compact: a running writer's admin ops, asked on its stats
// endpoint (tools/procreg/writer_ops.h; docs/CLI.md). snapshot asks the writer to write a
// snapshot file, then polls the writer's stats until it is written (or --timeout-ms: exit 3, the
// snapshot may still complete) and prints {"seq", "file", "bytes", "rows", "took_ms"}. compact
// removes (or archives) the log segments the oldest kept snapshot covers, as the writer's
// --compact does after each snapshot, and prints {"compacted": N}. A writer refusing either
// (the admin role, a snapshot already under way, an I/O error) is exit 1.
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include <zmq.hpp>

#include "tools/procreg/cli.h"
#include "tools/procreg/commands.h"
#include "tools/procreg/json_convert.h"

namespace procreg::cli {

namespace {

using Clock = std::chrono::steady_clock;

struct AdminOptions {
  HubEndpoints hub;
};

[[noreturn]] void refused(const std::string& op, const Json& answer) {
  throw CliError(kExitFailure, "the writer did not " + op + ": " +
                                   answer.value("error", std::string("no reason given")));
}

int run_snapshot(AdminOptions o) {
  o.hub.resolve();
  zmq::context_t context;
  const auto deadline = Clock::now() + o.hub.timeout();
  const Json started =
      ask_stats_endpoint(context, o.hub.stats, o.hub.curve, "snapshot", o.hub.timeout());
  if (!started.value("started", false)) refused("write a snapshot", started);
  for (int polls = 0; polls < 1'000'000 && Clock::now() < deadline; ++polls) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) break;
    const Json stats = ask_stats_endpoint(context, o.hub.stats, o.hub.curve, "stats", left);
    const Json job = stats.value("snapshot_job", Json::object());
    if (job.value("running", true)) continue;
    if (job.contains("error")) refused("write a snapshot", job);
    Json out = job;
    out.erase("running");
    out_line(dump_line(out));
    return kExitOk;
  }
  throw CliError(kExitUnreachable, "the snapshot was not written within " +
                                       std::to_string(o.hub.timeout_ms) +
                                       " ms; it may still complete (procreg stats shows "
                                       "last_snapshot_seq)");
}

int run_compact(AdminOptions o) {
  o.hub.resolve();
  zmq::context_t context;
  const Json answer =
      ask_stats_endpoint(context, o.hub.stats, o.hub.curve, "compact", o.hub.timeout());
  if (!answer.contains("compacted")) refused("compact", answer);
  out_line(dump_line(answer));
  return kExitOk;
}

}  // namespace

void add_admin_commands(CLI::App& app, Commands* commands) {
  auto s = std::make_shared<AdminOptions>();
  CLI::App* snapshot =
      app.add_subcommand("snapshot", "Make a running writer write a snapshot file now");
  s->hub.add_options(snapshot, "s");
  commands->push_back({snapshot, [s] { return run_snapshot(*s); }});
  auto c = std::make_shared<AdminOptions>();
  CLI::App* compact = app.add_subcommand(
      "compact", "Make a running writer remove the log segments its oldest snapshot covers");
  c->hub.add_options(compact, "s");
  commands->push_back({compact, [c] { return run_compact(*c); }});
}

}  // namespace procreg::cli
