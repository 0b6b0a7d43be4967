// procreg command: the subcommands. Each add_* function adds its subcommand(s) to the app and
// appends what to run when that subcommand was given; main() runs the one parsed.
#pragma once

#include <functional>
#include <vector>

#include <CLI/CLI.hpp>

namespace procreg::cli {

struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;  // the exit code (cli.h); throws CliError
};
using Commands = std::vector<Command>;

void add_serve_commands(CLI::App& app, Commands* commands);   // serve, bus (serve.cc)
void add_bus_command(CLI::App& app, Commands* commands);      // bus (bus_cmd.cc)
void add_health_command(CLI::App& app, Commands* commands);   // health (health_cmd.cc)
void add_admin_commands(CLI::App& app, Commands* commands);   // snapshot, compact (admin_cmd.cc)
void add_call_command(CLI::App& app, Commands* commands);     // call (call.cc)
void add_tail_command(CLI::App& app, Commands* commands);     // tail (tail.cc)
void add_replica_command(CLI::App& app, Commands* commands);  // replica (replica_cmd.cc)
void add_replay_command(CLI::App& app, Commands* commands);   // replay (replay_cmd.cc)
void add_verify_commands(CLI::App& app, Commands* commands);  // verify, inspect (verify.cc)
void add_stats_command(CLI::App& app, Commands* commands);    // stats (stats.cc)
void add_demo_command(CLI::App& app, Commands* commands);     // demo (demo.cc)
void add_promote_command(CLI::App& app, Commands* commands);  // promote (promote.cc)
void add_log_command(CLI::App& app, Commands* commands);      // log dump (log_dump.cc)

}  // namespace procreg::cli
