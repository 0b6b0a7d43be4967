// The applier (registry/applier.h).
#include "registry/applier.h"

#include <string>

#include "registry/timing.h"

namespace procreg::replay {

void Applier::push(std::vector<Pending>& staged) {
  std::lock_guard pl(pending_mu_);
  for (Pending& p : staged) pending_.push_back(std::move(p));
}

void Applier::fail(Status s) {
  std::lock_guard l(failed_mu_);
  if (failed_.ok()) failed_ = std::move(s);
}

Status Applier::failure() const {
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
                           " was appended but is not durable within " + ms_text(timeout) +
                           "; it takes effect if the log's sync succeeds, so its outcome is "
                           "unknown to this call");
  }
  if (!s.ok()) return s;
  apply_durable();
  if (applied_seq_.load() < seq) return failure();
  return seq;
}

void Applier::apply_durable() {
  std::lock_guard al(apply_mu_);
  const std::uint64_t durable = log_->durable_seq();
  std::vector<Pending> batch;
  {
    std::lock_guard pl(pending_mu_);
    while (!pending_.empty() && pending_.front().event.seq <= durable) {
      batch.push_back(std::move(pending_.front()));
      pending_.pop_front();
    }
  }
  if (batch.empty()) return;
  std::size_t applied = 0;
  {
    std::unique_lock pl(proj_mu_);
    for (auto& p : batch) {
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
  const std::uint64_t epoch = proj_.epoch();
  if (listener_ && applied > 0) {
    std::vector<CommittedEvent> committed;
    try {
      committed.reserve(applied);
    } catch (const std::bad_alloc&) {  // no room for the list: one event per call, below
    }
    for (std::size_t i = 0; i < applied; ++i) {
      const Pending& p = batch[i];
      const CommittedEvent e{p.event.seq, epoch, p.table, p.encoded, p.hooks};
      if (committed.capacity() >= applied) {
        committed.push_back(e);  // no allocation: reserved
      } else {
        listener_(std::span<const CommittedEvent>(&e, 1));
      }
    }
    if (!committed.empty()) listener_(committed);
  }
  for (std::size_t i = 0; i < applied; ++i) {
    hooks_.publish(batch[i].event.seq, std::move(batch[i].hooks));
  }
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
