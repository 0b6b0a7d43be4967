// procreg::plugin internal: Follower, one follower of a hub's bus and replay service.
//
// A follower holds a position P in the writer's log (its user holds, or has delivered,
// everything it follows of the events up to P) and keeps it at the writer's head: it owns the
// SUB socket, the replay client and the thread that reads them, and the protocol rules every
// follower shares (docs/PROTOCOL.md, "Gap detection", "Epochs", "Replicas", "Hook
// subscribers"):
//
//   - (re)synchronise when it has no position (the user's sync(): a snapshot, a probe), then
//     catch up from the replay service to the head, and again after any gap the user reports;
//   - a message of another epoch is checked with the replay service (a range request past any
//     head): the writer's epoch unchanged is a bad frame, a new one starts over on that log;
//   - a range reply of another epoch (kConflict) starts over; one that says the history after
//     P is gone (kCompacted, kNotFound), or whose head is below P in the same epoch (the writer
//     came back on a shorter history), is the user's to answer (start over, or stop);
//   - a heartbeat whose seq is below P asks the replay service for the head;
//   - terms and histories (docs/PROTOCOL.md, "Terms and histories"): a message or reply of a
//     term below the highest seen is dropped and counted (`fenced`); a heartbeat of a new
//     writer incarnation asks the replay service; a range reply or live event whose `pinc`
//     (the incarnation of seq P in the writer's log) is not the incarnation of the follower's
//     own P means the writer is on another history: the user's to answer (on_diverged);
//   - a heartbeat of the highest term heard that names another replay endpoint ("rep": a new
//     writer after a failover) moves the replay client there and tells the user
//     (on_writer_moved), then asks it for the head; a follower that does not read the bus
//     while behind still looks for such heartbeats once the replay service stops answering;
//   - nothing heard for idle_check asks the replay service for the head;
//   - an exception (out of memory, ZeroMQ out of file descriptors) ends the pass, and the loop
//     starts over after a pause.
//
// What a follower does with an event is its user's (FollowerUser): Replica applies events to a
// Registry, HookSubscriber delivers hook events.
//
// Thread safety: start(), stop() from the owner's thread; notify(), the counters, `epoch` and
// `mu`/`cv` from any thread; everything else on the follower's thread only (the user's
// callbacks run there).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include "plugin/history_check.h"
#include "plugin/replay_client.h"
#include "plugin/wire.h"
#include "plugin/zmq_util.h"
#include "procreg/security.h"

