// procreg: HookSubscriber, ProcessHub's hooks as a subscription on the bus.
//
// A hook subscriber connects to the bus, subscribes to the hook topics of one hub (the kinds
// it has handlers for) and calls the handlers, by priority, with ProcessHub's payloads plus the
// event's sequence number. It delivers every hook event exactly once and in sequence order:
// it detects lost messages from the hook chains and heartbeats and fetches the events it
// missed from the writer's replay service (deriving their hook events locally). It can start
// from a stored position (the last sequence it fully delivered), catching up from the replay
// service first, and so misses and repeats nothing across its own restarts. Where it cannot keep
// that promise it stops and says why in status(): the hook events after its position were
// compacted away (kCompacted), or the writer came back on a log that ends before its position
// in the same epoch, a history that lost events it had published (kCorruption).
// docs/PROTOCOL.md, "Hook subscribers".
//
// Handlers run on the subscriber's own thread, one hook event at a time. A throwing handler is
// counted and reported to the error sink; the other handlers still run and delivery goes on.
//
// Thread safety: position(), stats() and wait_position() from any thread; start() and stop()
// from one. The zmq::context_t must outlive the subscriber.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "procreg/hooks.h"
#include "procreg/security.h"
#include "procreg/status.h"

namespace procreg {

struct HookSubscriberOptions {
  std::string hub;
  std::string bus_endpoint;     // the writer's PUB, or an XSUB/XPUB proxy's backend
  std::string replay_endpoint;  // the writer's replay service
  // Where to start: deliver the hook events of every event after `from_seq` of log
  // `from_epoch`. Without from_seq: from the writer's head when the subscriber starts (only new
  // events). A from_epoch that is not the writer's current log starts from that log's first
  // event (the old history is gone), counted in resyncs.
  std::optional<std::uint64_t> from_seq;
  std::uint64_t from_epoch = 0;    // 0 = whatever log the writer has
  std::uint32_t from_partial = 0;  // HookPosition::partial: hook events of from_seq + 1 done
  std::chrono::milliseconds request_timeout{2'000};
  std::uint32_t chunk_events = 4'096;
  int receive_hwm = 1'000'000;
  std::chrono::milliseconds idle_check{3'000};
  // A durable subscriber (docs/PROTOCOL.md, "Durable hook subscribers"): the writer records the
  // position of this name (1 to 128 characters of A-Z a-z 0-9 . _ -), reported every
  // position_interval while it moves and once more at stop(), and its compaction keeps the
  // events after it (within its bound, SnapshotOptions::durable_max_events). Without from_seq,
  // the subscriber starts after the position recorded for the name, or at the head for a name
  // the writer does not know. "": not durable.
  std::string durable_name;
  std::chrono::milliseconds position_interval{1'000};
  // false: the subscriber does not report by itself; the application reports what it has
  // handled with report_position() (as a Kafka consumer commits its offsets by hand).
  bool report_automatically = true;
  // CURVE (include/procreg/security.h): the bus socket is a client of curve.bus_key(), the
  // replay socket of curve.server_key (the writer's). Empty keys: plaintext.
  CurveOptions curve;
};

struct HookHandlerSpec {
  HookTopic topic = HookTopic::kChildRegistered;
  HookHandler handler;
  int priority = 0;  // higher first; ties in the order given
};

struct HookPosition {
  std::uint64_t epoch = 0;
  std::uint64_t seq = 0;      // every hook event of events up to seq was delivered
  std::uint32_t partial = 0;  // and this many of the hook events of event seq + 1
};

struct HookSubscriberStats {
  std::uint64_t delivered = 0;      // hook events passed to the handlers
  std::uint64_t live_messages = 0;  // hook messages received on the bus
  std::uint64_t duplicates_dropped = 0;
  std::uint64_t gaps_detected = 0;
  std::uint64_t events_fetched = 0;  // events read from the replay service
  std::uint64_t handler_errors = 0;
  std::uint64_t resyncs = 0;
  std::uint64_t bad_frames = 0;
  std::uint64_t replay_failures = 0;
  // Messages and replay replies of a term below the highest heard (a fenced writer's), dropped.
  std::uint64_t fenced = 0;
  // Times the writer was found on another history than the one followed (docs/PROTOCOL.md,
  // "Terms and histories").
  std::uint64_t histories_diverged = 0;
};

class HookSubscriber {
 public:
  // Errors: kInvalidArgument (missing hub, endpoints or handlers), kUnavailable (a socket
  // cannot connect). The subscriber then catches up and delivers in the background.
  static Result<std::unique_ptr<HookSubscriber>> start(zmq::context_t& context,
                                                       const HookSubscriberOptions& options,
                                                       std::vector<HookHandlerSpec> handlers,
                                                       HookErrorSink on_error = {});
  ~HookSubscriber();  // stop()
  HookSubscriber(const HookSubscriber&) = delete;
  HookSubscriber& operator=(const HookSubscriber&) = delete;

  // What to store to resume later (pass as from_epoch / from_seq / from_partial). Exact after
  // stop(); read while running it may lag behind what was delivered (a resume from it would
  // repeat a few hook events), so store it after stop().
  HookPosition position() const;
  // Blocks until position().seq >= seq (ok), timeout (kTimeout), or the subscriber stopped
  // for good (its status()).
  Status wait_position(std::uint64_t seq, std::chrono::milliseconds timeout) const;
  // ok while it delivers. kCompacted once the writer's log no longer holds the events after its
  // position (compacted away, docs/LOG_FORMAT.md section 12.4): it then delivers nothing more,
  // never skipping silently. To go on, start a new subscriber from a later position (for
  // example without from_seq: from the writer's head), accepting the hook events in between
  // as lost.
  Status status() const;
  HookSubscriberStats stats() const;
  // Idempotent. A handler running finishes first; delivery stops at the next event boundary
  // (a catch-up from the replay service included).
  void stop();
  // A durable subscriber's report of its position `seq` (every hook event up to it handled), a
  // request to the writer that waits for its answer (request_timeout). kInvalidArgument if the
  // subscriber has no durable_name; the writer's refusal otherwise.
  Status report_position(std::uint64_t seq);

 private:
  struct Impl;
  explicit HookSubscriber(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace procreg
