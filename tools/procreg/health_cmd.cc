// procreg health URL: asks a server's --http endpoint whether it is healthy (GET /healthz) and
// exits 0 when it is, 1 when it is not (or the endpoint is not procreg's), 3 when it did not
// answer within --timeout-ms, 2 for a malformed URL. It prints the verdict, one JSON line. For
// systemd (ExecStartPost, a timer) and Kubernetes exec probes; an httpGet probe can ask
// /healthz directly.
#include <charconv>
#include <memory>
#include <string>

#include <httplib.h>

#include "tools/procreg/cli.h"
#include "tools/procreg/commands.h"
#include "tools/procreg/json_convert.h"

namespace procreg::cli {

namespace {

struct HealthOptions {
  std::string url;
  int timeout_ms = 2'000;
  std::optional<std::uint64_t> max_lag;
};

struct Target {
  std::string origin;  // scheme://host:port, as httplib::Client takes it
  std::string path;    // "/healthz" unless the URL names another
};

Target parse_url(const std::string& url) {
  std::string rest = url;
  if (rest.rfind("http://", 0) == 0) {
    rest = rest.substr(7);
  } else if (rest.find("://") != std::string::npos) {
    usage_error("health: " + url +
                ": only http:// URLs (the --http endpoint of serve, replica "
                "or bus)");
  }
  const std::size_t slash = rest.find('/');
  Target t;
  const std::string authority = rest.substr(0, slash);
  t.path = slash == std::string::npos ? "/" : rest.substr(slash);
  if (t.path == "/") t.path = "/healthz";
  const std::size_t colon = authority.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    usage_error("health: " + url + ": expected http://HOST:PORT[/healthz]");
  }
  int port = 0;
  const char* first = authority.data() + colon + 1;
  const char* last = authority.data() + authority.size();
  if (std::from_chars(first, last, port).ptr != last || port <= 0 || port > 65535) {
    usage_error("health: " + url + ": expected http://HOST:PORT[/healthz]");
  }
  t.origin = "http://" + authority;
  return t;
}

int run_health(const HealthOptions& o) {
  Target t = parse_url(o.url);
  if (o.max_lag) {
    t.path += (t.path.find('?') == std::string::npos ? "?" : "&");
    t.path += "max_lag=" + std::to_string(*o.max_lag);
  }
  httplib::Client client(t.origin);
  const auto timeout = std::chrono::milliseconds(o.timeout_ms);
  client.set_connection_timeout(timeout);
  client.set_read_timeout(timeout);
  client.set_write_timeout(timeout);
  const httplib::Result r = client.Get(t.path);
  if (!r) {
    throw CliError(kExitUnreachable, "health: no answer from " + t.origin + t.path + " within " +
                                         std::to_string(o.timeout_ms) + " ms (" +
                                         httplib::to_string(r.error()) +
                                         "); is the server running with --http there?");
  }
  Json verdict = Json::parse(r->body, nullptr, /*allow_exceptions=*/false);
  if (verdict.is_discarded() || !verdict.is_object() || !verdict.contains("healthy")) {
    throw CliError(kExitFailure, "health: " + t.origin + t.path + " answered " +
                                     std::to_string(r->status) +
                                     " but not a procreg verdict: is this procreg's --http "
                                     "endpoint?");
  }
  out_line(dump_line(verdict));
  if (r->status == 200 && verdict.value("healthy", false)) return kExitOk;
  return kExitFailure;
}

}  // namespace

void add_health_command(CLI::App& app, Commands* commands) {
  auto o = std::make_shared<HealthOptions>();
  CLI::App* sub = app.add_subcommand(
      "health", "Ask a server's --http endpoint whether it is healthy (exit 0 yes, 1 no)");
  sub->add_option("url", o->url, "the endpoint, http://HOST:PORT (its /healthz is asked)")
      ->required();
  sub->add_option("--timeout-ms", o->timeout_ms, "give up (exit 3) after this long")
      ->check(CLI::Range(1, 3'600'000))
      ->capture_default_str();
  sub->add_option("--max-lag", o->max_lag,
                  "a replica or standby this many events behind is unhealthy (default: the "
                  "server's --health-max-lag)");
  commands->push_back({sub, [o] { return run_health(*o); }});
}

}  // namespace procreg::cli
