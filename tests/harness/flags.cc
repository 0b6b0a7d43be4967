#include "harness/flags.h"

#include <cstdio>
#include <stdexcept>

namespace procreg::harness {

void say(const std::string& line) {
  std::fputs(line.c_str(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

int fail(const std::string& program, const std::string& what, int code) {
  std::fprintf(stderr, "%s: %s\n", program.c_str(), what.c_str());
  std::fflush(stderr);
  return code;
}

int run_program(const std::string& program, const std::function<int(const tools::Signals&)>& run) {
  try {
    const tools::Signals signals;  // before any thread starts
    return run(signals);
  } catch (const std::invalid_argument& e) {
    return fail(program, e.what(), 2);
  } catch (const std::exception& e) {
    return fail(program, e.what(), 1);
  }
}

Flags::Flags(int argc, char** argv, const std::set<std::string>& known) {
  for (int i = 1; i < argc; ++i) {
    const std::string key = argv[i];
    if (key.rfind("--", 0) != 0 || key.size() < 3) {
      throw std::invalid_argument("unexpected argument '" + key + "' (flags are --key value)");
    }
    const std::string name = key.substr(2);
    if (known.count(name) == 0) throw std::invalid_argument("unknown flag " + key);
    if (i + 1 >= argc) throw std::invalid_argument("flag " + key + " needs a value");
    if (!values_.emplace(name, argv[++i]).second) {
      throw std::invalid_argument("flag " + key + " given twice");
    }
  }
}

std::string Flags::str(const std::string& name, const std::string& fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}

std::string Flags::required(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end() || it->second.empty()) {
    throw std::invalid_argument("flag --" + name + " is required");
  }
  return it->second;
}

std::uint64_t Flags::u64(const std::string& name, std::uint64_t fallback) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  const std::string& s = it->second;
  std::size_t used = 0;
  unsigned long long v = 0;
  try {
    v = std::stoull(s, &used, 10);
  } catch (const std::exception&) {
    used = 0;
  }
  if (s.empty() || used != s.size() || s[0] == '-' || s[0] == '+') {
    throw std::invalid_argument("flag --" + name + " needs a non-negative integer, got '" + s +
                                "'");
  }
  return v;
}

}  // namespace procreg::harness
