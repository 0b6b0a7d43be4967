#include "replay/hook_dispatcher.h"

#include <algorithm>
#include <exception>
#include <string>

namespace procreg::replay {

HookDispatcher::HookDispatcher() : thread_([this] { run(); }) {}

HookDispatcher::~HookDispatcher() { stop(); }

std::uint64_t HookDispatcher::subscribe(HookTopic topic, HookHandler handler, int priority) {
  std::lock_guard lock(mu_);
  const std::uint64_t id = next_id_++;
  Handler h{id, topic, priority, std::make_shared<HookHandler>(std::move(handler))};
  auto pos = std::find_if(handlers_.begin(), handlers_.end(),
                          [&](const Handler& other) { return other.priority < priority; });
  handlers_.insert(pos, std::move(h));  // after every handler of equal or higher priority
  return id;
}

void HookDispatcher::unsubscribe(std::uint64_t id) {
  std::lock_guard lock(mu_);
  handlers_.erase(std::remove_if(handlers_.begin(), handlers_.end(),
                                 [&](const Handler& h) { return h.id == id; }),
                  handlers_.end());
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
  if (events.empty() && queue_.empty()) {
    done_seq_ = seq;  // nothing to run: dispatched as far as waiters care, no thread woken
    done_cv_.notify_all();
    return;
  }
  queue_.push_back(Batch{seq, std::move(events)});
  work_cv_.notify_one();
}

Status HookDispatcher::wait_dispatched(std::uint64_t seq, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  const bool done = done_cv_.wait_for(lock, timeout, [&] {
    return done_seq_ >= seq || (stopping_ && queue_.empty());
  });
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

std::vector<HookDispatcher::Handler> HookDispatcher::handlers_of(HookTopic topic) {
  std::lock_guard lock(mu_);
  std::vector<Handler> out;
  for (const auto& h : handlers_) {
    if (h.topic == topic) out.push_back(h);
  }
  return out;
}

void HookDispatcher::dispatch(const HookEvent& event) {
  for (const Handler& h : handlers_of(event.topic)) {
    std::string error;
    try {
      (*h.fn)(event);
    } catch (const std::exception& e) {
      error = e.what();
      if (error.empty()) error = "exception";
    } catch (...) {
      error = "non-standard exception";
    }
    if (error.empty()) continue;
    errors_.fetch_add(1);
    std::shared_ptr<HookErrorSink> sink;
    {
      std::lock_guard lock(mu_);
      sink = error_sink_;
    }
    if (sink && *sink) {
      try {
        (*sink)(error, event);
      } catch (...) {  // a failing sink must not stop dispatch either
      }
    }
  }
  dispatched_.fetch_add(1);
}

void HookDispatcher::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    work_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) {  // stopping, and everything queued was dispatched
      done_cv_.notify_all();
      return;
    }
    Batch batch = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    for (const auto& event : batch.events) dispatch(event);
    lock.lock();
    done_seq_ = std::max(done_seq_, batch.seq);
    if (queue_.empty()) done_seq_ = std::max(done_seq_, published_seq_);
    done_cv_.notify_all();
  }
}

}  // namespace procreg::replay
