// procreg serve --standby-of: a standby (procreg::Standby) instead of a writer.
//
// It copies the writer's log directory into --log-dir, byte for byte, and answers `procreg
// stats` with its lag. With --serve EP it also runs a replica that follows the bus (known from
// an endpoints file) and answers reads there, as `procreg replica --serve` does.
//
// Lines it prints: {"event":"ready","role":"standby",...} once started, {"event":"stopped",...}
// on SIGINT/SIGTERM or --seconds. If the copy and the writer's log disagree (another history),
// it says why on stderr and exits 1, the copy unchanged.
#pragma once

#include <cstddef>
#include <string>

#include "tools/procreg/security_flags.h"

namespace procreg::cli {

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
};

int run_standby(const StandbyRunOptions& o);

}  // namespace procreg::cli
