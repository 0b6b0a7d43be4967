// procreg command: what every --help ends with. Each subcommand's has a few examples (one table,
// help_footers.cc, so they are written and checked in one place) and then the exit codes, which
// the top-level --help prints too.
//
// Thread safety: the calling thread's; changes `app` only.
#pragma once

#include <CLI/CLI.hpp>

namespace procreg::cli {

// The exit codes (docs/CLI.md, "Exit codes"), two lines.
extern const char* const kExitCodesHelp;

// Sets the footer of `app` (the top level) and of every subcommand, nested ones too (log dump):
// "Examples:" and the subcommand's examples, if the table has some, then the exit codes. Call it
// once every subcommand was added.
void add_help_footers(CLI::App& app);

}  // namespace procreg::cli
