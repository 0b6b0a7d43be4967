// procreg::replay: a replica's writes (registry/writer.h): each goes to the hub's writer
// through a RemoteWriter (registry/remote_writer.h; plugin/ implements it over the command
// channel), then waits until this replica applied the seq the writer answered, of that epoch
// (read-your-writes). update runs its function here, on the replica's state, and sends the
// result as a conditional write, again while the writer's row moved on.
//
// The replica's position (the epoch of its state and the seq it applied) is advanced by
// RegistryAccess as events and snapshots arrive from the bus; advance() wakes the writes
// waiting for it. Local-only writes (TTL expiry, conditional updates) are kUnavailable.
//
// Submissions (Registry::submit) run one batch after another on a submission thread of the
// replica's (started by the first, joined by close()), each as write() would, and complete
// there; at most `max_submitted_writes` writes wait or run at once (more: kResourceExhausted).
// An update function in a submitted batch is refused, as on the writer.
//
// Thread safety: every method may be called from any thread. position_mu_ is a leaf, taken
// under the projection's lock; submit_mu_ is a leaf too.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "events/row_scan.h"
#include "procreg/event.h"
#include "procreg/hooks.h"
#include "registry/applier.h"
#include "registry/remote_writer.h"
#include "registry/writer.h"

namespace procreg::replay {

// One event a replica applies (RegistryAccess::apply_replicated): an insert as procreg writes
// it, scanned from its bytes (events/row_scan.h) and applied from them as replay applies a
// log's, or any event decoded. A scanned insert's views point into bytes its holder keeps
// until the event is applied.
struct ReplicatedEvent {
  std::optional<Event> decoded;   // set: the event decoded
  events::ScannedInsert scanned;  // otherwise: the insert scanned

  std::uint64_t seq() const { return decoded ? decoded->seq : scanned.seq; }
  std::uint64_t epoch() const { return decoded ? decoded->epoch : scanned.epoch; }
  std::string_view hub() const { return decoded ? std::string_view(decoded->hub) : scanned.hub; }
  // hook_events_of (procreg/hooks.h) of the event: an insert written with hooks fires
  // child_registered with its node_pids.
  std::vector<HookEvent> hook_events() const;
  // Projection::apply of the event (its decoded form is moved from).
  Status apply_to(Projection& projection);
};

class ReplicaWriter final : public Writer {
 public:
  ReplicaWriter(const Projection& proj, std::shared_mutex& proj_mu, Applier& applier,
                const std::string& hub, std::shared_ptr<RemoteWriter> remote,
                WriteCounters& counters, std::size_t max_submitted_writes)
      : Writer(proj, proj_mu),
        applier_(applier),
        hub_(hub),
        remote_(std::move(remote)),
        counters_(counters),
        max_submitted_writes_(max_submitted_writes) {}
  ~ReplicaWriter() override { close(); }

  void commit_many(std::span<const Write> writes, std::span<Result<std::uint64_t>> out,
                   Grouping grouping) override;
  Result<std::uint64_t> insert(ChildSpec spec, NodePids node_pids, const InsertOptions& o) override;
  Result<std::uint64_t> bulk_insert(std::vector<Entry> children, const WriteOptions& o) override;
  Result<std::uint64_t> erase(std::string_view child_id, const WriteOptions& o) override;
  Result<std::uint64_t> bulk_delete(std::vector<std::pair<ChildId, std::vector<NodeName>>> children,
                                    const WriteOptions& o) override;
  Result<std::uint64_t> update(std::string_view child_id, const UpdateFn& fn,
                               const WriteOptions& o) override;
  Result<std::uint64_t> clear_all(const WriteOptions& o) override;
  Result<std::uint64_t> node_down(std::string_view node, const WriteOptions& o) override;
  std::vector<Result<std::uint64_t>> write(std::vector<Op>& ops) override;
  // A remote update's conditional write, forwarded to the hub's writer (RemoteWriter::update_if).
  Result<std::uint64_t> update_if(std::string_view child_id, std::uint64_t expect_revision,
                                  const Entry& entry, const WriteOptions& o);
  void submit(std::vector<Op> ops, WriteDone done) override;
  // Runs the submissions under way, refuses the queued ones (kUnavailable), joins.
  void close() override;

  // The replica's state is now at `seq` of log `epoch`: stores both (the applier's seq) and
  // wakes the writes waiting for it. Call it with the projection's lock held when the state
  // changed under it, so that whoever sees the new epoch sees its seq too.
  void advance(std::uint64_t epoch, std::uint64_t seq);
  void notify() { position_cv_.notify_all(); }

 private:
  // The remote call, then the wait until this replica applied its seq.
  Result<std::uint64_t> remote_write(const WriteOptions& o,
                                     const std::function<Result<RemoteCommit>()>& call);
  // Waits until this replica applied `seq` of log `epoch` (0: the current one) or the
  // deadline (kTimeout).
  Status wait_replicated(std::uint64_t seq, std::uint64_t epoch,
                         std::chrono::steady_clock::time_point deadline);
  const std::string& table_name(const std::string& t) const { return t.empty() ? hub_ : t; }
  Result<std::uint64_t> write_one(Op& op);
  void run_submissions();

  struct Submitted {
    std::vector<Op> ops;
    WriteDone done;
  };

  Applier& applier_;
  const std::string& hub_;
  const std::shared_ptr<RemoteWriter> remote_;
  std::mutex position_mu_;
  std::atomic<std::uint64_t> epoch_{0};  // the epoch of the replica's state
  std::condition_variable position_cv_;

  WriteCounters& counters_;
  const std::size_t max_submitted_writes_;
  std::mutex submit_mu_;
  std::condition_variable submit_cv_;
  std::deque<Submitted> submitted_;   // under submit_mu_
  std::size_t submitted_writes_ = 0;  // queued or running; under submit_mu_
  bool closing_ = false;              // under submit_mu_
  std::thread submit_thread_;
};

}  // namespace procreg::replay
