// Pieces of the process tests (process_test.cc): the harness programs' paths (compile
// definitions from tests/CMakeLists.txt), a process under test whose output goes to files in a
// temporary directory and which is killed and reaped whatever happens (ChildProcess, from
// tools/common/), bounded waits on what the processes print, and ipc endpoints that stay the
// same across a writer's restarts.
//
// Thread safety: a Proc belongs to its test's thread.
#pragma once

#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "temp_dir.h"
#include "tools/common/child_process.h"
#include "tools/common/files.h"

namespace procreg::testing {

using tools::ChildProcess;

// The value of `key=` in a line of space-separated tokens ("" if absent).
inline std::string field(const std::string& line, const std::string& key) {
  std::istringstream in(line);
  std::string token;
  while (in >> token) {
    if (token.size() > key.size() && token.compare(0, key.size(), key) == 0 &&
        token[key.size()] == '=') {
      return token.substr(key.size() + 1);
    }
  }
  return "";
}

inline constexpr std::chrono::milliseconds kProcessWait{60'000};

#ifdef PROCREG_BUS_WRITER
inline const std::string kBusWriter = PROCREG_BUS_WRITER;
inline const std::string kBusReplica = PROCREG_BUS_REPLICA;
inline const std::string kBusHooks = PROCREG_BUS_HOOKS;
#endif

// Where a writer's three sockets bind: ipc files in a test's directory, the same for every
// writer started there, so that peers reconnect to a restarted writer.
struct Endpoints {
  std::string publish, replay, command;
};
inline Endpoints ipc_endpoints(const TempDir& dir) {
  return {"ipc://" + dir.file("pub"), "ipc://" + dir.file("replay"), "ipc://" + dir.file("cmd")};
}

// A process under test: stdout to <dir>/<name>.out, stderr to <dir>/<name>.err (appended, so a
// restarted process may share its predecessor's files). Killed (SIGKILL) and reaped when
// destroyed, so a failed assertion leaves no process behind.
class Proc {
 public:
  Proc(const std::string& name, const std::string& program, const std::vector<std::string>& args,
       const TempDir& dir)
      : name_(name), out_(dir.file(name + ".out")), err_(dir.file(name + ".err")) {
    process_ = ChildProcess(name, program, args, out_, err_);
  }
  const std::string& name() const { return name_; }
  ChildProcess& process() { return process_; }
  std::vector<std::string> lines() const { return tools::read_lines(out_); }

  // The last line of its stdout starting with `prefix` ("" if none).
  std::string last_line(const std::string& prefix) const {
    const auto all = lines();
    for (auto it = all.rbegin(); it != all.rend(); ++it) {
      if (it->rfind(prefix, 0) == 0) return *it;
    }
    return "";
  }
  std::size_t count_lines(const std::string& prefix) const {
    std::size_t n = 0;
    for (const auto& l : lines()) n += l.rfind(prefix, 0) == 0 ? 1 : 0;
    return n;
  }
  // "applied 12" -> 12, for the last line starting with "applied ".
  std::uint64_t last_number(const std::string& prefix) const {
    const std::string l = last_line(prefix);
    return l.empty() ? 0 : std::stoull(l.substr(prefix.size()));
  }
  // The numeric value of key= in the last line starting with `prefix`.
  std::uint64_t last_field(const std::string& prefix, const std::string& key) const {
    const std::string v = field(last_line(prefix), key);
    BOOST_REQUIRE_MESSAGE(!v.empty(), name_ << ": no " << key << "= in a line '" << prefix << "...'"
                                            << diagnostics());
    return std::stoull(v);
  }
  // The last lines of its stdout and stderr, for failure messages.
  std::string diagnostics() const {
    std::ostringstream s;
    for (const auto& [stream, file] : {std::pair{"stdout", out_}, std::pair{"stderr", err_}}) {
      const auto all = tools::read_lines(file);
      for (std::size_t i = all.size() > 6 ? all.size() - 6 : 0; i < all.size(); ++i) {
        s << "\n  " << name_ << " " << stream << ": " << all[i];
      }
    }
    return s.str();
  }

 private:
  std::string name_, out_, err_;
  ChildProcess process_;
};

// Polls `done` every 10 ms, at most `timeout` (and so a bounded number of times). Fails the test
// with `what` if it never holds, or as soon as one of `watch` ends.
template <typename Pred>
void wait_until(const std::string& what, Pred done, std::initializer_list<Proc*> watch,
                std::chrono::milliseconds timeout = kProcessWait) {
  const auto limit = std::chrono::steady_clock::now() + timeout;
  const std::int64_t max_polls = timeout.count() / 10 + 1;
  for (std::int64_t i = 0; i <= max_polls; ++i) {
    if (done()) return;
    for (Proc* p : watch) {
      if (!p->process().running()) {
        std::string why = p->name() + " ended (" +
                          ChildProcess::describe(p->process().exit_status()) +
                          ") while waiting for " + what;
        BOOST_FAIL(why << p->diagnostics());
      }
    }
    if (std::chrono::steady_clock::now() >= limit) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::string diag;
  for (Proc* p : watch) diag += p->diagnostics();
  BOOST_FAIL("timed out after " << timeout.count() << " ms waiting for " << what << diag);
}

// SIGTERM, then a clean exit (status 0) within 15 s, or the test fails.
inline void stop_cleanly(Proc& p) {
  p.process().signal(SIGTERM);
  const auto status = p.process().wait_exit(std::chrono::milliseconds(15'000));
  BOOST_REQUIRE_MESSAGE(
      ChildProcess::exited_ok(status),
      p.name() << " did not stop cleanly: " << ChildProcess::describe(status) << p.diagnostics());
}

// SIGKILL, then reaped; true if it died of the SIGKILL (and not of something before).
inline bool kill_hard(Proc& p) {
  p.process().signal(SIGKILL);
  const auto status = p.process().wait_exit(std::chrono::milliseconds(15'000));
  return status && *status != -1 && WIFSIGNALED(*status) && WTERMSIG(*status) == SIGKILL;
}

}  // namespace procreg::testing
