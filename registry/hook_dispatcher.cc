#include "registry/hook_dispatcher.h"

#include <algorithm>
#include <exception>
#include <string>

namespace procreg::replay {

HookDispatcher::HookDispatcher() : thread_([this] { run(); }) {}

HookDispatcher::~HookDispatcher() { stop(); }

std::uint64_t HookDispatcher::subscribe(HookTopic topic, HookHandler handler, int priority) {
  auto h = std::make_shared<Handler>(Handler{0, topic, priority, std::move(handler)});
  std::lock_guard lock(mu_);
  const std::uint64_t id = next_id_++;
  h->id = id;
  auto pos = std::find_if(handlers_.begin(), handlers_.end(),
                          [&](const auto& other) { return other->priority < priority; });
  handlers_.insert(pos, std::move(h));  // after every handler of equal or higher priority
  return id;
}

void HookDispatcher::unsubscribe(std::uint64_t id) {
  std::unique_lock lock(mu_);
  auto it =
      std::find_if(handlers_.begin(), handlers_.end(), [&](const auto& h) { return h->id == id; });
  if (it == handlers_.end()) return;
  (*it)->subscribed = false;  // dispatch() checks this under mu_ before every invocation
  handlers_.erase(it);
  // From a handler, the running invocation is this very call's caller (or none of `id`'s):
  // waiting would deadlock, and the flag above already keeps the handler from running again.
  if (std::this_thread::get_id() == dispatch_thread_) return;
  ++unsubscribe_waiters_;
  idle_cv_.wait(lock, [&] { return running_id_ != id; });
  --unsubscribe_waiters_;
}

void HookDispatcher::set_error_sink(HookErrorSink sink) {
  std::lock_guard lock(mu_);
  error_sink_ = std::make_shared<HookErrorSink>(std::move(sink));
}

void HookDispatcher::start_at(std::uint64_t seq) {
  std::lock_guard lock(mu_);
  published_seq_ = std::max(published_seq_, seq);
  done_seq_ = std::max(done_seq_, seq);
  done_cv_.notify_all();
}

void HookDispatcher::publish(std::uint64_t seq, std::vector<HookEvent> events) {
  std::lock_guard lock(mu_);
  published_seq_ = seq;
  // A hook event of a topic with no handler is dispatched now, here: queueing it would wake the
  // dispatch thread once per event (a thread switch per write) to run nothing.
  const std::size_t published = events.size();
  std::erase_if(events, [&](const HookEvent& e) {
    return std::none_of(handlers_.begin(), handlers_.end(),
                        [&](const auto& h) { return h->subscribed && h->topic == e.topic; });
  });
  dispatched_.fetch_add(published - events.size());
  if (events.empty()) {
    // Nothing to run for `seq` itself. If nothing is queued or in flight it is dispatched as
    // far as waiters care; otherwise run() advances done_seq_ to published_seq_ once the
    // queue drains, i.e. only after every earlier handler returned.
    if (queue_.empty() && !busy_) {
      done_seq_ = seq;
      done_cv_.notify_all();
    }
    return;
  }
  queue_.push_back(Batch{seq, std::move(events), next_id_ - 1});
  work_cv_.notify_one();
}

Status HookDispatcher::wait_dispatched(std::uint64_t seq, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  const bool done = done_cv_.wait_for(
      lock, timeout, [&] { return done_seq_ >= seq || (stopping_ && queue_.empty() && !busy_); });
  if (done_seq_ >= seq) return Status();
  if (!done) return Status::timeout("hook events up to " + std::to_string(seq) + " not dispatched");
  return Status::unavailable("hook dispatcher stopped before sequence " + std::to_string(seq));
}

void HookDispatcher::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    work_cv_.notify_all();
    done_cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

std::vector<std::shared_ptr<HookDispatcher::Handler>> HookDispatcher::handlers_of(HookTopic topic) {
  std::vector<std::shared_ptr<Handler>> out;
  for (const auto& h : handlers_) {
    if (h->topic == topic) out.push_back(h);
  }
  return out;
}

namespace {

// Runs `fn`; returns empty if it returned, else a description of what it threw.
std::string run_handler(const HookHandler& fn, const HookEvent& event) noexcept {
  try {
    fn(event);
    return {};
  } catch (const std::exception& e) {
    try {
      std::string error = e.what();
      if (!error.empty()) return error;
    } catch (...) {  // no memory for the message: fall through to a short one
    }
  } catch (...) {
    try {
      return "non-standard exception";
    } catch (...) {
    }
  }
  return "exception";  // short enough not to allocate
}

}  // namespace

void HookDispatcher::dispatch(std::unique_lock<std::mutex>& lock, const HookEvent& event,
                              std::uint64_t last_handler_id) {
  const std::vector<std::shared_ptr<Handler>> handlers = handlers_of(event.topic);
  for (const auto& h : handlers) {
    if (h->id > last_handler_id) continue;  // subscribed after the event was published
    // Re-checked under mu_ right before the call: once unsubscribe() cleared the flag, the
    // handler never starts again; while running_id_ names it, unsubscribe() waits.
    if (!h->subscribed) continue;
    running_id_ = h->id;
    lock.unlock();
    std::string error = run_handler(h->fn, event);
    lock.lock();
    running_id_ = 0;
    if (unsubscribe_waiters_ > 0) idle_cv_.notify_all();
    if (error.empty()) continue;
    errors_.fetch_add(1);
    std::shared_ptr<HookErrorSink> sink = error_sink_;
    if (sink && *sink) {
      lock.unlock();
      try {
        (*sink)(error, event);
      } catch (...) {  // a failing sink must not stop dispatch either
      }
      lock.lock();
    }
  }
  dispatched_.fetch_add(1);
}

void HookDispatcher::run() {
  std::unique_lock lock(mu_);
  dispatch_thread_ = std::this_thread::get_id();
  for (;;) {
    work_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) {                    // stopping, and everything queued was dispatched
      dispatch_thread_ = std::thread::id();  // the id may be reused once this thread ends
      done_cv_.notify_all();
      return;
    }
    Batch batch = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    for (const auto& event : batch.events) {
      try {
        dispatch(lock, event, batch.last_handler_id);
      } catch (...) {
        // Not a handler's (those are caught in run_handler()): e.g. std::bad_alloc copying the
        // handler list. The event's remaining handlers are skipped; the thread goes on.
        if (!lock.owns_lock()) lock.lock();
        if (running_id_ != 0) {
          running_id_ = 0;
          idle_cv_.notify_all();
        }
        errors_.fetch_add(1);
      }
    }
    busy_ = false;
    done_seq_ = std::max(done_seq_, batch.seq);
    if (queue_.empty()) done_seq_ = std::max(done_seq_, published_seq_);
    done_cv_.notify_all();
  }
}

}  // namespace procreg::replay
