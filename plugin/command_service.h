// procreg::plugin internal: the command channel's writer side (docs/PROTOCOL.md, "The command
// channel").
//
// One thread owns the ROUTER socket and reads Commands. On a writer, insert, bulk_insert,
// erase and bulk_delete are submitted to the Registry (Registry::submit) at once, so every
// command in flight, from every client, joins the writer queue and shares its appends and
// syncs; each completion hands its CommandReply back to the ROUTER thread (a queue and an
// eventfd the thread polls), which sends it. The other writes (update, clear_all, node_down),
// and every write at a replica, run on worker threads, which block until the write is done
// and hand the reply back through an inproc PULL socket. A client may have at most
// kMaxInFlightPerClient commands accepted and not yet answered; more are answered
// kResourceExhausted at once, nothing run. A malformed command gets an error reply
// when its id can be read, and is counted either way. A command that waited in the queue past
// its own timeout is answered kTimeout without running; stop() stops reading commands, runs no
// queued one and waits only for those already running (their clients see a timeout).
//
// Reads (plugin/read_requests.h) run on the ROUTER thread, from the projection, as they arrive;
// one whose at_least_seq is ahead of the state waits (without holding the thread) until the
// state applied it or its timeout passes. The same service serves a replica's Registry:
// reads from the replica's state, writes through the replica to the hub's writer.
//
// Thread safety: start() and stop() from one thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <zmq.hpp>

#include "plugin/server_counters.h"
#include "plugin/wire.h"
#include "plugin/zap_handler.h"
#include "plugin/zmq_util.h"
#include "procreg/hub_server.h"
#include "procreg/registry.h"

namespace procreg::plugin {

class CommandService {
 public:
  static Result<std::unique_ptr<CommandService>> start(zmq::context_t& context, Registry& writer,
                                                       const std::string& endpoint,
                                                       const HubServerOptions& options,
                                                       ServerCounters& counters,
                                                       std::shared_ptr<ConnectionBudget> budget);
  ~CommandService();
  const std::string& endpoint() const { return endpoint_; }
  // Connections the ZAP handler refused at this endpoint (CURVE only).
  std::uint64_t connections_refused() const { return security_->refused(); }
  void stop();

  // Runs one command on `writer` (the workers' body; public for tests).
  static wire::CommandReply execute(Registry& writer, const wire::Command& command);

 private:
  // At most this many commands wait for a worker; more are answered kUnavailable at once.
  static constexpr std::size_t kMaxQueuedCommands = 4096;
  // Commands of one client (one ROUTER identity) accepted and not yet answered, at most.
  static constexpr std::uint32_t kMaxInFlightPerClient = 4096;
  // Replies of submitted writes, from the writer's completion thread to the ROUTER thread.
  // Shared with the completions: one that comes after stop() finds it closed and drops.
  struct ReplySink {
    std::mutex mu;
    std::deque<std::pair<std::string, wire::CommandReply>> replies;  // by client identity
    int fd = -1;                                                     // an eventfd
    bool closed = false;
    ~ReplySink();
    void post(std::string identity, wire::CommandReply reply);
  };
  // At most this many reads wait for their at_least_seq; more are kResourceExhausted.
  static constexpr std::size_t kMaxWaitingReads = 4096;
  struct WaitingRead {
    std::string identity;
    wire::Command command;
    std::chrono::steady_clock::time_point deadline;
  };
  struct Job {
    std::string identity;
    wire::Command command;
    std::chrono::steady_clock::time_point queued;
  };
  CommandService(zmq::context_t& context, Registry& writer, ServerCounters& counters)
      : context_(context), writer_(writer), counters_(counters) {}
  void run_router();
  void run_worker();
  void handle(Frames& frames);
  void reply_error(const zmq::message_t& identity, std::uint64_t id, Status status);
  // Sends the reply; a large one is counted in its client's unread bytes until ZeroMQ has
  // written it, and refused (resource_exhausted) past HubServerOptions' limits.
  void reply(std::string_view identity, wire::CommandReply reply);
  void refuse_reply(std::string_view identity, const wire::CommandReply& reply, bool own,
                    std::size_t unread);
  void forget_idle_clients();  // drops the unread counters at 0, now and then
  // Answers the read now, or parks it until its at_least_seq is applied.
  void handle_read(std::string_view identity, wire::Command command);
  // Answers the parked reads whose seq was applied or whose deadline passed.
  void serve_waiting_reads();
  // Submits an insert, bulk_insert, erase or bulk_delete; false for another op.
  bool submit_write(std::string_view identity, wire::Command& command);
  // Sends the replies of workers and completions, counting each client's commands down.
  void forward_replies();
  void forward(std::string_view identity, const wire::CommandReply& reply);
  void count_down(std::string_view identity);  // one command of that client was answered

  zmq::context_t& context_;
  Registry& writer_;
  ServerCounters& counters_;
  HubServerOptions options_;
  std::shared_ptr<EndpointSecurity> security_;
  std::string endpoint_;
  std::string wake_endpoint_;
  zmq::socket_t router_;
  zmq::socket_t wake_pull_;

  std::mutex mu_;  // guards jobs_ and stopping_
  std::condition_variable jobs_cv_;
  std::deque<Job> jobs_;
  bool stopping_ = false;

  std::vector<WaitingRead> waiting_;  // the ROUTER thread's
  // Commands accepted and not yet answered, by client identity (the ROUTER thread's).
  std::unordered_map<std::string, std::uint32_t> in_flight_;
  std::shared_ptr<ReplySink> sink_;
  // Bytes of counted answers ZeroMQ holds, by client identity and in all (the ROUTER thread
  // adds; ZeroMQ's threads subtract as they let go of each answer).
  std::unordered_map<std::string, std::shared_ptr<std::atomic<std::size_t>>> unread_;
  std::shared_ptr<std::atomic<std::size_t>> unread_total_ =
      std::make_shared<std::atomic<std::size_t>>(0);
  std::size_t unread_sweep_at_ = 1024;

  std::atomic<bool> stop_{false};
  std::thread router_thread_;
  std::vector<std::thread> workers_;
};

}  // namespace procreg::plugin
