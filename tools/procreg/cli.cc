#include "tools/procreg/cli.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <exception>
#include <fstream>
#include <iterator>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>
#include <zmq_addon.hpp>

#include "plugin/zap_handler.h"
#include "plugin/zmq_util.h"
#include "tools/procreg/election_cmd.h"
#include "tools/procreg/endpoint_check.h"
#include "tools/procreg/http_endpoint.h"

namespace procreg::cli {

int exit_code_of(const Status& status) {
  if (status.ok()) return kExitOk;
  if (status.code() == Code::kTimeout || status.code() == Code::kUnavailable) {
    return kExitUnreachable;
  }
  if (status.code() == Code::kCompacted) return kExitCompacted;
  return kExitFailure;
}

void HubEndpoints::add_options(CLI::App* app, const std::string& which) {
  const auto has = [&](char c) { return which.find(c) != std::string::npos; };
  // Each also from the environment (PROCREG_HUB, ...): a flag given wins over it.
  if (has('h')) {
    app->add_option("--hub", hub, std::string("the hub id [") + kDefaultHub + "]")
        ->envname("PROCREG_HUB");
  }
  if (has('b')) {
    app->add_option("--bus", bus,
                    std::string("the bus to subscribe to: a proxy's backend or a writer's PUB [") +
                        kDefaultBusBackend + "]")
        ->envname("PROCREG_BUS");
  }
  if (has('r')) {
    app->add_option("--replay", replay,
                    std::string("the writer's replay service [") + kDefaultReplay + "]")
        ->envname("PROCREG_REPLAY");
  }
  if (has('c')) {
    app->add_option("--command", command,
                    std::string("the writer's command channel [") + kDefaultCommand + "]")
        ->envname("PROCREG_COMMAND");
  }
  if (has('s')) {
    app->add_option("--stats", stats,
                    std::string("the stats endpoint of `procreg serve` [") + kDefaultStats + "]")
        ->envname("PROCREG_STATS");
  }
  app->add_option("--endpoints", endpoints_file,
                  "read the hub and endpoints from this file (written by serve --endpoints-file), "
                  "or from the writer elected at etcd://HOST:PORT/PREFIX (serve --election); "
                  "flags override it")
      ->envname("PROCREG_ENDPOINTS");
  app->add_option("--timeout-ms", timeout_ms,
                  "bound on reaching the hub and on each call, in ms [5000]")
      ->check(CLI::Range(1, 3'600'000))
      ->envname("PROCREG_TIMEOUT_MS");
  curve_flags.add_client_options(app);
}

void HubEndpoints::fill(const nlohmann::ordered_json& j) {
  const auto take = [&](std::string& field, const char* key) {
    if (field.empty() && j.contains(key) && j[key].is_string()) field = j[key].get<std::string>();
  };
  take(hub, "hub");
  take(bus, "bus");
  take(replay, "replay");
  take(command, "command");
  take(stats, "stats");
}

void HubEndpoints::resolve() {
  if (!endpoints_file.empty()) {
    nlohmann::ordered_json j;
    if (endpoints_file.starts_with("etcd://")) {  // the elected writer's (serve --election)
      j = leader_endpoints(endpoints_file, timeout());
    } else {
      std::ifstream in(endpoints_file);
      if (!in) usage_error("cannot read the endpoints file " + endpoints_file);
      try {
        in >> j;
      } catch (const std::exception& e) {
        usage_error("the endpoints file " + endpoints_file + " is not JSON: " + e.what());
      }
    }
    if (!j.is_object()) usage_error("the endpoints file " + endpoints_file + " is not an object");
    const std::string given[] = {bus, replay, command, stats};  // flags: checked when parsed
    fill(j);
    const std::pair<const char*, const std::string*> filled[] = {
        {"bus", &bus}, {"replay", &replay}, {"command", &command}, {"stats", &stats}};
    for (std::size_t i = 0; i < std::size(filled); ++i) {
      const auto& [key, value] = filled[i];
      if (given[i].empty() && !value->empty()) check_endpoint_from(endpoints_file, key, *value);
    }
  }
  if (hub.empty()) hub = kDefaultHub;
  if (bus.empty()) bus = kDefaultBusBackend;
  if (replay.empty()) replay = kDefaultReplay;
  if (command.empty()) command = kDefaultCommand;
  if (stats.empty()) stats = kDefaultStats;
  curve = curve_flags.client_options();
}

std::chrono::steady_clock::time_point deadline_after(double seconds) {
  using Clock = std::chrono::steady_clock;
  if (seconds <= 0) return Clock::time_point::max();
  return Clock::now() +
         std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

void raise_open_file_limit() {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) != 0 || r.rlim_cur == r.rlim_max) return;
  r.rlim_cur = r.rlim_max;
  (void)::setrlimit(RLIMIT_NOFILE, &r);
}

void add_max_connections_option(CLI::App* sub, std::size_t* max_connections) {
  sub->add_option("--max-connections", *max_connections,
                  "connections the endpoints may hold at once; more are refused in their "
                  "handshake and counted (0: the open-file limit less 128)")
      ->capture_default_str();
}

void out_line(const std::string& line) {
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

Progress::Progress(std::string label, std::uint64_t total, bool enabled)
    : label_(std::move(label)), total_(total), active_(enabled && ::isatty(STDERR_FILENO) == 1) {}

Progress::~Progress() { finish(); }

void Progress::update(std::uint64_t done) {
  if (!active_) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ < std::chrono::milliseconds(100) && done < total_) return;
  last_draw_ = now;
  constexpr int kWidth = 30;
  const double fraction = total_ == 0 ? 1.0 : std::min(1.0, double(done) / double(total_));
  const int filled = static_cast<int>(fraction * kWidth);
  std::string bar(static_cast<std::size_t>(filled), '#');
  bar.resize(kWidth, '.');
  std::fprintf(stderr, "\r%s [%s] %3d%%", label_.c_str(), bar.c_str(),
               static_cast<int>(fraction * 100));
  std::fflush(stderr);
}

