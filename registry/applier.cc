// The applier (registry/applier.h).
#include "registry/applier.h"

#include <string>

#include "registry/timing.h"

namespace procreg::replay {

void Applier::push(std::vector<Pending>& staged) {
  std::lock_guard pl(pending_mu_);
  if (pending_.empty()) {
    pending_.swap(staged);  // nothing moves (the usual case: the last group is applied)
    return;
  }
  for (Pending& p : staged) pending_.push_back(std::move(p));
}

void Applier::fail(Status s) {
  std::lock_guard l(failed_mu_);
  if (failed_.ok()) {
    failed_ = std::move(s);
    has_failed_.store(true);
  }
}

Status Applier::failure() const {
  if (!has_failed_.load()) return Status();  // every write asks: no lock until a failure
  std::lock_guard l(failed_mu_);
  return failed_;
}

Result<std::uint64_t> Applier::wait_applied(std::uint64_t seq,
                                            std::chrono::steady_clock::time_point deadline,
                                            std::chrono::milliseconds timeout) {
  if (applied_seq_.load() >= seq) return seq;
  Status s = log_->wait_durable(seq, deadline);
  if (s.code() == Code::kTimeout) {
    return Status::timeout("event " + std::to_string(seq) +
                           " was appended but is not durable within " + ms_text(timeout) + " (" +
                           s.message() +
                           "); it takes effect if the log's sync succeeds, so its outcome is "
                           "unknown to this call");
  }
  if (!s.ok()) return s;
  apply_durable();
  if (applied_seq_.load() < seq) return failure();
  return seq;
}

namespace {
// Empties a vector on every way out of a scope, keeping its capacity.
template <typename T>
class ClearOnExit {
 public:
  explicit ClearOnExit(std::vector<T>& v) : v_(v) {}
  ~ClearOnExit() { v_.clear(); }
  ClearOnExit(const ClearOnExit&) = delete;
  ClearOnExit& operator=(const ClearOnExit&) = delete;

 private:
  std::vector<T>& v_;
};
}  // namespace

void Applier::apply_durable() {
  std::lock_guard al(apply_mu_);
  const std::uint64_t durable = log_->durable_seq();
  ClearOnExit<Pending> clear_batch(batch_);
  {
    std::lock_guard pl(pending_mu_);
    if (!pending_.empty() && pending_.back().event.seq <= durable) {
      batch_.swap(pending_);  // all of them (batch_ is empty)
    } else {
      std::size_t n = 0;
      while (n < pending_.size() && pending_[n].event.seq <= durable) {
        batch_.push_back(std::move(pending_[n]));
        ++n;
      }
      pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n));
    }
  }
  if (batch_.empty()) return;
  std::size_t applied = 0;
  {
    std::unique_lock pl(proj_mu_);
    for (auto& p : batch_) {
      const std::uint64_t seq = p.event.seq;
      Status s = proj_.apply(std::move(p.event), p.encoded, p.rows);
      if (!s.ok()) {
        // The writer validated the event against this very state: a refusal is a bug. The
        // log holds the event, so the live state can no longer follow it: stop writing.
        fail(Status::internal("the projection refused the writer's own event " +
                              std::to_string(seq) + " (" + s.to_string() +
                              "); reopen the registry"));
        break;
      }
      ++applied;
    }
    // Applied before anything is published: whoever sees an event on the bus can ask the
    // replay service for it (its head is applied_seq). Stored under the lock, so that a
    // snapshot captured from the projection is never ahead of the head a later reply gives.
    applied_seq_.store(proj_.last_seq());
  }
  if (listener_ && applied > 0) notify_listener(applied);
  for (std::size_t i = 0; i < applied; ++i) {
    hooks_.publish(batch_[i].event.seq, std::move(batch_[i].hooks));
  }
}

void Applier::notify_listener(std::size_t applied) {
  const std::uint64_t epoch = proj_.epoch();
  ClearOnExit<CommittedEvent> clear_committed(committed_);
  try {
    committed_.reserve(applied);
  } catch (const std::bad_alloc&) {  // no room for the list: one event per call, below
  }
  for (std::size_t i = 0; i < applied; ++i) {
    const Pending& p = batch_[i];
    const CommittedEvent e{p.event.seq, epoch, p.table, p.encoded, p.hooks};
    if (committed_.capacity() >= applied) {
      committed_.push_back(e);  // no allocation: reserved
    } else {
      listener_(std::span<const CommittedEvent>(&e, 1));
    }
  }
  if (!committed_.empty()) listener_(committed_);
}

Result<std::uint64_t> Applier::attach(CommitListener listener,
                                      const std::function<void(const ChainHeads&)>& start) {
  std::lock_guard al(apply_mu_);
  if (listener_token_ != 0) {
    return Status::unavailable("a publisher is attached to this writer already");
  }
  ChainHeads heads;
  {
    std::shared_lock pl(proj_mu_);
    heads.seq = proj_.last_seq();
    heads.epoch = log_ ? log_->epoch() : proj_.epoch();
    proj_.for_each_table([&](const std::string& name, const Table& t) {
      if (t.last_seq() != 0) heads.tables.emplace(name, t.last_seq());
    });
    heads.registered = proj_.hook_head(HookTopic::kChildRegistered);
    heads.unregistered = proj_.hook_head(HookTopic::kChildUnregistered);
  }
  start(heads);
  listener_ = std::move(listener);
  listener_token_ = next_listener_token_++;
  return listener_token_;
}

void Applier::detach(std::uint64_t token) {
  std::lock_guard al(apply_mu_);
  if (token == 0 || listener_token_ != token) return;
  listener_ = nullptr;
  listener_token_ = 0;
}

}  // namespace procreg::replay
