#include "tools/procreg/writer_ops.h"

#include <cstdio>
#include <string>

namespace procreg::cli {

using Json = nlohmann::ordered_json;

AdminOps::~AdminOps() {
  if (job_.joinable()) job_.join();
}

std::optional<Json> AdminOps::handle(std::string_view request, bool admin) {
  if (request != "snapshot" && request != "compact") return std::nullopt;
  if (!admin) {
    return Json{{"error", "permission_denied: " + std::string(request) + " needs the admin role"}};
  }
  if (request == "compact") {
    auto removed = registry_.compact();
    if (!removed.ok()) return Json{{"error", removed.status().to_string()}};
    return Json{{"compacted", *removed}};
  }
  std::lock_guard lock(mu_);
  if (running_) return Json{{"started", false}, {"error", "a snapshot is being written"}};
  if (job_.joinable()) job_.join();  // the last one ended: running_ is false
  running_ = true;
  result_ = Json::object();
  const std::uint64_t target = registry_.last_sequence();
  job_ = std::thread([this] {
    auto written = registry_.snapshot();
    std::lock_guard l(mu_);
    running_ = false;
    if (written.ok()) {
      result_ = {{"seq", written->seq},
                 {"file", written->file},
                 {"bytes", written->bytes},
                 {"rows", written->rows},
                 {"took_ms", written->took.count()}};
    } else {
      result_ = {{"error", written.status().to_string()}};
    }
  });
  return Json{{"started", true}, {"target", target}};
}

Json AdminOps::snapshot_job() const {
  std::lock_guard lock(mu_);
  Json j = result_;
  j["running"] = running_;
  return j;
}

void DurableWarnings::check(const RegistryStats& s) {
  const bool near = bound_ > 0 && s.durable_max_lag * 5 > bound_ * 4;
  if (near && !warned_near_) {
    std::fprintf(stderr,
                 "procreg serve: a durable hook subscriber is %llu events behind; at %llu "
                 "(--durable-retention-events) compaction cuts it off\n",
                 static_cast<unsigned long long>(s.durable_max_lag),
                 static_cast<unsigned long long>(bound_));
  }
  warned_near_ = near;
  if (s.durable_cut_off > cut_off_) {
    std::fprintf(stderr,
                 "procreg serve: %llu durable hook subscriber(s) cut off: more than %llu events "
                 "behind when compaction ran; they get `compacted` and must start again\n",
                 static_cast<unsigned long long>(s.durable_cut_off - cut_off_),
                 static_cast<unsigned long long>(bound_));
    cut_off_ = s.durable_cut_off;
  }
}

}  // namespace procreg::cli
