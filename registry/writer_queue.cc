// The writer queue (registry/writer_queue.h).
#include "registry/writer_queue.h"

#include <algorithm>
#include <system_error>

#include "registry/timing.h"

namespace procreg::replay {

namespace {
thread_local const void* tl_writer_thread = nullptr;  // the queue whose writer thread this is

using SteadyClock = std::chrono::steady_clock;

std::uint64_t highest_ok(std::span<const Result<std::uint64_t>> out) {
  std::uint64_t highest = 0;
  for (const auto& r : out) {
    if (r.ok()) highest = std::max(highest, *r);
  }
  return highest;
}
}  // namespace

enum class CallState { kQueued, kLead, kTaken, kAwaiting, kDone };

struct WriterQueue::Call {
  std::span<const Write> writes;
  std::span<Result<std::uint64_t>> out;
  Grouping grouping = Grouping::kAny;
  SteadyClock::time_point deadline;
  std::chrono::milliseconds timeout{0};
  Submission* async = nullptr;    // a submission's; null: a synchronous caller's (on its stack)
  bool on_writer_thread = false;  // a synchronous call made on the writer thread
  CallState state = CallState::kQueued;  // under mu_
  std::uint64_t highest = 0;             // kAwaiting: the seq that must be applied
  std::list<Call*>::iterator in_awaiting;
  // A synchronous caller's wake-up, raised when its state became kLead or kDone: its own
  // lock, so that the woken caller never contends for mu_.
  std::mutex signal_mu;
  std::condition_variable signal_cv;
  bool signaled = false;

  void signal() {
    std::lock_guard l(signal_mu);  // notified under it: the caller may return right after
    signaled = true;
    signal_cv.notify_one();
  }
  bool wait_signal(SteadyClock::time_point until) {
    std::unique_lock l(signal_mu);
    if (!signal_cv.wait_until(l, until, [&] { return signaled; })) return false;
    signaled = false;
    return true;
  }
  void wait_signal() {
    std::unique_lock l(signal_mu);
    signal_cv.wait(l, [&] { return signaled; });
    signaled = false;
  }
};

struct WriterQueue::Submission {
  std::vector<Op> ops;
  Prepared prepared;
  WriteDone done;
  Call call;
};

WriterQueue::WriterQueue(const Projection& proj, std::shared_mutex& proj_mu,
                         CommitPipeline& pipeline, Applier& applier, Log& log,
                         WriteCounters& counters, Limits limits, ReplicationTracker* replication)
    : Writer(proj, proj_mu),
      pipeline_(pipeline),
      applier_(applier),
      log_(log),
      counters_(counters),
      limits_(limits),
      replication_(replication) {
  leader_group_.reserve(limits_.max_group_writes);  // every call has a write
}

WriterQueue::~WriterQueue() { close(); }

WriterQueue::Stats WriterQueue::stats() const {
  std::lock_guard q(mu_);
  return Stats{calls_, groups_, largest_group_, queue_.size()};
}

bool WriterQueue::on_writer_thread() const { return tl_writer_thread == this; }

Status WriterQueue::admit(std::size_t n) {
  if (replication_ != nullptr) {
    if (Status s = replication_->check_writable(); !s.ok()) {
      replication_->count_refused();
      return s;
    }
  }
  if (accepted_writes_ + n <= limits_.max_queued_writes || accepted_writes_ == 0) {
    accepted_writes_ += n;
    return Status();
  }
  counters_.writes_refused_queue_full.fetch_add(n);
  return Status::resource_exhausted(
      "the writer queue holds its limit of " + std::to_string(limits_.max_queued_writes) +
      " writes (RegistryOptions::max_queued_writes); nothing written");
}

// ---- synchronous calls --------------------------------------------------------------------

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

  Call me;
  me.writes = writes;
  me.out = out;
  me.grouping = grouping;
  me.deadline = SteadyClock::now() + timeout;
  me.timeout = timeout;
  me.on_writer_thread = on_writer_thread();
  std::unique_lock q(mu_);
  if (Status s = admit(writes.size()); !s.ok()) {
    q.unlock();
    return all(s);
  }
  queue_.push_back(&me);
  // The writer thread may hold the lead while it runs a completion that writes: that call
  // leads on its behalf.
  if (lead_ == Lead::kNone || (lead_ == Lead::kWriter && on_writer_thread())) {
    lead_ = Lead::kCaller;
    me.state = CallState::kLead;
  } else {
    ++sync_queued_;
  }
  drive(me, q);
}

