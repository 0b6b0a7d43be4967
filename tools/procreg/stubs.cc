#include "tools/procreg/commands.h"
namespace procreg::cli {
void add_demo_command(CLI::App&, Commands*) {}
}
