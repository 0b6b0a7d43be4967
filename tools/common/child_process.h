// A child process started with fork + exec, its stdout and stderr sent to files. The
// destructor kills (SIGKILL) and reaps it if it is still running, so no path leaves an orphan;
// the child also gets SIGKILL if the thread that started it dies first. The child starts with
// no signal blocked and /dev/null as stdin.
//
// Thread safety: a ChildProcess belongs to the thread that started it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace procreg::tools {

class ChildProcess {
 public:
  ChildProcess() = default;
  // Starts `program` (a path) with `args`, its stdout and stderr appended to the two files.
  // Throws std::runtime_error if the files cannot be opened or fork fails; a failed exec
  // makes the child exit with status 127.
  ChildProcess(std::string name, const std::string& program, const std::vector<std::string>& args,
               const std::string& out_file, const std::string& err_file);
  ~ChildProcess() { kill_and_reap(); }
  ChildProcess(ChildProcess&& other) noexcept { *this = std::move(other); }
  ChildProcess& operator=(ChildProcess&& other) noexcept;

  const std::string& name() const { return name_; }
  pid_t pid() const { return pid_; }
  // Still running (not yet reaped)? Reaps it if it ended.
  bool running();
  void signal(int sig) const;
  // Waits up to `timeout` for the child to exit; its wait status, or nullopt if still running.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  // The wait status once it exited (-1: reaped elsewhere), nullopt while it runs.
  std::optional<int> exit_status() const;
  void kill_and_reap();

  // "exit 0", "exit 1", "killed by signal 9"...
  static std::string describe(std::optional<int> status);
  // Exited by itself with status 0?
  static bool exited_ok(std::optional<int> status);

 private:
  std::string name_;
  pid_t pid_ = -1;
  int status_ = -1;
};

}  // namespace procreg::tools