void WriterQueue::drive(Call& me, std::unique_lock<std::mutex>& q) {
  for (;;) {
    const CallState seen = me.state;
    if (seen == CallState::kDone) return;
    if (seen == CallState::kLead) {
      lead(me, q);
      continue;
    }
    if (seen == CallState::kAwaiting && (on_writer_thread() || !thread_.joinable())) {
      // Nobody else would apply for it: wait for the durability point here.
      leave(me, q);
      return;
    }
    q.unlock();
    const bool signaled =
        seen == CallState::kTaken ? (me.wait_signal(), true) : me.wait_signal(me.deadline);
    q.lock();
    if (signaled) continue;
    if (me.state == CallState::kQueued || me.state == CallState::kAwaiting) {
      leave(me, q);
      return;
    }
    // Its state changed as the deadline passed: the signal is on its way (or, taken, comes
    // with its group).
    q.unlock();
    me.wait_signal();
    q.lock();
  }
}

void WriterQueue::leave(Call& me, std::unique_lock<std::mutex>& q) {
  accepted_writes_ -= me.writes.size();
  if (me.state == CallState::kQueued) {
    queue_.erase(std::find(queue_.begin(), queue_.end(), &me));
    --sync_queued_;
    me.state = CallState::kDone;
    q.unlock();
    for (auto& r : me.out) {
      r = Status::timeout("write slot not free within " + ms_text(me.timeout) +
                          "; nothing written");
    }
    q.lock();
    return;
  }
  awaiting_.erase(me.in_awaiting);
  me.state = CallState::kDone;
  q.unlock();
  // Applied meanwhile, durable but not applied yet (applied here), failed, or not durable.
  Result<std::uint64_t> waited = applier_.wait_applied(me.highest, me.deadline, me.timeout);
  if (!waited.ok()) {
    for (auto& r : me.out) {
      if (r.ok() && applier_.applied_seq() < *r) r = waited.status();
    }
  }
  q.lock();
}

// ---- leading ------------------------------------------------------------------------------

void WriterQueue::lead(Call& me, std::unique_lock<std::mutex>& q) {
  // Kept for its capacity: no allocation per call. (lead() never runs nested on one thread: it
  // runs no user code and no completion.)
  thread_local Wakes wakes;
  bool leading = true;
  while (leading && me.state == CallState::kLead) {
    leading = lead_group(&me, q, wakes);
    raise(wakes, q, &me);  // each group's callers go as soon as it is done
  }
  if (leading) release_lead(wakes);
  raise(wakes, q, &me);
}

bool WriterQueue::lead_group(Call* me, std::unique_lock<std::mutex>& q, Wakes& wakes) {
  const auto now = SteadyClock::now();
  // A submission past its deadline at the front: nothing written (a caller leaves by itself).
  while (!queue_.empty() && queue_.front()->async != nullptr && now > queue_.front()->deadline) {
    Call* c = queue_.front();
    queue_.pop_front();
    for (auto& r : c->out) {
      r = Status::timeout("write slot not free within " + ms_text(c->timeout) +
                          "; nothing written");
    }
    complete(c, wakes);
  }
  if (queue_.empty()) return true;
  Call* front = queue_.front();
  if (front->grouping != Grouping::kAny && front != me) {
    // User code runs on its caller's thread: the front's caller leads its own group.
    if (me != nullptr) {
      me->state = CallState::kQueued;
      ++sync_queued_;
    }
    --sync_queued_;
    front->state = CallState::kLead;
    lead_ = Lead::kCaller;
    wakes.push_back(front);
    return false;
  }
  // leader_group_ has room for every possible group: no allocation under the lock.
  leader_group_.clear();
  std::size_t n = 0;
  for (Call* w : queue_) {
    // A call past its deadline is not taken: the group ends there.
    if (!leader_group_.empty() && now > w->deadline) break;
    // A quiescing write reads the projection itself, and a call with user code must not hold
    // other calls up: both go alone.
    const bool w_alone = w->grouping != Grouping::kAny;
    if (!leader_group_.empty() && (w_alone || n + w->writes.size() > limits_.max_group_writes)) {
      break;
    }
    if (w->async == nullptr && w->state == CallState::kQueued) --sync_queued_;
    w->state = CallState::kTaken;
    leader_group_.push_back(w);
    n += w->writes.size();
    if (w_alone) break;
  }
  const std::size_t members = leader_group_.size();
  q.unlock();
  commit_group(leader_group_);
  q.lock();
  finish_group(members, wakes);
  return true;
}

void WriterQueue::commit_group(std::span<Call* const> group) noexcept {
  try {
    group_writes_.clear();
    group_out_.clear();
    group_bounds_.clear();
    for (Call* w : group) {
      for (std::size_t i = 0; i < w->writes.size(); ++i) {
        group_writes_.push_back(w->writes[i]);
        group_out_.push_back(&w->out[i]);
        group_bounds_.push_back(CommitPipeline::Bound{w->deadline, w->timeout});
      }
    }
  } catch (const std::exception& e) {  // out of memory before anything was staged
    for (Call* w : group) {
      for (auto& r : w->out) r = Status::internal(std::string("nothing written: ") + e.what());
    }
    return;
  }
  pipeline_.run(group_writes_, group_out_, group_bounds_,
                group.front()->grouping == Grouping::kQuiesce);
}

