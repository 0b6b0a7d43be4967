// procreg command: a server's counters in Prometheus' text exposition format (version 0.0.4),
// from the JSON its stats endpoint answers. `procreg stats --prometheus` prints it and the
// --http endpoint serves it at /metrics (http_endpoint.h).
//
// Names follow Prometheus' conventions: a `procreg_` prefix, then the role that owns the figure
// (`writer_`, `server_`, `replica_`, `standby_`, `bus_`), the base unit as a suffix (`_bytes`,
// `_seconds`, `_events`), `_total` on counters. Every series carries `hub` (but the bus's, which
// serves any hub). `procreg_build_info` carries the version, and `procreg_hub_info` the role and
// the epoch as labels (a uint64 epoch is not exact as a float sample). docs/CLI.md lists them.
//
// Thread safety: pure functions.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "procreg/bus_proxy.h"

namespace procreg::cli {

// The exposition of `stats` (a stats endpoint's answer; its "role" chooses the table: writer,
// replica, standby or bus; none is taken as writer). Fields absent from `stats` are left out.
std::string prometheus_text(const nlohmann::ordered_json& stats);

// A proxy's counters as the "bus" group of a stats answer (a bus's, or a writer's embedded one).
nlohmann::ordered_json bus_stats_json(const BusProxy& proxy);

// The version this program prints with --version, e.g. "0.1.0".
const char* procreg_version();

}  // namespace procreg::cli
