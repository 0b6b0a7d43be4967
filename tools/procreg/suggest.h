// procreg command: "did you mean" for a mistyped subcommand or option (docs/CLI.md, "Exit
// codes"): the known names closest to what was typed, by edit distance.
//
// Thread safety: the calling thread's; reads `app` only.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

namespace procreg::cli {

// After a parse error: a line naming the first unknown subcommand or option of argv with the
// closest known ones ("unknown option --endpoint of call; did you mean --endpoints?"), or ""
// if every word is known or nothing is close.
std::string suggestion(const CLI::App& app, int argc, const char* const* argv);

}  // namespace procreg::cli