void WriterQueue::finish_group(std::size_t members, Wakes& wakes) {
  calls_ += members;
  ++groups_;
  largest_group_ = std::max<std::uint64_t>(largest_group_, members);
  const std::uint64_t applied = applier_.applied_seq();
  for (std::size_t k = 0; k < members; ++k) {
    Call* c = queue_.front();
    queue_.pop_front();
    c->highest = highest_ok(c->out);
    if (c->highest <= applied) {
      complete(c, wakes);
      continue;
    }
    // Group commit: its events wait for the log's sync; the writer thread completes it.
    c->state = CallState::kAwaiting;
    c->in_awaiting = awaiting_.insert(awaiting_.end(), c);
    // A caller on the writer thread (or with no writer thread) waits for it on its own.
    if (c->async == nullptr && (c->on_writer_thread || !start_thread())) wakes.push_back(c);
    if (c->async != nullptr) awaiting_deadline_ = std::min(awaiting_deadline_, c->deadline);
    durable_dirty_ = true;
  }
  if (durable_dirty_ && start_thread()) poke_writer();
}

void WriterQueue::release_lead(Wakes& wakes) {
  if (sync_queued_ > 0) {
    for (Call* c : queue_) {
      if (c->async == nullptr && c->state == CallState::kQueued) {
        --sync_queued_;
        c->state = CallState::kLead;
        lead_ = Lead::kCaller;
        wakes.push_back(c);
        return;
      }
    }
  }
  lead_ = Lead::kNone;
  if (!queue_.empty()) {
    lead_ = Lead::kWriter;
    poke_writer();
  }
}

void WriterQueue::complete(Call* c, Wakes& wakes) {
  c->state = CallState::kDone;
  accepted_writes_ -= c->writes.size();
  if (c->async != nullptr) {
    completions_.push_back(c->async);
    poke_writer();
  } else {
    wakes.push_back(c);
  }
}

void WriterQueue::raise(Wakes& wakes, std::unique_lock<std::mutex>& q, const Call* self) {
  // Signalled under mu_: a caller that sees its state kDone (under mu_) returns and destroys
  // its Call at once, so its signal must have been delivered by then. (Signalling after
  // unlocking let the writer thread signal a Call its caller had just destroyed.)
  (void)q;
  for (Call* c : wakes) {
    // The leader's own call, done: it returns without waiting, so it needs no signal.
    if (c == self && c->state == CallState::kDone) continue;
    c->signal();
  }
  wakes.clear();
}

// ---- the writer thread ----------------------------------------------------------------------

void WriterQueue::on_durable() {
  std::lock_guard q(mu_);
  if (awaiting_.empty()) return;
  durable_dirty_ = true;
  poke_writer();
}

void WriterQueue::poke_writer() {
  if (writer_sleeping_) writer_cv_.notify_one();
}

bool WriterQueue::start_thread() {
  if (thread_.joinable()) return true;
  if (thread_failed_) return false;
  try {
    thread_ = std::thread(&WriterQueue::run, this);
  } catch (const std::system_error&) {
    thread_failed_ = true;  // synchronous callers wait for their durability point themselves
    return false;
  }
  return true;
}

void WriterQueue::run() {
  tl_writer_thread = this;
  std::unique_lock q(mu_);
  for (;;) {
    auto work = [&] {
      return (!queue_.empty() && lead_ != Lead::kCaller) || !completions_.empty() ||
             (durable_dirty_ && !awaiting_.empty());
    };
    auto finished = [&] { return closing_ && awaiting_.empty() && lead_ != Lead::kWriter; };
    if (!work()) {
      if (finished()) return;
      writer_sleeping_ = true;
      if (awaiting_.empty() ||
          std::none_of(awaiting_.begin(), awaiting_.end(), [](Call* c) { return c->async; })) {
        writer_cv_.wait(q, [&] { return work() || finished(); });
      } else if (!writer_cv_.wait_until(q, awaiting_deadline_, [&] { return work(); })) {
        durable_dirty_ = true;  // a submission's deadline passed
      }
      writer_sleeping_ = false;
    }
    if (!queue_.empty() && lead_ != Lead::kCaller) {
      lead_ = Lead::kWriter;
      Wakes wakes;
      if (lead_group(nullptr, q, wakes) && queue_.empty() && lead_ == Lead::kWriter) {
        lead_ = Lead::kNone;
      }
      raise(wakes, q);
    }
    if (durable_dirty_ && !awaiting_.empty()) settle_awaiting(q);
    if (!completions_.empty()) run_completions(q);
  }
}

