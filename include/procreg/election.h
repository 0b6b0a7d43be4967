// procreg: Elector, automatic failover through etcd's election API (docs/CLI.md, "serve
// --election"; docs/PROTOCOL.md, "Election").
//
// Every member of a hub (its writer and its standbys) runs one Elector on the same etcd prefix.
// The elector holds an etcd lease, kept alive from a thread of its own, and under it:
//   - a member key, PREFIX/members/NAME, whose value (JSON) says how complete this member's copy
//     of the log is: {"name", "epoch", "term", "seq"} (set_progress());
//   - while it is a candidate and the election PREFIX/leader has no leader, a campaign, but only
//     if no other member's copy is more complete: a higher (term, seq), or the same with a
//     smaller name. With synchronous replication every acknowledged write is on k standbys,
//     so the most complete copy among the members holds it (unless the writer and all k of
//     them are gone at once). A member that won re-reads the members and resigns if one is
//     ahead after all.
// The leader key's revision is the new writer's term: etcd's revisions only grow, so every
// election gives a higher term than any before it on the same etcd cluster.
//
// The winner gets a WriteLease (include/procreg/write_lease.h) for its registry
// (RegistryOptions::lease): it is extended after each keep-alive etcd confirmed, to the time
// the keep-alive was sent plus the TTL etcd answered less a margin, and lost for good when
// etcd says the lease is gone or another key leads. So the writer stops acknowledging before
// etcd can expire its lease and elect another. Once lost() the elector is done: a member that
// should go on (as a standby) starts a new one, with a new lease.
//
// Thread safety: every method from any thread. Blocking etcd requests run on the elector's own
// two threads (keep-alive; campaign and watch); no method waits for etcd except proclaim().
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "procreg/status.h"
#include "procreg/write_lease.h"

namespace procreg {

struct ElectionOptions {
  // etcd://HOST:PORT/PREFIX: etcd's v3 JSON gateway (plain HTTP: keep it on loopback or a
  // trusted network) and the key prefix of this hub's election.
  std::string url;
  std::string name;        // this member's name: unique among the hub's members
  std::int64_t ttl_s = 5;  // the lease's TTL asked of etcd (it may grant more), 1 to 3600
  // How often the elector looks at the leader and the members (and publishes its progress).
  std::chrono::milliseconds poll_interval{100};
  // Each etcd request; at most a third of the TTL.
  std::chrono::milliseconds request_timeout{300};
};

// How complete a member's copy of the log is.
struct MemberProgress {
  std::uint64_t epoch = 0;
  std::uint64_t term = 0;  // the highest term the copy holds (or its writer said)
  std::uint64_t seq = 0;   // the copy holds every record up to it, on disk
  bool operator==(const MemberProgress&) const = default;
};

// The leader as etcd holds it.
struct ElectionLeader {
  std::string key;         // the leader's key in etcd
  std::int64_t rev = 0;    // its create revision: the writer's term
  std::int64_t lease = 0;  // the etcd lease it lives under
  std::string value;       // what the leader proclaimed: its endpoints (JSON)
  bool operator==(const ElectionLeader&) const = default;
};

struct ElectorStats {
  std::int64_t lease_id = 0;
  std::int64_t lease_ttl_s = 0;  // as etcd granted it
  std::uint64_t keepalives = 0;  // confirmed by etcd
  std::uint64_t keepalive_failures = 0;
  std::uint64_t campaigns = 0;          // campaigns started
  std::uint64_t campaigns_yielded = 0;  // won, then resigned: another member was ahead
  std::uint64_t request_failures = 0;   // etcd requests of the watch loop that failed
  std::uint64_t term = 0;               // the term won (0: none)
};

class Elector {
 public:
  // Grants the lease and starts the threads. kInvalidArgument for a bad url, name or TTL;
  // kUnavailable (or etcd's error) when etcd cannot grant the lease.
  static Result<std::unique_ptr<Elector>> start(const ElectionOptions& options);
  ~Elector();  // stop()
  Elector(const Elector&) = delete;
  Elector& operator=(const Elector&) = delete;

  // Published in the member key within a poll interval (and refreshed while it has no leader).
  void set_progress(const MemberProgress& progress);
  // Campaign when there is no leader and this member is the most complete (default: false).
  void set_candidate(bool candidate);
  // The leader last seen (polled every poll_interval), or nullopt while there is none.
  std::optional<ElectionLeader> leader() const;
  // Once this member won: the leader key it holds, and the lease for its registry.
  struct Won {
    ElectionLeader key;
    std::shared_ptr<WriteLease> lease;
  };
  std::optional<Won> won() const;
  // The winner makes its endpoints known (the leader key's value).
  Status proclaim(const std::string& value);
  // The member's lease is gone (expired, revoked, or unconfirmed for two TTLs past its
  // deadline), or a won leadership was lost: this elector is done.
  bool lost() const;
  // Why lost() (empty while not).
  std::string lost_reason() const;
  ElectorStats stats() const;
  // Stops the threads; a leadership still held is resigned and the lease revoked (best
  // effort, one request each). Idempotent.
  void stop();

 private:
  struct Impl;
  explicit Elector(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace procreg
