// procreg serve --election etcd://HOST:PORT/PREFIX: a member of a hub with automatic failover
// (docs/CLI.md, "Automatic failover"; include/procreg/election.h).
//
// The member runs an Elector and, by what etcd says, one of:
//   - a standby of the leader, once the leader proclaimed its endpoints (the standby's own
//     loop, run_standby, until the leader changes or this member wins);
//   - idle while there is no leader: its log directory's state is its progress, and it
//     campaigns if it is the most complete member;
//   - the writer, once it won: serve's writer loop at term = the leader key's revision, with
//     the election's WriteLease, proclaiming its endpoints once ready. When the lease is lost
//     (etcd expired it, or another key leads) the writer stops and the member starts over as
//     a standby of whoever leads.
// With --when-fenced exit, a writer that lost its lease exits 1 (saying why) instead.
// Lines it prints, besides the standby's and the writer's: {"event":"elected","term":T},
// {"event":"stepped_down","reason":...}, {"event":"following","term":T,"replay":...}.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "procreg/standby.h"
#include "procreg/write_lease.h"
#include "tools/procreg/cli.h"

namespace procreg::cli {

struct ElectionRunOptions {
  std::string url;  // etcd://HOST:PORT/PREFIX
  std::string name;
  std::int64_t ttl_s = 5;
  std::string log_dir;
  std::string hub;
  double seconds = 0;  // --seconds: the whole run
  // --when-fenced exit: a writer that loses its lease exits (1) instead of becoming a standby.
  bool exit_when_fenced = false;
};

// What run_elected drives: serve's standby and writer loops. `until` is asked every round;
// true ends the loop as if stopped (the election moved on). They return an exit code.
using RunStandby = std::function<int(const HubEndpoints& writer,
                                     const std::function<bool(const StandbyStats&)>& until)>;
using RunWriter = std::function<int(std::uint64_t term, std::shared_ptr<WriteLease> lease,
                                    const std::function<void(const nlohmann::json&)>& on_ready,
                                    const std::function<bool()>& until)>;

int run_elected(const ElectionRunOptions& o, const RunStandby& standby, const RunWriter& writer);

// The endpoints the hub's leader proclaimed (for --endpoints etcd://...): a JSON object as
// serve --endpoints-file writes. Throws CliError: unreachable (3) if etcd does not answer or no
// leader has proclaimed, usage (2) for a bad URL.
nlohmann::ordered_json leader_endpoints(const std::string& url, std::chrono::milliseconds timeout);

}  // namespace procreg::cli
