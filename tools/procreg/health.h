// procreg command: is a server healthy? Judged from the answers its stats endpoint gives over
// time (the --http endpoint's /healthz and `procreg health` report it; docs/CLI.md "Health").
//
//   writer   the log takes writes (no failed fdatasync, and no write refused for a full disk in
//            the last 10 s), the head moves while writes wait, the
//            election lease is held (with --election), enough standbys are in sync (with
//            --sync-standbys);
//   replica  caught up, at most max_lag events behind, and a heartbeat from the writer within
//            max_silence;
//   standby  an answer from the writer within max_silence, at most max_lag events behind, and
//            its copy sound;
//   bus      forwarding (the process answers).
//
// Thread safety: none; the owner (HttpEndpoint) serialises calls.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace procreg::cli {

struct HealthLimits {
  std::uint64_t max_lag = 1000;                   // events behind the writer
  std::chrono::milliseconds max_silence{10'000};  // without a word from the writer
  std::chrono::milliseconds max_stall{5'000};     // writes waiting, head still
};

class HealthCheck {
 public:
  using Clock = std::chrono::steady_clock;

  // Takes a new stats answer, seen at `now`, and notes what moved since the last one.
  void observe(const nlohmann::ordered_json& stats, Clock::time_point now);

  // The verdict on the newest answer: {"healthy", "role", "hub", "checks": [{"check", "ok",
  // "detail"}]}, each check's detail a sentence. Before any answer: unhealthy.
  nlohmann::ordered_json evaluate(const HealthLimits& limits, Clock::time_point now) const;

 private:
  nlohmann::ordered_json stats_;
  std::string role_;
  bool seen_ = false;
  std::uint64_t last_seq_ = 0;
  Clock::time_point head_still_since_{};  // the head last moved, or the queue was last empty
  std::uint64_t heartbeats_ = 0;
  Clock::time_point heartbeat_at_{};  // the replica's heartbeat count last moved
  std::uint64_t refused_ = 0;         // writes the log refused (a full disk), so far
  Clock::time_point refused_at_{};    // that count last moved
};

}  // namespace procreg::cli
