// procreg promote: turn a running standby (`procreg serve --standby-of`) into the hub's writer
// (docs/CLI.md, "promote").
//
// It asks the standby and every --peer (other standbys, or anything with a stats endpoint) for
// their stats first, and refuses unless the standby's copy is the most complete of the same
// log: promoting a copy that lacks events another standby holds would lose writes the old
// writer may have acknowledged. Then it sends "promote" to the standby, which checks that its
// writer has gone quiet, stops copying and serves its copy as the writer at the next term.
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include <zmq.hpp>

#include "tools/common/files.h"
#include "tools/procreg/cli.h"
#include "tools/procreg/commands.h"
#include "tools/procreg/json_convert.h"
#include "tools/procreg/security_flags.h"

namespace procreg::cli {

namespace {

struct PromoteOptions {
  std::string stats;               // the standby's stats endpoint, or its endpoints file
  std::vector<std::string> peers;  // other standbys' stats endpoints, or endpoints files
  bool force = false;
  int timeout_ms = 3'000;
  CurveFlags curve;
};

struct CopyState {
  std::string role;
  std::uint64_t epoch = 0;
  std::uint64_t copied_seq = 0;
  std::uint64_t last_term = 0;  // of the copy's last record (0: an older build's, or none)
  // Which copy of one log is the more complete: the higher last term, then the higher seq.
  bool behind(const CopyState& other) const {
    return std::pair(last_term, copied_seq) < std::pair(other.last_term, other.copied_seq);
  }
};

// A stats endpoint ("tcp://...", "ipc://...") as it is, or the "stats" of an endpoints file
// (as serve --endpoints-file writes it).
std::string stats_endpoint(const std::string& endpoint_or_file) {
  if (endpoint_or_file.find("://") != std::string::npos) return endpoint_or_file;
  try {
    return Json::parse(tools::read_file(endpoint_or_file)).at("stats").get<std::string>();
  } catch (const std::exception& e) {
    usage_error("cannot read a stats endpoint from " + endpoint_or_file + ": " + e.what());
  }
}

CopyState copy_state(const Json& j) {
  CopyState c;
  c.role = j.value("role", std::string("writer"));
  // The epoch is a decimal string (json_convert.h, id_json).
  const auto epoch = j.find("epoch");
  if (epoch != j.end() && epoch->is_string()) {
    c.epoch = std::strtoull(epoch->get<std::string>().c_str(), nullptr, 10);
  } else if (epoch != j.end() && epoch->is_number_unsigned()) {
    c.epoch = epoch->get<std::uint64_t>();  // an older build's
  }
  c.copied_seq = j.value("last_seq", std::uint64_t{0});
  if (auto s = j.find("standby"); s != j.end() && s->is_object()) {
    c.last_term = s->value("last_term", std::uint64_t{0});
  }
  return c;
}

// Refuses (exit 1) unless `target` is a standby whose copy is at least as complete as every
// peer standby's of the same log; a peer that answers as a writer is a live writer.
void check_most_complete(const PromoteOptions& o, const CopyState& target, zmq::context_t& context,
                         const CurveOptions& curve) {
  if (target.role != "standby") {
    throw CliError(kExitFailure,
                   stats_endpoint(o.stats) + " is a " + target.role + ", not a standby");
  }
  for (const std::string& given : o.peers) {
    const std::string peer = stats_endpoint(given);
    Json j;
    try {
      j = ask_stats_endpoint(context, peer, curve, "stats",
                             std::chrono::milliseconds(o.timeout_ms));
    } catch (const CliError& e) {
      if (e.code != kExitUnreachable) throw;
      out_line(dump_line({{"event", "peer_unreachable"}, {"peer", peer}}));
      continue;  // a peer that does not answer cannot be compared: said, not fatal
    }
    const CopyState p = copy_state(j);
    if (p.role != "standby") {
      if (o.force) continue;
      throw CliError(kExitFailure,
                     "a " + p.role + " still answers at " + peer + ": stop it first (or --force)");
    }
    if (p.epoch == target.epoch && target.behind(p) && !o.force) {
      const auto held = [](const CopyState& c) {
        return "seq " + std::to_string(c.copied_seq) + " of term " + std::to_string(c.last_term);
      };
      throw CliError(kExitFailure, "the standby at " + peer + " holds " + held(p) + ", this one " +
                                       held(target) +
                                       ": promote that one (or --force, losing what it holds "
                                       "that this one does not)");
    }
  }
}

int run_promote(const PromoteOptions& o) {
  const CurveOptions curve = o.curve.client_options();
  zmq::context_t context;
  const auto timeout = std::chrono::milliseconds(o.timeout_ms);
  const std::string standby = stats_endpoint(o.stats);
  const CopyState target =
      copy_state(ask_stats_endpoint(context, standby, curve, "stats", timeout));
  check_most_complete(o, target, context, curve);
  const Json reply =
      ask_stats_endpoint(context, standby, curve, o.force ? "promote force" : "promote", timeout);
  out_line(dump_line(reply));
  if (!reply.value("promoted", false)) {
    throw CliError(kExitFailure, "not promoted: " + reply.value("error", std::string("?")));
  }
  return kExitOk;
}

}  // namespace

void add_promote_command(CLI::App& app, Commands* commands) {
  auto o = std::make_shared<PromoteOptions>();
  CLI::App* sub =
      app.add_subcommand("promote", "Make a running standby the hub's writer, at the next term");
  sub->add_option("--stats", o->stats,
                  "the standby's stats endpoint, or its endpoints file (--endpoints-file)")
      ->required();
  sub->add_option("--peer", o->peers,
                  "another standby's stats endpoint or endpoints file: refuse unless this copy "
                  "is the most complete (repeat for each)");
  sub->add_flag("--force", o->force,
                "promote even if the writer still answers the standby, or a peer is ahead");
  sub->add_option("--timeout-ms", o->timeout_ms, "per request")
      ->check(CLI::Range(1, 3'600'000))
      ->capture_default_str();
  o->curve.add_client_options(sub);
  commands->push_back({sub, [o] { return run_promote(*o); }});
}

}  // namespace procreg::cli
