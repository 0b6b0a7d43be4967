// procreg command: what was mistyped, a subcommand or an option, and "did you mean" (docs/CLI.md,
// "Exit codes"): the known names closest to what was typed, by edit distance.
//
// Thread safety: the calling thread's; reads `app` only.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

namespace procreg::cli {

// After a parse error: a line naming a mistyped subcommand (argv[1]) with the closest known
// ones ("unknown subcommand "sevre"; did you mean serve?"), or "" if it is known or nothing is
// close.
std::string unknown_subcommand(const CLI::App& app, int argc, const char* const* argv);

// After a parse error: a line naming the first long option of argv that the subcommand it was
// given to (a nested one too: log dump) does not have, with the closest known ones when some
// are close ("unknown option --endpoint of call; did you mean --endpoints?"), or "" if every
// option is known. It is the cause to report first: a missing required option may only follow
// from it (serve --logdir DIR).
std::string unknown_option(const CLI::App& app, int argc, const char* const* argv);

}  // namespace procreg::cli
