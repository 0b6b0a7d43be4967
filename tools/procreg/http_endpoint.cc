#include "tools/procreg/http_endpoint.h"

#include <pthread.h>

#include <charconv>
#include <csignal>
#include <mutex>
#include <thread>
#include <utility>

#include <httplib.h>

#include "tools/procreg/cli.h"
#include "tools/procreg/metrics.h"

namespace procreg::cli {

namespace {

using Json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

// A published figure older than this means the server's loop is stuck.
constexpr std::chrono::milliseconds kLoopSilence{3'000};

struct HostPort {
  std::string host;
  int port = 0;
};

HostPort parse_address(const std::string& address) {
  const auto bad = [&](const std::string& why) {
    usage_error("--http " + address + ": " + why + " (expected HOST:PORT, e.g. 127.0.0.1:9464)");
  };
  const std::size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0) bad("no port");
  HostPort hp;
  hp.host = address.substr(0, colon);
  if (hp.host.front() == '[') {
    if (hp.host.size() < 3 || hp.host.back() != ']') bad("an IPv6 address goes in brackets");
    hp.host = hp.host.substr(1, hp.host.size() - 2);
  } else if (hp.host.find(':') != std::string::npos) {
    bad("an IPv6 address goes in brackets");
  }
  const std::string port = address.substr(colon + 1);
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), hp.port);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || hp.port < 0 ||
      hp.port > 65535) {
    bad("the port is not a number from 0 to 65535");
  }
  return hp;
}

}  // namespace

struct HttpEndpoint::Impl {
  httplib::Server server;
  std::thread thread;
  std::string url;
  HealthLimits limits;

  std::mutex mu;
  Json stats;                     // guarded by mu
  HealthCheck health;             // guarded by mu
  Clock::time_point published{};  // guarded by mu; epoch: never

  void routes();
  Json healthz(const httplib::Request& request);
};

Json HttpEndpoint::Impl::healthz(const httplib::Request& request) {
  HealthLimits l = limits;
  if (request.has_param("max_lag")) {
    const std::string v = request.get_param_value("max_lag");
    std::uint64_t n = 0;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (v.empty() || ec != std::errc() || end != v.data() + v.size()) {
      return {{"error", "max_lag must be a non-negative integer, not \"" + v + "\""}};
    }
    l.max_lag = n;
  }
  std::lock_guard lock(mu);
  const auto now = Clock::now();
  Json verdict = health.evaluate(l, now);
  const bool fresh = published != Clock::time_point{} && now - published <= kLoopSilence;
  if (!fresh) {
    verdict["healthy"] = false;
    verdict["checks"].push_back(
        {{"check", "loop"},
         {"ok", false},
         {"detail", published == Clock::time_point{}
                        ? std::string("the server has not published its figures yet")
                        : "the server's loop has not published its figures for " +
                              std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                 now - published)
                                                 .count()) +
                              " ms"}});
  }
  return verdict;
}

void HttpEndpoint::Impl::routes() {
  server.Get("/metrics", [this](const httplib::Request&, httplib::Response& response) {
    Json copy;
    {
      std::lock_guard lock(mu);
      copy = stats;
    }
    response.set_content(prometheus_text(copy), "text/plain; version=0.0.4; charset=utf-8");
  });
  server.Get("/healthz", [this](const httplib::Request& request, httplib::Response& response) {
    const Json verdict = healthz(request);
    if (verdict.contains("error")) {
      response.status = 400;
    } else {
      response.status = verdict.value("healthy", false) ? 200 : 503;
    }
    response.set_content(verdict.dump() + "\n", "application/json");
  });
  server.set_error_handler([](const httplib::Request&, httplib::Response& response) {
    if (!response.body.empty()) return;
    response.set_content("{\"error\":\"" + std::to_string(response.status) +
                             ": the endpoints are GET /metrics and GET /healthz\"}\n",
                         "application/json");
  });
}

HttpEndpoint::HttpEndpoint(const std::string& address, const HealthLimits& limits)
    : impl_(std::make_unique<Impl>()) {
  const HostPort hp = parse_address(address);
  Impl& i = *impl_;
  i.limits = limits;
  // Two threads: a scrape and a probe at once. Requests are small GETs; anything else is cut.
  i.server.new_task_queue = [] { return new httplib::ThreadPool(2); };
  i.server.set_payload_max_length(4096);
  i.server.set_read_timeout(5, 0);
  i.server.set_write_timeout(5, 0);
  i.server.set_keep_alive_max_count(100);
  i.routes();
  int port = hp.port;
  if (port == 0) {
    port = i.server.bind_to_any_port(hp.host);
  } else if (!i.server.bind_to_port(hp.host, port)) {
    port = -1;
  }
  if (port < 0) {
    throw CliError(kExitFailure, "cannot bind --http " + address +
                                     ": the address is in use, not local, or not permitted");
  }
  const bool v6 = hp.host.find(':') != std::string::npos;
  i.url = "http://" + (v6 ? "[" + hp.host + "]" : hp.host) + ":" + std::to_string(port) + "/";
  i.thread = std::thread([&i] {
    // Signals are the main thread's (tools/common/signals.h): block them here, and so in the
    // pool's threads, which this thread creates.
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);
    i.server.listen_after_bind();
  });
  // stop() is a no-op until the server runs: wait for it, so that the destructor can end it.
  for (int tries = 0; tries < 2000 && !i.server.is_running(); ++tries) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

HttpEndpoint::~HttpEndpoint() {
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

const std::string& HttpEndpoint::url() const { return impl_->url; }

void HttpEndpoint::publish(const Json& stats) {
  std::lock_guard lock(impl_->mu);
  const auto now = Clock::now();
  impl_->stats = stats;
  impl_->health.observe(stats, now);
  impl_->published = now;
}

void HttpFlags::add_options(CLI::App* app, bool follower_limits) {
  app->add_option("--http", address,
                  "serve GET /metrics (Prometheus) and /healthz on HOST:PORT (port 0: any free "
                  "one; the ready line says which). No authentication: bind to loopback or a "
                  "private interface");
  if (!follower_limits) return;
  app->add_option("--health-max-lag", max_lag,
                  "/healthz: most events a replica or standby may be behind and be healthy")
      ->capture_default_str();
  app->add_option("--health-max-silence-ms", max_silence_ms,
                  "/healthz: longest a replica or standby may go without a word from the writer")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
}

std::unique_ptr<HttpEndpoint> HttpFlags::start() const {
  if (address.empty()) return nullptr;
  HealthLimits limits;
  limits.max_lag = max_lag;
  limits.max_silence = std::chrono::milliseconds(max_silence_ms);
  return std::make_unique<HttpEndpoint>(address, limits);
}

}  // namespace procreg::cli
