// procreg serve --election (tools/procreg/election_cmd.h).
#include "tools/procreg/election_cmd.h"

#include <filesystem>
#include <iostream>

#include "plugin/election/etcd_client.h"
#include "procreg/election.h"
#include "procreg/registry.h"
#include "tools/common/signals.h"
#include "tools/procreg/json_convert.h"

namespace procreg::cli {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// How complete the log in `dir` is (none: all zero). A log that cannot be read counts as
// empty, said on stderr: this member then campaigns last.
MemberProgress local_progress(const std::string& dir) {
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec) || std::filesystem::is_empty(dir, ec)) return {};
  ReplayOptions ro;
  ro.log_dir = dir;
  auto r = Registry::open_replay(ro);
  if (!r.ok()) {
    std::cerr << "procreg: the log in " << dir << " cannot be read (" << r.status().to_string()
              << "); this member counts as holding nothing\n";
    return {};
  }
  return {(*r)->epoch(), (*r)->term(), (*r)->last_sequence()};
}

// The writer's endpoints from what its leader key proclaimed; a service it did not name is off.
HubEndpoints endpoints_of(const nlohmann::ordered_json& j, const std::string& hub) {
  HubEndpoints e;
  e.fill(j);
  if (e.hub.empty()) e.hub = hub;
  if (e.bus.empty()) e.bus = "none";
  if (e.command.empty()) e.command = "none";
  return e;
}