void Progress::finish() {
  if (!active_) return;
  std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
  active_ = false;
}

ReplicaOptions HubEndpoints::replica_options(const std::string& node) const {
  ReplicaOptions ro;
  ro.hub = hub;
  ro.local_node = node;
  ro.bus_endpoint = bus;
  ro.replay_endpoint = replay;
  ro.command_endpoint = command;
  ro.request_timeout = std::min(timeout(), std::chrono::milliseconds(2'000));
  ro.curve = curve;
  return ro;
}

StatsEndpoint::StatsEndpoint(zmq::context_t& context, const std::string& endpoint,
                             const CurveOptions& curve) {
  if (endpoint.empty() || endpoint == "none") return;
  auto security = plugin::EndpointSecurity::make(context, curve, plugin::kClientRoles, "stats");
  if (!security.ok())
    throw CliError(kExitFailure, "stats endpoint: " + security.status().to_string());
  security_ = std::move(*security);
  try {
    socket_.emplace(context, zmq::socket_type::router);
    socket_->set(zmq::sockopt::linger, 0);
    if (Status s = security_->apply(*socket_); !s.ok()) throw CliError(kExitFailure, s.to_string());
    socket_->bind(endpoint);
    endpoint_ = plugin::last_endpoint(*socket_);
  } catch (const zmq::error_t& e) {
    throw CliError(kExitFailure, "cannot bind the stats endpoint " + endpoint + ": " + e.what());
  }
}

void StatsEndpoint::answer(std::chrono::milliseconds timeout,
                           const std::function<nlohmann::json()>& make) {
  answer(timeout, make, nullptr);
}

void StatsEndpoint::answer(std::chrono::milliseconds timeout,
                           const std::function<nlohmann::json()>& make, const Handler& handle) {
  if (http_ != nullptr) {
    const auto now = std::chrono::steady_clock::now();
    if (now - published_ >= std::chrono::milliseconds(100)) {
      http_->publish(make());
      published_ = now;
    }
  }
  if (!socket_) {
    if (http_ != nullptr) std::this_thread::sleep_for(timeout);
    return;
  }
  auto ready = plugin::wait_readable(*socket_, timeout);
  if (!ready.ok() || !*ready) return;
  for (int i = 0; i < 16; ++i) {
    plugin::Frames frames;
    auto got = plugin::recv_message(*socket_, &frames, {4, 64 * 1024}, /*dont_wait=*/true);
    if (!got.ok()) continue;  // oversized: drained and dropped unanswered
    if (!*got) return;
    if (frames.size() < 2) continue;
    std::optional<nlohmann::ordered_json> handled;
    if (handle) {
      const bool admin = !security_ || security_->grant(frames.back()).allows(Role::kAdmin);
      handled = handle(plugin::view(frames.back()), admin);
    }
    const std::string reply = handled ? handled->dump() : make().dump();
    frames.back().rebuild(reply.data(), reply.size());  // the envelope stays; the body is the reply
    (void)plugin::send_message(*socket_, frames, /*dont_wait=*/true);
  }
}

nlohmann::ordered_json ask_stats_endpoint(zmq::context_t& context, const std::string& endpoint,
                                          const CurveOptions& curve, std::string_view request,
                                          std::chrono::milliseconds timeout) {
  // A DEALER with REQ's empty delimiter: a stats endpoint keeps the envelope, so its answer
  // comes back as [empty, JSON]; another service answers without it, and is told apart at once
  // instead of being waited for (a REQ socket drops such an answer).
  zmq::socket_t socket(context, zmq::socket_type::dealer);
  socket.set(zmq::sockopt::linger, 0);
  socket.set(zmq::sockopt::rcvtimeo, static_cast<int>(timeout.count()));
  socket.set(zmq::sockopt::sndtimeo, static_cast<int>(timeout.count()));
  if (Status s = plugin::secure_client(socket, curve, curve.server_key); !s.ok()) {
    usage_error("the stats endpoint: " + s.to_string());
  }
  try {
    socket.connect(endpoint);
    socket.send(zmq::message_t(), zmq::send_flags::sndmore);
    socket.send(zmq::buffer(request), zmq::send_flags::none);
  } catch (const zmq::error_t& e) {
    usage_error("cannot connect to the stats endpoint " + endpoint + ": " + e.what());
  }
  std::vector<zmq::message_t> frames;
  const auto got = zmq::recv_multipart(socket, std::back_inserter(frames));
  if (!got) {
    throw CliError(kExitUnreachable,
                   "no reply from the stats endpoint " + endpoint + " within " +
                       std::to_string(timeout.count()) +
                       " ms; is `procreg serve` (or `procreg replica --stats`) running there?");
  }
  const std::string wrong = "the endpoint " + endpoint +
                            " answered, but not as a stats endpoint does: is it the --stats "
                            "endpoint of procreg serve, replica or a standby?";
  if (frames.size() != 2 || frames[0].size() != 0) throw CliError(kExitFailure, wrong);
  try {
    return nlohmann::ordered_json::parse(frames[1].to_string());
  } catch (const nlohmann::ordered_json::parse_error& e) {
    throw CliError(kExitFailure, wrong + " (the answer is not JSON: " + e.what() + ")");
  }
}

}  // namespace procreg::cli
