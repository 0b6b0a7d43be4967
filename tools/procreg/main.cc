// procreg: the command-line tool. One executable, one subcommand per job (docs/CLI.md):
//   serve    a hub's writer on a log directory, on a bus, with its replay and command services
//   bus      an XSUB/XPUB proxy
//   tail     print a hub's events as JSON lines
//   call     any registry API call against a running hub, JSON in and out (also --batch)
//   replica  keep a replica of a running hub and print its state on exit
//   replay   rebuild the state from a log directory and query it
//   verify   check a log directory record by record; inspect: list what it holds
//   log dump print a log directory's events as JSON lines, offline
//   stats    a running hub's counters (JSON or Prometheus text)
//   health   a server's /healthz verdict, as an exit code for probes
//   snapshot, compact  a running writer's admin ops
//   promote  make a running standby the hub's writer, at the next term
//   demo     the whole system on a local bus, with a report
//   completion  print a bash completion script
// Exit codes: 0 ok, 1 failure, 2 usage, 3 unreachable or timed out, 4 history compacted away.
#include <cstdio>
#include <exception>
#include <string>

#include <CLI/CLI.hpp>

#include "tools/procreg/cli.h"
#include "tools/procreg/commands.h"
#include "tools/procreg/completion.h"
#include "tools/procreg/endpoint_check.h"
#include "tools/procreg/help_footers.h"
#include "tools/procreg/security_flags.h"
#include "tools/procreg/suggest.h"

int main(int argc, char** argv) {
  using namespace procreg::cli;
  CLI::App app{"procreg: an event-sourced process registry on ZeroMQ", "procreg"};
  app.require_subcommand(1, 1);
  // Options from a file too: `key = value` lines under a [SUBCOMMAND] section (TOML or INI);
  // a flag given wins over the file, and the file over the environment.
  app.set_config("--config", "", "read options from this file ([SUBCOMMAND] sections)");
  // The wire protocol and the log format are versioned on their own (docs/PROTOCOL.md,
  // docs/LOG_FORMAT.md): what this build writes.
  app.set_version_flag(
      "--version", std::string("procreg ") + PROCREG_VERSION + " (wire protocol 1, log format 3)");
  Commands commands;
  add_serve_commands(app, &commands);
  add_call_command(app, &commands);
  add_tail_command(app, &commands);
  add_replica_command(app, &commands);
  add_replay_command(app, &commands);
  add_verify_commands(app, &commands);
  add_log_command(app, &commands);
  add_stats_command(app, &commands);
  add_health_command(app, &commands);
  add_admin_commands(app, &commands);
  add_promote_command(app, &commands);
  add_demo_command(app, &commands);
  add_keygen_command(app, &commands);
  add_completion_command(app, &commands);
  // Once every subcommand is there: the form of every endpoint flag, checked when parsed, and
  // the examples and exit codes that end each --help.
  add_endpoint_checks(app);
  add_help_footers(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // A mistyped option or subcommand is said first, and instead of what may only follow
    // from it: a missing required option (serve --logdir DIR) or the arguments it left over.
    std::string cause = unknown_option(app, argc, argv);
    if (cause.empty()) cause = unknown_subcommand(app, argc, argv);
    if (!cause.empty()) std::fprintf(stderr, "procreg: %s\n", cause.c_str());
    if (cause.empty() || (dynamic_cast<const CLI::RequiredError*>(&e) == nullptr &&
                          dynamic_cast<const CLI::ExtrasError*>(&e) == nullptr)) {
      std::fprintf(stderr, "procreg: %s\n", e.what());
    }
    std::fprintf(stderr, "Run with --help for usage.\n");
    return kExitUsage;
  }
  for (const Command& command : commands) {
    if (!command.app->parsed()) continue;
    std::string name = command.app->get_name();  // "procreg log dump" for a nested one
    for (const CLI::App* up = command.app->get_parent(); up != nullptr; up = up->get_parent()) {
      name = up->get_name() + " " + name;
    }
    try {
      return command.run();
    } catch (const CliError& e) {
      std::fprintf(stderr, "%s: %s\n", name.c_str(), e.what());
      return e.code;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s: %s\n", name.c_str(), e.what());
      return kExitFailure;
    }
  }
  return kExitUsage;  // require_subcommand makes this unreachable
}
