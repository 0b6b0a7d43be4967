// procreg bus: an XSUB/XPUB proxy (BusProxy) for hubs and the services beside them.
//
// Binds --frontend (publishers connect) and --backend (subscribers connect), prints one JSON line
// {"event":"ready", "frontend", "backend", "http"} (and writes --endpoints-file), forwards until
// SIGINT or SIGTERM or --seconds, then prints {"event":"stopped"}. With --http it serves its
// counters at /metrics and its health at /healthz (http_endpoint.h).
#include <chrono>
#include <memory>
#include <string>

#include <zmq.hpp>

#include "procreg/bus_proxy.h"
#include "tools/common/files.h"
#include "tools/common/signals.h"
#include "tools/procreg/cli.h"
#include "tools/procreg/commands.h"
#include "tools/procreg/http_endpoint.h"
#include "tools/procreg/json_convert.h"
#include "tools/procreg/metrics.h"

namespace procreg::cli {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

struct BusOptions {
  std::string frontend = kDefaultBusFrontend;
  std::string backend = kDefaultBusBackend;
  std::size_t max_connections = 0;
  CurveFlags curve;
  std::string endpoints_file;
  double seconds = 0;
  HttpFlags http;
};

int run_bus(const BusOptions& o) {
  const tools::Signals signals;
  o.curve.check_endpoint(o.frontend, "--frontend");
  o.curve.check_endpoint(o.backend, "--backend");
  BusProxyOptions po;
  po.frontend = o.frontend;
  po.backend = o.backend;
  po.curve = o.curve.server_options();
  po.max_connections = o.max_connections;
  raise_open_file_limit();
  const std::unique_ptr<HttpEndpoint> http = o.http.start();
  zmq::context_t context;
  auto started = BusProxy::start(context, po);
  if (!started.ok()) throw CliError(kExitFailure, started.status().to_string());
  std::unique_ptr<BusProxy> proxy = std::move(*started);
  const Json endpoints = {{"frontend", proxy->frontend_endpoint()},
                          {"backend", proxy->backend_endpoint()},
                          {"http", http ? http->url() : std::string()}};
  if (!o.endpoints_file.empty()) {
    tools::write_file_atomic(o.endpoints_file, endpoints.dump(2) + "\n");
  }
  Json ready = {{"event", "ready"}};
  ready.update(endpoints);
  out_line(dump_line(ready));
  const auto started_at = Clock::now();
  const auto deadline = deadline_after(o.seconds);
  while (Clock::now() < deadline) {
    if (http) {
      http->publish({{"role", "bus"},
                     {"uptime_s", std::chrono::duration<double>(Clock::now() - started_at).count()},
                     {"bus", bus_stats_json(*proxy)}});
    }
    if (tools::Signals::stops(signals.wait(milliseconds(100)))) break;
  }
  proxy->stop();
  out_line(dump_line({{"event", "stopped"}}));
  return kExitOk;
}

}  // namespace

void add_bus_command(CLI::App& app, Commands* commands) {
  auto b = std::make_shared<BusOptions>();
  CLI::App* bus = app.add_subcommand("bus", "Run an XSUB/XPUB bus proxy");
  bus->add_option("--frontend", b->frontend, "where publishers connect (XSUB)")
      ->capture_default_str();
  bus->add_option("--backend", b->backend, "where subscribers connect (XPUB)")
      ->capture_default_str();
  bus->add_option("--endpoints-file", b->endpoints_file, "write the bound endpoints here (JSON)");
  bus->add_option("--seconds", b->seconds, "exit after this many seconds (0: on a signal)")
      ->check(CLI::NonNegativeNumber);
  add_max_connections_option(bus, &b->max_connections);
  b->http.add_options(bus, /*follower_limits=*/false);
  b->curve.add_server_options(bus);
  commands->push_back({bus, [b] { return run_bus(*b); }});
}

}  // namespace procreg::cli
