// procreg stats: a running hub's counters, from the stats endpoint of `procreg serve`.
//
// Sends one request frame ("stats") on a REQ socket and prints the JSON reply, or with
// --prometheus the counters in Prometheus' text exposition format (metrics.h), as the server's
// --http endpoint serves them at /metrics. No reply within --timeout-ms: exit 3.
#include <string>
#include <string_view>

#include <zmq.hpp>

#include "plugin/zap_handler.h"
#include "tools/procreg/cli.h"
#include "tools/procreg/commands.h"
#include "tools/procreg/json_convert.h"
#include "tools/procreg/metrics.h"

namespace procreg::cli {

namespace {

struct StatsOptions {
  HubEndpoints hub;
  bool prometheus = false;
};

int run_stats(StatsOptions o) {
  o.hub.resolve();
  zmq::context_t context;
  const Json j = ask_stats_endpoint(context, o.hub.stats, o.hub.curve, "stats", o.hub.timeout());
  if (o.prometheus) {
    std::string text = prometheus_text(j);
    text.pop_back();  // out_line ends the last line
    out_line(text);
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
