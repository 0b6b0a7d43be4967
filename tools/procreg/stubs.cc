#include "tools/procreg/commands.h"
namespace procreg::cli {
void add_replica_command(CLI::App&, Commands*) {}
void add_stats_command(CLI::App&, Commands*) {}
void add_demo_command(CLI::App&, Commands*) {}
}
