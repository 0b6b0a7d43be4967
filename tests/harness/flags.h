// The command line and output of the test harness programs (plugin/process/bus_*.cc,
// crash/writer/crash_writer.cc): `--key value` flags, one line on stdout, an error on stderr.
//
// Thread safety: a Flags is a value; say() and fail() write one line each.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>

#include "tools/common/signals.h"

namespace procreg::harness {

// One line on stdout, flushed at once (stdout is usually a file or a pipe).
void say(const std::string& line);

// An error on stderr, prefixed with the program's name; returns the exit code to use.
int fail(const std::string& program, const std::string& what, int code = 1);

// The whole main() of a harness program: installs the signal handlers before any thread
// starts, returns run(signals), and turns an exception into fail(): exit code 2 for bad flags
// (std::invalid_argument), 1 for anything else.
int run_program(const std::string& program, const std::function<int(const tools::Signals&)>& run);

// `--key value` pairs; every key must be one of `known`. Throws std::invalid_argument with a
// message for the user on an unknown key, a key without a value, or a repeated key.
class Flags {
 public:
  Flags(int argc, char** argv, const std::set<std::string>& known);

  bool has(const std::string& name) const { return values_.count(name) != 0; }
  std::string str(const std::string& name, const std::string& fallback = "") const;
  // Throws std::invalid_argument if the flag is missing or empty.
  std::string required(const std::string& name) const;
  // Throws std::invalid_argument unless the value is a non-negative decimal integer.
  std::uint64_t u64(const std::string& name, std::uint64_t fallback) const;

 private:
  std::map<std::string, std::string> values_;
};

}  // namespace procreg::harness
