// procreg::plugin internal: the replay service (docs/PROTOCOL.md, "The replay service").
//
// One thread owns a ROUTER socket and answers ReplayRequests: ranges of the writer's log (read
// with a LogReader kept per client while it pages forward, and never past the writer's
// applied sequence, so nothing that is not durable is served) and snapshots of its projection
// (encoded once under the projection's shared lock, then served in chunks from memory by
// snapshot id until idle for HubServerOptions::snapshot_idle), and the log's files for a
// standby (LogFileSource; a standby's listing request may wait for the log to grow).
//
// Thread safety: start() and stop() from one thread.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include <zmq.hpp>

#include "plugin/server_counters.h"
#include "plugin/zap_handler.h"
#include "procreg/hub_server.h"
#include "procreg/registry.h"

namespace procreg::plugin {

class ReplayService {
 public:
  // Replies queued and unread per client, at most (docs/PROTOCOL.md, "Limits").
  static constexpr int kReplyQueue = 8;
  // Binds `endpoint`, its connections counted in `budget` (none: not counted). kUnavailable
  // if it cannot.
  static Result<std::unique_ptr<ReplayService>> start(zmq::context_t& context, Registry& writer,
                                                      const std::string& endpoint,
                                                      const HubServerOptions& options,
                                                      ServerCounters& counters,
                                                      std::shared_ptr<ConnectionBudget> budget);
  ~ReplayService();
  const std::string& endpoint() const { return endpoint_; }
  std::uint64_t connections_refused() const;  // for their key (CURVE only)
  void stop();

 private:
  struct State;
  ReplayService() = default;
  void run();

  std::unique_ptr<State> state_;
  std::string endpoint_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace procreg::plugin