// An elector, once etcd answers (nullptr: stopped first). Says once that etcd is away.
std::unique_ptr<Elector> start_elector(const ElectionRunOptions& o, const tools::Signals& signals,
                                       Clock::time_point deadline) {
  ElectionOptions eo;
  eo.url = o.url;
  eo.name = o.name;
  eo.ttl_s = o.ttl_s;
  eo.request_timeout = milliseconds(std::min<std::int64_t>(1'000, o.ttl_s * 1000 / 3));
  bool said = false;
  for (;;) {
    auto e = Elector::start(eo);
    if (e.ok()) return std::move(*e);
    if (e.status().code() == Code::kInvalidArgument) usage_error(e.status().message());
    if (!said) {
      out_line(dump_line({{"event", "election_unavailable"}, {"error", e.status().to_string()}}));
      said = true;
    }
    if (tools::Signals::stops(signals.wait(milliseconds(500))) || Clock::now() >= deadline) {
      return nullptr;
    }
  }
}

enum class Outcome { kMoveOn, kDone };

// Standby of whoever leads, or idle, until this member wins or loses its lease (kMoveOn), or a
// signal, --seconds or a failed standby ends the run (kDone, *code set).
Outcome follow(const ElectionRunOptions& o, Elector& elector, const tools::Signals& signals,
               Clock::time_point deadline, const RunStandby& standby, MemberProgress* mine,
               int* code) {
  const std::int64_t own = elector.stats().lease_id;
  while (!elector.won() && !elector.lost()) {
    const std::optional<ElectionLeader> leader = elector.leader();
    if (leader && !leader->value.empty() && leader->lease != own) {
      nlohmann::ordered_json value = nlohmann::ordered_json::object();
      try {
        value = nlohmann::ordered_json::parse(leader->value);
      } catch (const std::exception&) {
        // not what a leader proclaims: no endpoints
      }
      const HubEndpoints writer_at = endpoints_of(value, o.hub);
      out_line(
          dump_line({{"event", "following"}, {"term", leader->rev}, {"replay", writer_at.replay}}));
      bool moved_on = false;
      *code = standby(writer_at, [&](const StandbyStats& s) {
        if (Clock::now() >= deadline) return true;  // --seconds: done
        if (s.epoch != 0) {
          *mine = {s.epoch, s.term, s.copied_seq};
          elector.set_progress(*mine);
        }
        moved_on = elector.won() || elector.lost() || elector.leader() != leader;
        return moved_on;
      });
      if (!moved_on) return Outcome::kDone;
      continue;
    }
    const int sig = signals.wait(milliseconds(50));
    if (tools::Signals::stops(sig) || Clock::now() >= deadline) {
      *code = kExitOk;
      return Outcome::kDone;
    }
  }
  return Outcome::kMoveOn;
}

// This member won: serve's writer at the leader key's revision, until the lease is lost.
Outcome lead(const ElectionRunOptions& o, Elector& elector, const MemberProgress& mine,
             Clock::time_point deadline, const RunWriter& writer, int* code) {
  const Elector::Won won = *elector.won();
  const auto term = static_cast<std::uint64_t>(won.key.rev);
  if (term <= mine.term) {
    throw CliError(kExitFailure,
                   "elected at term " + std::to_string(term) + " (etcd's revision), but the log " +
                       "already holds term " + std::to_string(mine.term) +
                       ": was etcd's data reset? A writer cannot take a lower term (fenced)");
  }
  out_line(dump_line({{"event", "elected"}, {"term", term}, {"seq", mine.seq}}));
  bool stepped_down = false;
  *code = writer(
      term, won.lease,
      [&](const nlohmann::json& endpoints) {
        nlohmann::json value = endpoints;
        value["term"] = term;
        value["member"] = o.name;
        if (Status s = elector.proclaim(value.dump()); !s.ok()) {
          std::cerr << "procreg: cannot proclaim the endpoints in etcd: " << s.to_string() << "\n";
        }
      },
      [&] { return (stepped_down = elector.lost()) || Clock::now() >= deadline; });
  if (!stepped_down) return Outcome::kDone;
  out_line(
      dump_line({{"event", "stepped_down"}, {"term", term}, {"reason", elector.lost_reason()}}));
  if (o.exit_when_fenced) {
    throw CliError(kExitFailure, "the writer of term " + std::to_string(term) + " stepped down (" +
                                     elector.lost_reason() +
                                     ") and exits, as --when-fenced exit asks");
  }
  return Outcome::kMoveOn;
}

}  // namespace

int run_elected(const ElectionRunOptions& o, const RunStandby& standby, const RunWriter& writer) {
  const tools::Signals signals;  // before any thread starts
  const auto deadline = deadline_after(o.seconds);
  for (;;) {
    std::unique_ptr<Elector> elector = start_elector(o, signals, deadline);
    if (!elector) return kExitOk;
    MemberProgress mine = local_progress(o.log_dir);
    elector->set_progress(mine);
    elector->set_candidate(true);
    int code = kExitOk;
    if (follow(o, *elector, signals, deadline, standby, &mine, &code) == Outcome::kDone) {
      return code;
    }
    if (elector->won() && lead(o, *elector, mine, deadline, writer, &code) == Outcome::kDone)
      return code;
    if (!elector->won()) {
      out_line(dump_line({{"event", "lease_lost"}, {"reason", elector->lost_reason()}}));
    }
    // A new elector, a new lease: this member starts over as a standby.
  }
}

nlohmann::ordered_json leader_endpoints(const std::string& url, milliseconds timeout) {
  auto parsed = etcd::parse_url(url);
  if (!parsed.ok()) usage_error(parsed.status().message());
  etcd::Client client(parsed->host, parsed->port);
  auto leader = client.leader(parsed->prefix + "/leader", timeout);
  if (!leader.ok()) {
    throw CliError(kExitUnreachable, "etcd at " + url + ": " + leader.status().to_string());
  }
  if (!*leader || (*leader)->value.empty()) {
    throw CliError(kExitUnreachable, "no writer leads the hub at " + url + " now");
  }
  try {
    return nlohmann::ordered_json::parse((*leader)->value);
  } catch (const std::exception& e) {
    throw CliError(kExitFailure, "the leader at " + url + " proclaimed no endpoints: " + e.what());
  }
}

}  // namespace procreg::cli
