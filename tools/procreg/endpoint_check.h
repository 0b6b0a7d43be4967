// procreg command: the form of every ZeroMQ endpoint a flag takes, checked when the flags are
// parsed (docs/CLI.md, "Endpoints"), so that a mistyped endpoint is a usage error (exit 2)
// naming the flag and the expected form, the same in every subcommand, before anything runs:
//
//   procreg: --bus: localhost:7402 has no scheme: expected tcp://HOST:PORT, ipc://PATH or
//   inproc://NAME (tcp://localhost:7402?)
//
// Only the form is checked (tcp://HOST:PORT, ipc://PATH, inproc://NAME; a bound tcp endpoint
// may have * for HOST or PORT), not whether the host resolves or anyone answers there. Which
// flags of which subcommand take an endpoint is one table, in endpoint_check.cc.
//
// Thread safety: the calling thread's (add_endpoint_checks changes `app`).
#pragma once

#include <string>
#include <string_view>

#include <CLI/CLI.hpp>

namespace procreg::cli {

enum class EndpointUse {
  kConnect,  // tcp://HOST:PORT with PORT 1 to 65535, ipc://PATH, inproc://NAME
  kBind,     // the same, and * for HOST or PORT (0 or *: an ephemeral port)
};

// What is wrong with `endpoint` ("" when nothing is), with the form expected. With
// `allow_none`, "none" (the service off) is accepted too.
std::string endpoint_problem(std::string_view endpoint, EndpointUse use, bool allow_none = false);

// Adds the check of its form to every endpoint flag of every subcommand of `app`: an endpoint
// to connect to; one to bind (and "none" where the service may be off); or an endpoint to
// connect to or a readable file (promote --stats, serve --standby-of: a value with "://" is an
// endpoint, any other a file). A bad value that came from the flag's environment variable is
// said to be its. Call it once every subcommand was added; a flag of the table that a
// subcommand does not have is a bug, thrown as CLI::OptionNotFound.
void add_endpoint_checks(CLI::App& app);

// Throws a usage CliError when `value`, read from the file `file` under `key` (an endpoints
// file: serve --endpoints-file's, or the elected writer's), is not an endpoint to connect to.
void check_endpoint_from(const std::string& file, const char* key, const std::string& value);

}  // namespace procreg::cli
