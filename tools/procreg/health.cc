#include "tools/procreg/health.h"

#include <string_view>

namespace procreg::cli {

namespace {

using Json = nlohmann::ordered_json;
using std::chrono::milliseconds;

// A write the log refused (a full disk) keeps the writer unhealthy this long.
constexpr milliseconds kRefusalWindow{10'000};

std::uint64_t number(const Json& j, std::string_view pointer, std::uint64_t otherwise = 0) {
  const Json::json_pointer p{std::string(pointer)};
  if (!j.contains(p) || !j.at(p).is_number()) return otherwise;
  return j.at(p).get<std::uint64_t>();
}

bool flag(const Json& j, std::string_view pointer, bool otherwise) {
  const Json::json_pointer p{std::string(pointer)};
  if (!j.contains(p) || !j.at(p).is_boolean()) return otherwise;
  return j.at(p).get<bool>();
}

std::string ms(HealthCheck::Clock::duration d) {
  return std::to_string(std::chrono::duration_cast<milliseconds>(d).count()) + " ms";
}

struct Verdict {
  Json checks = Json::array();
  bool healthy = true;
  void add(const char* check, bool ok, const std::string& detail) {
    checks.push_back({{"check", check}, {"ok", ok}, {"detail", detail}});
    healthy = healthy && ok;
  }
};

void writer_checks(const Json& s, const HealthLimits& limits, HealthCheck::Clock::duration still,
                   HealthCheck::Clock::duration since_refusal, Verdict* v) {
  if (flag(s, "/log/failed", false)) {
    const Json::json_pointer error("/log/error");
    v->add("log", false,
           "the log refuses writes until a restart: " +
               (s.contains(error) ? s.at(error).get<std::string>() : std::string("failed")));
  } else if (since_refusal < kRefusalWindow) {
    v->add("log", false,
           "the log refused a write " + ms(since_refusal) +
               " ago (a full disk?); it takes writes again once there is room");
  } else {
    v->add("log", true, "the log takes writes");
  }
  const std::uint64_t queued = number(s, "/write_calls_queued");
  if (queued > 0 && still > limits.max_stall) {
    v->add("head", false,
           std::to_string(queued) + " write calls wait and the head has stayed at " +
               std::to_string(number(s, "/last_seq")) + " for " + ms(still));
  } else {
    v->add("head", true, "at " + std::to_string(number(s, "/last_seq")));
  }
  if (s.contains(Json::json_pointer("/lease/held"))) {
    const bool held = flag(s, "/lease/held", false);
    v->add("lease", held,
           held ? "the election lease is held" : "the election lease is not held: writes wait");
  }
  const std::uint64_t need = number(s, "/replication/sync_standbys");
  if (need > 0) {
    const std::uint64_t have = number(s, "/replication/standbys_in_sync");
    v->add("standbys", have >= need,
           std::to_string(have) + " of the " + std::to_string(need) +
               " standbys each write needs are in sync");
  }
}

void lag_check(const HealthLimits& limits, std::uint64_t lag, Verdict* v) {
  v->add("lag", lag <= limits.max_lag,
         std::to_string(lag) + " events behind (at most " + std::to_string(limits.max_lag) + ")");
}

}  // namespace

void HealthCheck::observe(const Json& stats, Clock::time_point now) {
  const std::string role = stats.value("role", std::string("writer"));
  const std::uint64_t seq = number(stats, "/last_seq");
  const std::uint64_t beats = number(stats, "/replica/heartbeats");
  if (!seen_ || role != role_) {  // a member of an election changes role: start afresh
    role_ = role;
    head_still_since_ = now;
    heartbeat_at_ = now;
    refused_ = number(stats, "/log/write_failures");
  }
  if (const std::uint64_t refused = number(stats, "/log/write_failures"); refused != refused_) {
    refused_ = refused;
    refused_at_ = now;
  }
  if (seq != last_seq_ || number(stats, "/write_calls_queued") == 0) head_still_since_ = now;
  if (beats != heartbeats_) heartbeat_at_ = now;
  last_seq_ = seq;
  heartbeats_ = beats;
  stats_ = stats;
  seen_ = true;
}

Json HealthCheck::evaluate(const HealthLimits& limits, Clock::time_point now) const {
  Verdict v;
  if (!seen_) {
    v.add("started", false, "no figures yet");
    return {{"healthy", false}, {"role", ""}, {"hub", ""}, {"checks", v.checks}};
  }
  const Json& s = stats_;
  if (role_ == "replica") {
    v.add("caught_up", flag(s, "/caught_up", false),
          flag(s, "/caught_up", false) ? "caught up" : "still loading the writer's state");
    lag_check(limits, number(s, "/lag"), &v);
    const auto silent = now - heartbeat_at_;
    v.add("writer", silent <= limits.max_silence, "last heartbeat " + ms(silent) + " ago");
  } else if (role_ == "standby") {
    const milliseconds silent(number(s, "/standby/since_answer_ms"));
    v.add("writer", silent <= limits.max_silence, "last answer " + ms(silent) + " ago");
    lag_check(limits, number(s, "/standby/lag_events"), &v);
    const std::string status = s.contains(Json::json_pointer("/standby/status"))
                                   ? s.at(Json::json_pointer("/standby/status")).get<std::string>()
                                   : std::string("copying");
    v.add("copy", status == "copying", status);
  } else if (role_ == "bus") {
    v.add("proxy", true, "forwarding");
  } else {
    const auto since_refusal =
        refused_at_ == Clock::time_point{} ? Clock::duration::max() : now - refused_at_;
    writer_checks(s, limits, now - head_still_since_, since_refusal, &v);
  }
  return {{"healthy", v.healthy},
          {"role", role_},
          {"hub", s.value("hub", std::string())},
          {"checks", v.checks}};
}

}  // namespace procreg::cli
