// procreg command: `procreg completion bash` (docs/CLI.md, "completion"), a bash completion
// script made from the command's own subcommands and options, so that it follows them: the
// subcommands of every level, each one's options, and the values an option or a positional
// argument takes where CLI11 knows them (`tail --kind`, `serve --durability`). Directories are
// offered after an option named --*-dir; any other value falls back to bash's file names.
//
// Thread safety: the calling thread's; reads `app` only.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "tools/procreg/commands.h"

namespace procreg::cli {

// The script: shell functions and `complete -F _procreg procreg`, for `source` or for
// bash-completion's completions/ directory.
std::string bash_completion(const CLI::App& app);

// Adds `completion SHELL` (SHELL: bash), which prints bash_completion() of `app`, the whole
// command (app must outlive the run).
void add_completion_command(CLI::App& app, Commands* commands);

}  // namespace procreg::cli
