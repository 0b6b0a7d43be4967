// procreg serve --standby-of: a standby (procreg::Standby) instead of a writer.
//
// It copies the writer's log directory into --log-dir, byte for byte, and answers `procreg
// stats` with its lag. With --serve EP it also runs a replica that follows the bus (known from
// an endpoints file) and answers reads there, as `procreg replica --serve` does.
//
// Lines it prints: {"event":"ready","role":"standby",...} once started, {"event":"stopped",...}
// on SIGINT/SIGTERM or --seconds. If the copy and the writer's log disagree (another history),
// it says why on stderr and exits 1, the copy unchanged.
//
// Promotion (`procreg promote`, docs/CLI.md): a "promote" request on the stats endpoint, from a
// key of the admin role, stops the standby once the writer has not answered for
// kWriterGoneMs ("promote force": at once) and the copy is of the writer's history; the
// standby prints {"event":"promoted",...} and run_standby() returns with *promote_term set to
// the term the new writer takes (one above every term the copy holds or a writer said).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "procreg/standby.h"
#include "tools/procreg/cli.h"

#include "tools/procreg/security_flags.h"

namespace procreg::cli {

class HttpEndpoint;

struct StandbyRunOptions {
  std::string log_dir;
  std::string hub;
  std::string node;
  // The writer: an endpoints file (as serve --endpoints-file writes it), or its replay
  // endpoint (a value with "://").
  std::string standby_of;
  std::string serve;  // a read endpoint ("" or "none": none); needs the bus, from the file
  std::string stats;
  std::string endpoints_file;  // written once ready: the standby's own endpoints
  double seconds = 0;
  std::size_t max_connections = 0;
  CurveFlags curve;  // --curve-key (its own), --curve-server (the writer's), --curve-policy
  // Under --election (election_cmd.h): the writer's endpoints as its leader key says (instead
  // of standby_of), and a check every round with the copy's stats: true stops the standby
  // (the leader changed, or this member won), as a signal would.
  std::optional<HubEndpoints> writer;
  std::function<bool(const StandbyStats&)> until;
  // --http: where the standby publishes its figures (null: nowhere). `procreg serve` starts it
  // once, so that it outlives a promotion or a change of role in an election.
  std::shared_ptr<HttpEndpoint> http;
};

// A writer that has not answered the standby's listings for this long is taken as gone.
inline constexpr std::int64_t kWriterGoneMs = 1'500;

int run_standby(const StandbyRunOptions& o, std::uint64_t* promote_term);

}  // namespace procreg::cli
