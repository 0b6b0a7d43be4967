#include "tools/procreg/commands.h"
namespace procreg::cli {
void add_tail_command(CLI::App&, Commands*) {}
void add_replica_command(CLI::App&, Commands*) {}
void add_replay_command(CLI::App&, Commands*) {}
void add_verify_commands(CLI::App&, Commands*) {}
void add_stats_command(CLI::App&, Commands*) {}
void add_demo_command(CLI::App&, Commands*) {}
}