void WriterQueue::settle_awaiting(std::unique_lock<std::mutex>& q) {
  durable_dirty_ = false;
  q.unlock();
  // Read before applying: everything durable then is applied after, unless the apply failed.
  const std::uint64_t durable = log_.durable_seq();
  if (durable > applier_.applied_seq()) applier_.apply_durable();
  const auto now = SteadyClock::now();
  // Whether the log failed or closed (a past deadline: no wait).
  const Status log_state = log_.wait_durable(durable + 1, now);
  const bool log_failed = !log_state.ok() && log_state.code() != Code::kTimeout;
  q.lock();
  const std::uint64_t applied = applier_.applied_seq();
  Wakes wakes;
  awaiting_deadline_ = SteadyClock::time_point::max();
  for (auto it = awaiting_.begin(); it != awaiting_.end();) {
    Call* c = *it;
    Status s;
    if (c->highest > applied) {  // (applied: its results stand)
      if (durable >= c->highest) {
        s = applier_.failure();  // durable, not applied: the projection refused an event
        if (s.ok()) s = Status::internal("events durable but not applied");
      } else if (log_failed && !(s = log_.wait_durable(c->highest, now)).ok()) {
        // the log failed or closed: its message names the call's event
      } else if (c->async != nullptr && now >= c->deadline) {
        s = Status::timeout("event " + std::to_string(c->highest) +
                            " was appended but is not durable within " + ms_text(c->timeout) +
                            "; it takes effect if the log's sync succeeds, so its outcome is "
                            "unknown to this call");
      } else {
        if (c->async != nullptr) awaiting_deadline_ = std::min(awaiting_deadline_, c->deadline);
        ++it;
        continue;
      }
    }
    if (!s.ok()) {
      for (auto& r : c->out) {
        if (r.ok() && *r > applied) r = s;
      }
    }
    it = awaiting_.erase(it);
    complete(c, wakes);
  }
  raise(wakes, q);
}

void WriterQueue::run_completions(std::unique_lock<std::mutex>& q) {
  // A completion may write: the lead goes to whoever can use it meanwhile.
  if (lead_ == Lead::kWriter) {
    Wakes wakes;
    release_lead(wakes);
    if (lead_ == Lead::kWriter) lead_ = Lead::kNone;  // this thread takes it back after
    raise(wakes, q);
  }
  std::vector<Submission*> due;
  due.swap(completions_);
  q.unlock();
  for (Submission* s : due) {
    std::unique_ptr<Submission> owned(s);
    try {
      owned->done(std::move(owned->prepared.out));
    } catch (...) {  // documented: a completion's exception is dropped
    }
  }
  q.lock();
}

// ---- submissions --------------------------------------------------------------------------

void WriterQueue::submit(std::vector<Op> ops, WriteDone done) {
  if (ops.empty()) return done({});
  auto sub = std::make_unique<Submission>();
  sub->ops = std::move(ops);
  sub->done = std::move(done);
  prepare(sub->ops, sub->prepared, /*refuse_user_code=*/true);
  Call& c = sub->call;
  c.writes = sub->prepared.writes;
  c.out = sub->prepared.out;
  c.async = sub.get();
  c.timeout = c.writes.front().options->timeout;
  for (const Write& w : c.writes) c.timeout = std::min(c.timeout, w.options->timeout);
  c.deadline = SteadyClock::now() + c.timeout;
  std::unique_lock q(mu_);
  Status refused =
      closing_ ? Status::unavailable("registry closing; nothing written") : admit(c.writes.size());
  if (refused.ok() && !start_thread()) {
    accepted_writes_ -= c.writes.size();
    refused = Status::resource_exhausted("cannot start the writer thread; nothing written");
  }
  if (!refused.ok()) {
    q.unlock();
    for (auto& r : sub->prepared.out) r = refused;
    return sub->done(std::move(sub->prepared.out));
  }
  queue_.push_back(&c);
  (void)sub.release();  // the queue owns it until its completion ran
  if (lead_ == Lead::kNone) lead_ = Lead::kWriter;
  if (lead_ == Lead::kWriter) poke_writer();
}

void WriterQueue::close() {
  std::unique_lock q(mu_);
  if (closing_) return;
  closing_ = true;
  // Submissions no leader took: refused. (No synchronous call can be queued: the registry is
  // being destroyed.)
  Wakes wakes;
  for (auto it = queue_.begin(); it != queue_.end();) {
    Call* c = *it;
    if (c->async == nullptr || c->state != CallState::kQueued) {
      ++it;
      continue;
    }
    for (auto& r : c->out) r = Status::unavailable("registry closing; nothing written");
    it = queue_.erase(it);
    complete(c, wakes);
  }
  raise(wakes, q);
  if (!thread_.joinable()) return;
  writer_cv_.notify_one();
  q.unlock();
  thread_.join();
}

}  // namespace procreg::replay
