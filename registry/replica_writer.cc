// A replica's writes (registry/replica_writer.h).
#include "registry/replica_writer.h"

#include <algorithm>

#include "events/decoder.h"
#include "events/row_codec.h"
#include "registry/timing.h"

namespace procreg::replay {

std::vector<HookEvent> ReplicatedEvent::hook_events() const {
  if (decoded) return hook_events_of(*decoded);
  std::vector<HookEvent> out;
  if (!scanned.hooks) return out;
  // The scan accepted these bytes only if the decoder does: they decode.
  NodePids node_pids;
  // The Decoder keeps a reference to its limits: they must outlive it.
  const events::DecodeLimits limits = events::record_limits(0xffffffffu);
  events::Decoder d(scanned.row.parts.node_pids, limits, "node_pids");
  if (!events::read_node_pids(d, &node_pids) || !d.finish()) return out;
  out.push_back(HookEvent{HookTopic::kChildRegistered, std::string(scanned.hub),
                          std::string(scanned.table), ChildId(scanned.row.id), std::move(node_pids),
                          scanned.seq});
  return out;
}

Status ReplicatedEvent::apply_to(Projection& projection) {
  return decoded ? projection.apply(std::move(*decoded)) : projection.apply(scanned);
}

void ReplicaWriter::advance(std::uint64_t epoch, std::uint64_t seq) {
  std::lock_guard l(position_mu_);
  epoch_.store(epoch);
  applier_.set_applied_seq(seq);
}

Status ReplicaWriter::wait_replicated(std::uint64_t seq, std::uint64_t epoch,
                                      std::chrono::steady_clock::time_point deadline) {
  std::unique_lock l(position_mu_);
  if (!position_cv_.wait_until(l, deadline, [&] {
        return (epoch == 0 || epoch_.load() == epoch) && applier_.applied_seq() >= seq;
      })) {
    return Status::timeout("committed as event " + std::to_string(seq) +
                           ", not yet applied by this replica");
  }
  return Status();
}

Result<std::uint64_t> ReplicaWriter::remote_write(
    const WriteOptions& o, const std::function<Result<RemoteCommit>()>& call) {
  const auto deadline = std::chrono::steady_clock::now() + o.timeout;
  Result<RemoteCommit> commit = call();
  if (!commit.ok()) return commit.status();
  Status s = wait_replicated(commit->seq, commit->epoch, deadline);
  if (!s.ok()) return s;
  return commit->seq;
}

void ReplicaWriter::commit_many(std::span<const Write>, std::span<Result<std::uint64_t>> out,
                                Grouping) {
  for (auto& r : out) {
    r = Status::unavailable("TTL expiry and local writes belong to the hub's writer");
  }
}

Result<std::uint64_t> ReplicaWriter::insert(ChildSpec spec, NodePids node_pids,
                                            const InsertOptions& o) {
  return remote_write(o, [&] { return remote_->insert(spec, node_pids, o); });
}

Result<std::uint64_t> ReplicaWriter::bulk_insert(std::vector<Entry> children,
                                                 const WriteOptions& o) {
  return remote_write(o, [&] { return remote_->bulk_insert(children, o); });
}

Result<std::uint64_t> ReplicaWriter::erase(std::string_view child_id, const WriteOptions& o) {
  return remote_write(o, [&] { return remote_->erase(ChildId(child_id), o); });
}

Result<std::uint64_t> ReplicaWriter::bulk_delete(
    std::vector<std::pair<ChildId, std::vector<NodeName>>> children, const WriteOptions& o) {
  return remote_write(o, [&] { return remote_->bulk_delete(children, o); });
}

Result<std::uint64_t> ReplicaWriter::clear_all(const WriteOptions& o) {
  return remote_write(o, [&] { return remote_->clear_all(o); });
}

Result<std::uint64_t> ReplicaWriter::node_down(std::string_view node, const WriteOptions& o) {
  return remote_write(o, [&] { return remote_->node_down(NodeName(node), o); });
}

Result<std::uint64_t> ReplicaWriter::update(std::string_view child_id, const UpdateFn& fn,
                                            const WriteOptions& o) {
  using SteadyClock = std::chrono::steady_clock;
  const auto deadline = SteadyClock::now() + o.timeout;
  for (int attempt = 1;; ++attempt) {
    Entry current;
    std::uint64_t revision = 0;
    std::uint64_t seen = 0;
    {
      std::shared_lock lock(proj_mu_);
      const Table* t = proj_.table(table_name(o.table));
      const StoredRow* row = t == nullptr ? nullptr : t->find(child_id);
      if (row == nullptr || !row->bound()) return Status::not_found("No child found");
      current = row->entry();
      revision = row->seq;
      seen = proj_.last_seq();
    }
    Entry next;
    try {
      next = fn(current.spec, current.node_pids, current.metadata);
    } catch (const std::exception& e) {
      return Status::internal(std::string("update function threw: ") + e.what());
    } catch (...) {
      return Status::internal("update function threw a non-standard exception");
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
    if (left.count() <= 0) return Status::timeout("update not done within " + ms_text(o.timeout));
    WriteOptions once = o;
    once.timeout = left;
    Result<RemoteCommit> commit = remote_->update_if(ChildId(child_id), revision, next, once);
    if (commit.ok()) {
      Status s = wait_replicated(commit->seq, commit->epoch, deadline);
      if (!s.ok()) return s;
      return commit->seq;
    }
    if (commit.status().code() != Code::kConflict) return commit.status();
    // The writer's row moved on: wait for this replica to see more, then run fn again.
    (void)wait_replicated(seen + 1, 0,
                          std::min(deadline, SteadyClock::now() + std::chrono::seconds(1)));
    if (SteadyClock::now() >= deadline) {
      return Status::timeout("update kept conflicting for " + ms_text(o.timeout) + " (" +
                             std::to_string(attempt) + " attempts)");
    }
  }
}

Result<std::uint64_t> ReplicaWriter::write_one(Op& op) {
  using Kind = decltype(Op::kind);
  switch (op.kind) {
    case Kind::kInsert:
      return insert(std::move(op.spec), std::move(op.node_pids), op.options);
    case Kind::kBulkInsert:
      return bulk_insert(std::move(op.children), op.options);
    case Kind::kErase:
      return erase(op.child_id, op.options);
    case Kind::kBulkDelete:
      return bulk_delete(std::move(op.nodes), op.options);
    case Kind::kUpdate:
      return update(op.child_id, op.fn, op.options);
    case Kind::kClearAll:
      break;
  }
  return clear_all(op.options);
}

std::vector<Result<std::uint64_t>> ReplicaWriter::write(std::vector<Op>& ops) {
  // One command each: the command channel carries single writes.
  std::vector<Result<std::uint64_t>> out;
  out.reserve(ops.size());
  for (Op& op : ops) out.push_back(write_one(op));
  return out;
}

void ReplicaWriter::submit(std::vector<Op> ops, WriteDone done) {
  if (ops.empty()) return done({});
  const std::size_t n = ops.size();
  Status refused;
  {
    std::lock_guard l(submit_mu_);
    if (closing_) {
      refused = Status::unavailable("registry closing; nothing written");
    } else if (submitted_writes_ + n > max_submitted_writes_ && submitted_writes_ > 0) {
      counters_.writes_refused_queue_full.fetch_add(n);
      refused = Status::resource_exhausted(
          "the replica's submissions hold their limit of " + std::to_string(max_submitted_writes_) +
          " writes (RegistryOptions::max_queued_writes); nothing written");
    } else {
      try {
        if (!submit_thread_.joinable()) {
          submit_thread_ = std::thread(&ReplicaWriter::run_submissions, this);
        }
        submitted_.push_back(Submitted{std::move(ops), done});  // (done stays, for a refusal)
        submitted_writes_ += n;
      } catch (const std::exception& e) {
        refused = Status::resource_exhausted(std::string("cannot queue the submission (") +
                                             e.what() + "); nothing written");
      }
    }
  }
  if (refused.ok()) {
    submit_cv_.notify_one();
    return;
  }
  done(std::vector<Result<std::uint64_t>>(n, refused));
}

void ReplicaWriter::run_submissions() {
  std::unique_lock l(submit_mu_);
  for (;;) {
    submit_cv_.wait(l, [&] { return closing_ || !submitted_.empty(); });
    if (submitted_.empty()) return;  // closing
    Submitted next = std::move(submitted_.front());
    submitted_.pop_front();
    const bool refuse = closing_;
    l.unlock();
    std::vector<Result<std::uint64_t>> out;
    out.reserve(next.ops.size());
    for (Op& op : next.ops) {
      if (refuse) {
        out.emplace_back(Status::unavailable("registry closing; nothing written"));
      } else if (op.kind == decltype(Op::kind)::kUpdate) {
        counters_.invalid_calls.fetch_add(1);
        out.emplace_back(Status::invalid_argument(
            "an update function in a submitted batch (it would run on the submission thread): "
            "use Registry::write or Registry::update; nothing written"));
      } else {
        out.push_back(write_one(op));
      }
    }
    try {
      next.done(std::move(out));
    } catch (...) {  // documented: a completion's exception is dropped
    }
    l.lock();
    submitted_writes_ -= next.ops.size();
  }
}

void ReplicaWriter::close() {
  {
    std::lock_guard l(submit_mu_);
    closing_ = true;
  }
  submit_cv_.notify_one();
  if (submit_thread_.joinable()) submit_thread_.join();
}

Result<std::uint64_t> ReplicaWriter::update_if(std::string_view child_id,
                                               std::uint64_t expect_revision, const Entry& entry,
                                               const WriteOptions& o) {
  const ChildId id(child_id);
  return remote_write(o, [&] { return remote_->update_if(id, expect_revision, entry, o); });
}

}  // namespace procreg::replay