namespace procreg::plugin {

struct FollowerOptions {
  std::string name;  // "replica", "hook subscriber": begins the follower's error texts
  std::string hub;
  std::string bus_endpoint;
  std::string replay_endpoint;
  std::vector<std::string> topics;  // subscribed on the bus besides the heartbeat topic
  wire::TopicKind live_kind = wire::TopicKind::kEvent;  // the messages passed to on_live
  // True: the bus is read while behind the head (the user buffers what comes live); false:
  // reading stops as soon as the follower is behind, and the messages wait in the socket.
  bool read_while_behind = false;
  std::chrono::milliseconds request_timeout{2'000};
  std::uint32_t chunk_events = 4'096;
  int receive_hwm = 1'000'000;
  std::chrono::milliseconds idle_check{3'000};
  CurveOptions curve;  // the SUB is a client of curve.bus_key(), the replay DEALER of server_key
};

// The fields of a public options struct (ReplicaOptions, HookSubscriberOptions) that every
// follower has, under the same names; the user adds topics, live_kind and read_while_behind.
template <class PublicOptions>
FollowerOptions follower_options(std::string name, const PublicOptions& o) {
  FollowerOptions f;
  f.name = std::move(name);
  f.hub = o.hub;
  f.bus_endpoint = o.bus_endpoint;
  f.replay_endpoint = o.replay_endpoint;
  f.request_timeout = o.request_timeout;
  f.chunk_events = o.chunk_events;
  f.receive_hwm = o.receive_hwm;
  f.idle_check = o.idle_check;
  f.curve = o.curve;
  return f;
}

struct FollowerCounters {
  std::atomic<std::uint64_t> duplicates_dropped{0}, gaps_detected{0}, resyncs{0}, heartbeats{0},
      bad_frames{0}, replay_failures{0}, thread_errors{0}, fenced{0}, diverged{0};

  // Into a public stats struct (ReplicaStats, HookSubscriberStats): the counters every one has.
  template <class Stats>
  void copy_to(Stats* s) const {
    s->duplicates_dropped = duplicates_dropped.load();
    s->gaps_detected = gaps_detected.load();
    s->resyncs = resyncs.load();
    s->bad_frames = bad_frames.load();
    s->replay_failures = replay_failures.load();
    s->fenced = fenced.load();
    s->histories_diverged = diverged.load();
  }
};

// What a follower does with what it follows. Called on the follower's thread only.
class FollowerUser {
 public:
  // P: the last seq of the followed log the user is done with.
  virtual std::uint64_t position() const = 0;
  // True once the user stopped following for good: the thread ends.
  virtual bool halted() const { return false; }
  // Takes a position in the writer's log (sets Follower::epoch). False on failure (retried).
  virtual bool sync() = 0;
  // One event fetched from the replay service, in order, above P. An error ends the fetch.
  virtual Status on_fetched(std::string_view event) = 0;
  // A catch-up to the head succeeded: `reply` is the last reply (its head is the writer's).
  virtual void on_caught_up(const wire::ReplayReplyHeader& reply) { (void)reply; }
  // A bus message of the hub and of options.live_kind.
  virtual void on_live(const wire::ParsedTopic& topic, const Frames& frames) = 0;
  // A well-formed heartbeat of the followed epoch (the follower asks for the head after it if
  // its seq is below P).
  virtual void on_heartbeat(const wire::Heartbeat& heartbeat) = 0;
  // Hands over what the user holds back, before a heartbeat and after each pass over the bus.
  virtual void flush() {}
  // Forget the old log. `epoch` != 0: the writer's new log; return true if that leaves the user
  // positioned at its start (P = 0; the follower then catches up), false to sync() again.
  virtual bool on_new_log(std::uint64_t epoch) = 0;
  // The writer's head is below P in the same epoch: it came back on a log that lost events it
  // had published. Answer: start_over(0) (resynchronise) or stop following (halted()).
  virtual void on_shorter_history(std::uint64_t head) = 0;
  // A range request answered kCompacted or kNotFound: the writer no longer holds the events
  // after P. Answer as for on_shorter_history.
  virtual void on_history_gone(const Status& why) = 0;
  // The writer's log holds another record at P than the one the user took (its incarnation
  // differs): the writer continues another history. Answer as for on_shorter_history.
  virtual void on_diverged(const Status& why) = 0;
  // A writer of the highest term heard said where it is (the heartbeat's "rep" and "cmd"); the
  // replay client follows it already. A replica sends its writes there.
  virtual void on_writer_moved(const wire::Heartbeat& heartbeat) { (void)heartbeat; }

 protected:
  ~FollowerUser() = default;
};

// Reads what waits on `sub` without waiting (at most `max_messages`) and returns the last
// heartbeat of `hub` that `accept` takes; everything else read is dropped, malformed frames
// counted in *bad_frames (if not null). For a follower whose replay service stopped answering:
// a new writer's heartbeat says where it is (docs/PROTOCOL.md, "Heartbeats").
std::optional<wire::Heartbeat> newest_heartbeat(
    zmq::socket_t& sub, std::string_view hub, int max_messages,
    const std::function<bool(const wire::Heartbeat&)>& accept,
    std::atomic<std::uint64_t>* bad_frames);

class Follower {
 public:
  Follower(zmq::context_t& context, FollowerUser& user, FollowerOptions options);
  ~Follower();  // stop()
  Follower(const Follower&) = delete;
  Follower& operator=(const Follower&) = delete;

  // Makes the sockets and connects them. kUnavailable "<name>: cannot connect: ...".
  Status connect();
  void start();  // starts the thread
  void stop();   // idempotent: ends the thread and closes the socket

  // On the follower's thread.
  ReplayClient& replay() { return *replay_; }
  bool syncing() const { return need_sync_; }
  bool behind() const { return behind_; }
  void set_behind(bool behind) { behind_ = behind; }
  void on_gap();  // something between P and the head is missing (counted once a gap)
  // Fetches P + 1 .. `to` (0: the head) into on_fetched, under the range rules above. The last
  // reply, or nothing on failure (the follower may have started over or the user stopped).
  std::optional<wire::ReplayReplyHeader> catch_up(std::uint64_t to);
  // The writer's epoch and head: a range request past any head. Counts a failure.
  Result<wire::ReplayReplyHeader> probe();
  // A message of another epoch than `epoch`: asks the replay service whose it is.
  void on_other_epoch();
  // The heartbeat's writer serves its replay service elsewhere: follow it there.
  void follow_writer(const wire::Heartbeat& hb);
  // The replay service did not answer and the user does not take live messages while behind:
  // reads what waits on the bus for heartbeats naming a new writer (a failover), and follows
  // the newest. The rest is dropped; the follower is behind, so it fetches those events again
  // once it catches up.
  void listen_for_writer();
  // Counts a resync and forgets the followed log (`epoch`: the new one, 0 unknown).
  void start_over(std::uint64_t epoch);
  // Terms and histories. accept_term: false (counted as fenced) for a term below the highest
  // seen; 0 (a writer before terms) is accepted. note_incarnation: record `seq` was written by
  // `incarnation` (0: unknown). accept_live, for an event message whose term was accepted: when it
  // continues `position` (the user's P, with what it holds back), its pinc against that seq's
  // incarnation (a mismatch calls on_diverged); false: do not apply it.
  bool accept_term(std::uint64_t term);
  void note_incarnation(std::uint64_t seq, std::uint64_t incarnation);
  bool accept_live(const wire::EventHeader& header, std::uint64_t position);
  bool stopping() const { return stop_.load(); }

  // Shared with other threads.
  std::atomic<std::uint64_t> epoch{0};  // the log followed
  FollowerCounters counters;
  mutable std::mutex mu;               // the users' state that readers see together, and cv's
  mutable std::condition_variable cv;  // the position or state changed; stop
  void notify();

 private:
  void run();
  void run_loop();
  // Syncs and catches up as needed. True: read the bus now; false: go round again.
  bool resume(std::chrono::milliseconds* wait);
  bool read_pass(Frames& frames);  // false: the socket or context is closing
  void on_message(const Frames& frames);
  void on_heartbeat(const Frames& frames);
  void pause();

  zmq::context_t& context_;
  FollowerUser& user_;
  const FollowerOptions options_;
  std::unique_ptr<ReplayClient> replay_;
  std::string replay_endpoint_;  // where replay_ is connected
  zmq::socket_t sub_;
  bool need_sync_ = true;                 // no position in the writer's log
  std::uint64_t term_seen_ = 0;           // the highest term heard
  std::uint64_t writer_incarnation_ = 0;  // the newest writer incarnation heard
  HistoryCheck history_;                  // the incarnation of the last record the user took
  bool behind_ = false;                   // to catch up to the head from the replay service
  std::chrono::steady_clock::time_point last_heard_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace procreg::plugin
