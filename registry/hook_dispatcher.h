// procreg::replay: runs hook handlers for committed events, off the write path.
//
// The writer publishes each committed event's hook events (possibly none) in sequence order;
// one dispatch thread runs the handlers of each hook event by priority (higher first, ties in
// subscription order). A throwing handler is counted and reported to the error sink; the
// other handlers still run. Handlers may call back into the Registry (including writes).
//
// Thread safety: every method may be called from any thread; publish() must be called in
// sequence order (the Registry does so under its apply lock). unsubscribe() waits for a
// running invocation of its handler (see there), so its caller must not hold anything that
// handler waits for.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "procreg/hooks.h"
#include "procreg/status.h"

namespace procreg::replay {

class HookDispatcher {
 public:
  HookDispatcher();
  ~HookDispatcher();  // stop()
  HookDispatcher(const HookDispatcher&) = delete;
  HookDispatcher& operator=(const HookDispatcher&) = delete;

  // Returns an id for unsubscribe(). Subscribing from inside a handler is allowed.
  std::uint64_t subscribe(HookTopic topic, HookHandler handler, int priority);
  // Removes the handler. Returns only once the handler is not running and will never be
  // called again: an invocation in progress on the dispatch thread is waited for. Called from
  // a handler (the dispatch thread) it does not wait, so a handler may unsubscribe itself or
  // another without deadlock; then the only guarantee is that the handler is not called again
  // after the current invocation. Unknown or already removed ids are ignored.
  void unsubscribe(std::uint64_t id);
  void set_error_sink(HookErrorSink sink);

  // Marks every event up to `seq` as dispatched: events replayed when a registry opens fired
  // their hooks when they were written. Call before the first publish().
  void start_at(std::uint64_t seq);
  // Queues the hook events of committed event `seq` for the handlers subscribed now: a
  // handler sees exactly the hook events published after its subscribe() returned (one that
  // subscribes while earlier events are still queued does not see those).
  void publish(std::uint64_t seq, std::vector<HookEvent> events);
  // Blocks until events up to `seq` were dispatched, i.e. every handler invocation for their
  // hook events (and for every earlier event's) has returned; kTimeout after `timeout`,
  // kUnavailable once stopped with `seq` still pending.
  Status wait_dispatched(std::uint64_t seq, std::chrono::milliseconds timeout);
  // Dispatches what is queued, then joins the thread. Idempotent.
  void stop();

  // Hook events dispatched so far: run by their handlers, or found with no handler when
  // published (those count at once, possibly before earlier events' handlers ran). A count,
  // not a position: wait_dispatched() is what orders.
  std::uint64_t dispatched() const { return dispatched_.load(); }
  std::uint64_t errors() const { return errors_.load(); }

 private:
  struct Handler {
    std::uint64_t id;
    HookTopic topic;
    int priority;
    HookHandler fn;
    bool subscribed = true;  // guarded by mu_; false once unsubscribe() removed it
  };
  struct Batch {
    std::uint64_t seq;
    std::vector<HookEvent> events;
    std::uint64_t last_handler_id;  // the newest handler subscribed when it was published
  };

  void run();
  // Runs the handlers of `event`; `lock` holds mu_ on entry and on return, and is released
  // only around each handler and error sink call.
  // Only handlers with an id up to `last_handler_id` (subscribed before the publish) run.
  void dispatch(std::unique_lock<std::mutex>& lock, const HookEvent& event,
                std::uint64_t last_handler_id);
  std::vector<std::shared_ptr<Handler>> handlers_of(HookTopic topic);  // requires mu_

  std::mutex mu_;                    // guards everything below but the atomics
  std::condition_variable work_cv_;  // wakes the dispatch thread: a batch or stop
  std::condition_variable done_cv_;  // wakes wait_dispatched()
  std::condition_variable idle_cv_;  // wakes unsubscribe(): a handler invocation returned
  std::deque<Batch> queue_;
  std::vector<std::shared_ptr<Handler>> handlers_;  // sorted: priority desc, then id asc
  std::shared_ptr<HookErrorSink> error_sink_;
  std::uint64_t next_id_ = 1;
  std::uint64_t published_seq_ = 0;
  std::uint64_t done_seq_ = 0;
  bool busy_ = false;                    // the dispatch thread popped a batch it has not finished
  std::uint64_t running_id_ = 0;         // the handler being invoked now, 0 if none
  std::size_t unsubscribe_waiters_ = 0;  // unsubscribe() calls waiting on idle_cv_
  std::thread::id dispatch_thread_;      // set by run() before it dispatches anything
  bool stopping_ = false;
  std::atomic<std::uint64_t> dispatched_{0};
  std::atomic<std::uint64_t> errors_{0};
  std::thread thread_;
};

}  // namespace procreg::replay
