// procreg command: the CURVE flags every subcommand shares (docs/CLI.md, "Security"), and
// `procreg keygen`.
//
// Clients (call, tail, replica, stats) take --curve-key (their own secret certificate),
// --curve-server (the writer's public key, or the replica's for call --command at a replica)
// and --curve-bus (the bus proxy's, when it has its own). Servers (serve, bus, replica --serve)
// take --curve-key and --curve-policy (the directory of keys per role), and refuse to bind or
// connect a non-loopback tcp endpoint without CURVE unless given --insecure. Each flag can come
// from the environment instead: PROCREG_CURVE_KEY, PROCREG_CURVE_SERVER, PROCREG_CURVE_BUS,
// PROCREG_CURVE_POLICY.
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "procreg/security.h"
#include "tools/procreg/commands.h"

namespace procreg::cli {

struct CurveFlags {
  std::string key;     // a secret certificate file
  std::string server;  // a public certificate file, or the key itself (40 Z85 characters)
  std::string bus;     // the same, for the bus
  std::string policy;  // a policy directory
  bool insecure = false;

  void add_client_options(CLI::App* app);
  // --curve-key, --curve-policy and --insecure; with `publishes`, --curve-bus too.
  void add_server_options(CLI::App* app, bool publishes = false);
  bool enabled() const { return !key.empty(); }
  // The options of a client: its keys, the server's and the bus's. Throws CliError (exit 1
  // for a file that cannot be read or is readable by others, 2 for flags that do not fit).
  CurveOptions client_options() const;
  // The options of a server: its keys and its policy (loaded, and reloaded as it changes), and
  // with --curve-bus the key of the proxy it publishes to.
  CurveOptions server_options() const;
  // Refuses (usage error) a tcp endpoint that is not loopback when CURVE is off and
  // --insecure was not given. `what` names the endpoint's flag.
  void check_endpoint(const std::string& endpoint, const std::string& what) const;
};

void add_keygen_command(CLI::App& app, Commands* commands);

}  // namespace procreg::cli
