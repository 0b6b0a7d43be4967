// procreg command: the --http endpoint of `serve`, `replica` and `bus`. Plain HTTP/1.1 with
// Debian's cpp-httplib, two threads, GET only:
//
//   /metrics   Prometheus text (metrics.h) of the newest stats the server published;
//   /healthz   200 with {"healthy": true, ...} or 503 with the failing checks (health.h);
//              ?max_lag=N overrides --health-max-lag for one request.
//
// The server's own loop calls publish() (through StatsEndpoint::answer, about every 100 ms), so
// a scrape never takes the registry's locks, and a loop that stopped publishing shows in
// /healthz as the failed check "loop" within 3 s. There is no authentication: bind it to
// loopback or a private interface (docs/SECURITY.md).
//
// Thread safety: publish() and url() from any thread.
#pragma once

#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "tools/procreg/health.h"

namespace procreg::cli {

class HttpEndpoint {
 public:
  // Binds `address`, "HOST:PORT" (PORT 0: an ephemeral port; HOST an IPv4 or IPv6 address or a
  // name, IPv6 in brackets), and starts serving. Throws CliError: usage (2) for a malformed
  // address, failure (1) when it cannot bind.
  HttpEndpoint(const std::string& address, const HealthLimits& limits);
  ~HttpEndpoint();  // stops serving and joins the threads
  HttpEndpoint(const HttpEndpoint&) = delete;
  HttpEndpoint& operator=(const HttpEndpoint&) = delete;

  // "http://HOST:PORT/", the port as bound.
  const std::string& url() const;

  // The server's newest figures (a stats endpoint's answer).
  void publish(const nlohmann::ordered_json& stats);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// --http, and for a server that follows a writer --health-max-lag and --health-max-silence-ms.
struct HttpFlags {
  std::string address;  // "" : off
  std::uint64_t max_lag = HealthLimits{}.max_lag;
  std::int64_t max_silence_ms = HealthLimits{}.max_silence.count();
  void add_options(CLI::App* app, bool follower_limits = true);
  // The endpoint, or none when --http was not given.
  std::unique_ptr<HttpEndpoint> start() const;
};

}  // namespace procreg::cli
