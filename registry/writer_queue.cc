// The writer queue (registry/writer_queue.h).
#include "registry/writer_queue.h"

#include <algorithm>

#include "registry/timing.h"

namespace procreg::replay {

WriterQueue::WriterQueue(const Projection& proj, std::shared_mutex& proj_mu,
                         CommitPipeline& pipeline, Applier& applier, WriteCounters& counters)
    : Writer(proj, proj_mu), pipeline_(pipeline), applier_(applier), counters_(counters) {
  leader_group_.reserve(kMaxGroupWrites);  // every call has a write: no more calls than this
}

WriterQueue::Stats WriterQueue::stats() const {
  std::lock_guard q(mu_);
  return Stats{calls_, groups_, largest_group_, queue_.size()};
}

void WriterQueue::commit_many(std::span<const Write> writes, std::span<Result<std::uint64_t>> out,
                              Grouping grouping) {
  auto all = [&](const Status& s) {
    for (auto& r : out) r = s;
  };
  if (pipeline_.writing_on_this_thread()) {
    counters_.invalid_calls.fetch_add(writes.size());
    return all(Status::invalid_argument(
        "a write from inside an update function (it holds the writer's slot): return the "
        "change from the function instead"));
  }
  std::chrono::milliseconds timeout = writes.front().options->timeout;
  for (const Write& w : writes) timeout = std::min(timeout, w.options->timeout);
  const auto deadline = std::chrono::steady_clock::now() + timeout;

  Queued me{writes, out, grouping, deadline, timeout, false, false, {}};
  std::unique_lock q(mu_);
  queue_.push_back(&me);
  if (!wait_turn(me, q)) {
    q.unlock();
    return all(
        Status::timeout("write slot not free within " + ms_text(timeout) + "; nothing written"));
  }
  if (!me.done) lead(me, q);
  q.unlock();
  wait_applied(out, deadline, timeout);
}

bool WriterQueue::wait_turn(Queued& me, std::unique_lock<std::mutex>& q) {
  while (!me.done && queue_.front() != &me) {
    if (me.taken) {
      me.cv.wait(q, [&] { return me.done; });
      break;
    }
    if (me.cv.wait_until(q, me.deadline) == std::cv_status::timeout && !me.done && !me.taken &&
        queue_.front() != &me) {
      queue_.erase(std::find(queue_.begin(), queue_.end(), &me));
      return false;
    }
  }
  return true;
}

void WriterQueue::lead(Queued& me, std::unique_lock<std::mutex>& q) {
  // leader_group_ has room for every possible group: no allocation under the lock, so nothing
  // can throw between marking calls taken and handing them back.
  leader_group_.clear();
  std::size_t n = 0;
  const auto now = std::chrono::steady_clock::now();
  for (Queued* w : queue_) {
    // A call past its deadline is not taken: it leaves the queue by itself (the group is the
    // queue's front, so it ends there).
    if (!leader_group_.empty() && now > w->deadline) break;
    // A quiescing write reads the projection itself, and a call with user code (an update
    // function) must not hold other calls up: both go alone.
    const bool w_alone = w->grouping != Grouping::kAny;
    if (!leader_group_.empty() && (w_alone || n + w->writes.size() > kMaxGroupWrites)) break;
    w->taken = true;
    leader_group_.push_back(w);
    n += w->writes.size();
    if (w_alone) break;
  }
  const std::size_t members = leader_group_.size();
  q.unlock();
  commit_group(leader_group_);
  q.lock();
  calls_ += members;
  ++groups_;
  largest_group_ = std::max<std::uint64_t>(largest_group_, members);
  for (std::size_t k = 0; k < members; ++k) {
    Queued* w = queue_.front();
    queue_.pop_front();
    w->done = true;
    if (w != &me) w->cv.notify_one();
  }
  if (!queue_.empty()) queue_.front()->cv.notify_one();
}

void WriterQueue::commit_group(std::span<Queued* const> group) noexcept {
  try {
    group_writes_.clear();
    group_out_.clear();
    group_bounds_.clear();
    for (Queued* w : group) {
      for (std::size_t i = 0; i < w->writes.size(); ++i) {
        group_writes_.push_back(w->writes[i]);
        group_out_.push_back(&w->out[i]);
        group_bounds_.push_back(CommitPipeline::Bound{w->deadline, w->timeout});
      }
    }
  } catch (const std::exception& e) {  // out of memory before anything was staged
    for (Queued* w : group) {
      for (auto& r : w->out) r = Status::internal(std::string("nothing written: ") + e.what());
    }
    return;
  }
  pipeline_.run(group_writes_, group_out_, group_bounds_,
                group.front()->grouping == Grouping::kQuiesce);
}

void WriterQueue::wait_applied(std::span<Result<std::uint64_t>> out,
                               std::chrono::steady_clock::time_point deadline,
                               std::chrono::milliseconds timeout) {
  // Each call waits for its own writes' durability point (group commit), and a write that
  // wrote nothing for the state it saw to be applied.
  std::uint64_t highest = 0;
  for (const auto& r : out) {
    if (r.ok()) highest = std::max(highest, *r);
  }
  if (applier_.applied_seq() >= highest) return;
  Result<std::uint64_t> waited = applier_.wait_applied(highest, deadline, timeout);
  if (!waited.ok()) {
    for (auto& r : out) {
      if (r.ok() && applier_.applied_seq() < *r) r = waited.status();
    }
  }
}

}  // namespace procreg::replay
