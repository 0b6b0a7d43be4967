// procreg::replay: synchronous replication's bookkeeping on a writer
// (RegistryOptions::sync_standbys).
//
// Standbys tell the writer, through the replay service, the highest seq their copy holds on
// disk (ack). With k = sync_standbys > 0, the k-th highest of the acks of the standbys heard
// from within standby_timeout is the replicated seq, and the log counts a record as durable
// (so applies, publishes and acknowledges it) only once it is both on this disk and
// replicated that far (Log::gate_replication). A write is refused at once with kUnavailable,
// nothing written, while fewer than k standbys are in sync (heard from within
// standby_timeout). With k = 0 the acks are only recorded, for stats.
//
// It also holds the writer's leadership lease, if any (RegistryOptions::lease): writes are
// refused while the lease is not held, and the log's durability point is gated on it
// (Log::gate_permit).
//
// Thread safety: every method from any thread. Its lock is never held while calling the Log.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "log/log.h"
#include "procreg/status.h"
#include "procreg/write_lease.h"

namespace procreg::replay {

class ReplicationTracker {
 public:
  struct StandbyState {
    std::string name;
    std::uint64_t acked_seq = 0;
    std::chrono::milliseconds since_ack{0};
    bool in_sync = false;  // heard from within standby_timeout
  };

  // `log` must outlive the tracker; with k > 0 or a lease it is gated here.
  ReplicationTracker(Log& log, std::size_t k, std::chrono::milliseconds standby_timeout,
                     std::shared_ptr<WriteLease> lease = nullptr);
  ~ReplicationTracker();  // releases the lease's callback
  ReplicationTracker(const ReplicationTracker&) = delete;
  ReplicationTracker& operator=(const ReplicationTracker&) = delete;

  // The standby `name` holds every record up to `seq` on its disk.
  void ack(const std::string& name, std::uint64_t seq);
  // ok while the lease (if any) is held and at least k standbys are in sync (always with
  // k = 0); else kUnavailable, saying which.
  Status check_writable() const;
  std::size_t required() const { return k_; }
  std::uint64_t replicated_seq() const;
  std::vector<StandbyState> standbys() const;
  std::uint64_t writes_refused() const;
  void count_refused();

 private:
  struct Ack {
    std::uint64_t seq = 0;
    std::chrono::steady_clock::time_point at;
  };
  // The k-th highest ack among the standbys in sync at `now` (0 if fewer than k).
  std::uint64_t kth_locked(std::chrono::steady_clock::time_point now) const;

  Log& log_;
  const std::size_t k_;
  const std::chrono::milliseconds timeout_;
  const std::shared_ptr<WriteLease> lease_;
  mutable std::mutex mu_;
  std::map<std::string, Ack> acks_;
  std::uint64_t replicated_ = 0;
  std::uint64_t refused_ = 0;
};

}  // namespace procreg::replay
