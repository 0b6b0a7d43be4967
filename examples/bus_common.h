// Plumbing shared by the bus examples (bus_writer, bus_replica, bus_hooks, bus_demo) and by
// tests/plugin/process_test.cc: `--key value` flags, signals, files written line by line or
// atomically, the canonical text of a registry's state and of a hook event, and a child
// process that is always killed and reaped. None of this is procreg's API.
//
// Signals: an example blocks SIGINT, SIGTERM and SIGUSR1 in its first thread before it starts
// any other (ZeroMQ's and procreg's threads inherit the mask), and its main thread takes them
// with sigtimedwait. No signal ever interrupts a procreg or ZeroMQ thread, and there is no
// asynchronous handler.
//
// Thread safety: everything here belongs to the calling thread, except LineFile::append, which
// may be called from any thread (one write(2) per call).
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "procreg/hooks.h"
#include "procreg/types.h"
#include "procreg/value.h"

namespace procreg::examples {

// ---- output ---------------------------------------------------------------------------

// One line on stdout, flushed at once (stdout is usually a file or a pipe).
inline void say(const std::string& line) {
  std::fputs(line.c_str(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

// An error on stderr, prefixed with the program's name; returns the exit code to use.
inline int fail(const std::string& program, const std::string& what, int code = 1) {
  std::fprintf(stderr, "%s: %s\n", program.c_str(), what.c_str());
  std::fflush(stderr);
  return code;
}

// ---- flags ----------------------------------------------------------------------------

// `--key value` pairs; every key must be one of `known`. Throws std::invalid_argument with a
// message for the user on an unknown key, a key without a value, or a repeated key.
class Flags {
 public:
  Flags(int argc, char** argv, const std::set<std::string>& known) {
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
  bool has(const std::string& name) const { return values_.count(name) != 0; }
  std::string str(const std::string& name, const std::string& fallback = "") const {
    auto it = values_.find(name);
    return it == values_.end() ? fallback : it->second;
  }
  std::string required(const std::string& name) const {
    auto it = values_.find(name);
    if (it == values_.end() || it->second.empty()) {
      throw std::invalid_argument("flag --" + name + " is required");
    }
    return it->second;
  }
  std::uint64_t u64(const std::string& name, std::uint64_t fallback) const {
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

 private:
  std::map<std::string, std::string> values_;
};

// ---- signals --------------------------------------------------------------------------

// SIGINT, SIGTERM and SIGUSR1, blocked in the constructing thread (and so in every thread it
// starts afterwards) and taken synchronously by wait().
class Signals {
 public:
  Signals() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    sigaddset(&set_, SIGUSR1);
    if (pthread_sigmask(SIG_BLOCK, &set_, nullptr) != 0) {
      throw std::runtime_error("cannot block signals");
    }
  }
  // Waits up to `timeout` (0: just checks) for one of the signals; returns it, or 0.
  int wait(std::chrono::milliseconds timeout) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() < 0) left = std::chrono::nanoseconds(0);
      timespec ts{static_cast<time_t>(left.count() / 1'000'000'000),
                  static_cast<long>(left.count() % 1'000'000'000)};
      const int sig = sigtimedwait(&set_, nullptr, &ts);
      if (sig > 0) return sig;
      if (errno == EAGAIN) return 0;  // timed out
      // EINTR (another signal, e.g. SIGCHLD with a handler): wait for the rest of the time.
    }
  }
  static bool stops(int sig) { return sig == SIGINT || sig == SIGTERM; }

 private:
  sigset_t set_;
};

// ---- files ----------------------------------------------------------------------------

// A file opened for appending; each append() is one write(2) of whole lines, optionally
// followed by fsync(2), so a reader never sees half a line unless the writer dies inside
// the call.
class LineFile {
 public:
  LineFile() = default;
  explicit LineFile(const std::string& path) : path_(path) {
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd_ < 0) throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
  }
  ~LineFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  LineFile(const LineFile&) = delete;
  LineFile& operator=(const LineFile&) = delete;
  bool is_open() const { return fd_ >= 0; }
  const std::string& path() const { return path_; }
  // `lines` must end with '\n'.
  void append(const std::string& lines, bool sync) const {
    std::size_t done = 0;
    while (done < lines.size()) {
      const ssize_t n = ::write(fd_, lines.data() + done, lines.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw std::runtime_error("cannot write " + path_ + ": " + std::strerror(errno));
      done += static_cast<std::size_t>(n);
    }
    if (sync && ::fsync(fd_) != 0) {
      throw std::runtime_error("cannot fsync " + path_ + ": " + std::strerror(errno));
    }
  }

 private:
  std::string path_;
  int fd_ = -1;
};

// Replaces `path` with `content` atomically (a temporary file, fsync, rename): a reader sees
// the old content or the new one, also after a crash.
inline void write_file_atomic(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp";
  {
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) throw std::runtime_error("cannot create " + tmp + ": " + std::strerror(errno));
    std::size_t done = 0;
    while (done < content.size()) {
      const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        ::close(fd);
        throw std::runtime_error("cannot write " + tmp + ": " + std::strerror(errno));
      }
      done += static_cast<std::size_t>(n);
    }
    const bool synced = ::fsync(fd) == 0;
    ::close(fd);
    if (!synced) throw std::runtime_error("cannot fsync " + tmp);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    throw std::runtime_error("cannot rename " + tmp + ": " + std::strerror(errno));
  }
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// The complete lines of a file (a last line without '\n', being written, is left out).
inline std::vector<std::string> read_lines(const std::string& path) {
  const std::string text = read_file(path);
  std::vector<std::string> lines;
  std::size_t start = 0;
  for (std::size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1) {
    lines.push_back(text.substr(start, nl - start));
  }
  return lines;
}

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

// ---- canonical text -------------------------------------------------------------------

inline std::string node_pids_text(const NodePids& node_pids) {
  Value::Array pairs;
  for (const auto& np : node_pids) {
    Value::Array pair;
    pair.emplace_back(np.node);
    pair.emplace_back(np.pid);
    pairs.emplace_back(std::move(pair));
  }
  return Value(std::move(pairs)).debug_string();
}

// Every row of every table, one line each, sorted by table then child id:
//   "<table>" "<child>" start="<module>":"<function>"/<args> extra=<map> np=<pairs> md=<map>
// Two registries hold the same state exactly when their texts are equal.
inline std::string canonical_dump(const std::map<std::string, Dump>& tables) {
  std::string out;
  for (const auto& [table, rows] : tables) {
    for (const auto& [id, entry] : rows) {
      out += Value(table).debug_string() + ' ' + Value(id).debug_string() +
             " start=" + Value(entry.spec.start.module).debug_string() + ':' +
             Value(entry.spec.start.function).debug_string() + '/' +
             Value(entry.spec.start.args).debug_string() +
             " extra=" + Value(entry.spec.extra).debug_string() +
             " np=" + node_pids_text(entry.node_pids) +
             " md=" + Value(entry.metadata).debug_string() + '\n';
    }
  }
  return out;
}

inline std::size_t count_rows(const std::map<std::string, Dump>& tables) {
  std::size_t n = 0;
  for (const auto& [table, rows] : tables) n += rows.size();
  return n;
}

// One hook event: "<seq> <kind> <child> <node_pids>", e.g.
//   12 child_registered child-3 [["n2","<0.12.0>"]]
inline std::string hook_line(const HookEvent& e) {
  return std::to_string(e.seq) + ' ' + std::string(hook_topic_name(e.topic)) + ' ' + e.child_id +
         ' ' + node_pids_text(e.node_pids);
}

// ---- child processes ------------------------------------------------------------------

// A child process started with fork + exec, its stdout and stderr sent to files. The
// destructor kills (SIGKILL) and reaps it if it is still running, so no path leaves an
// orphan; the child also gets SIGKILL if the thread that started it dies first.
class ChildProcess {
 public:
  ChildProcess() = default;
  ChildProcess(std::string name, const std::string& program, const std::vector<std::string>& args,
               const std::string& out_file, const std::string& err_file)
      : name_(std::move(name)) {
    std::vector<std::string> argv_s{program};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int out = ::open(out_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    const int err = ::open(err_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (out < 0 || err < 0) {
      if (out >= 0) ::close(out);
      if (err >= 0) ::close(err);
      throw std::runtime_error("cannot open the output files of " + name_);
    }
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) {
      ::close(out);
      ::close(err);
      throw std::runtime_error("fork failed for " + name_ + ": " + std::strerror(errno));
    }
    if (pid == 0) {  // the child: async-signal-safe calls only, until exec
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);  // the parent is already gone
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      if (::dup2(out, STDOUT_FILENO) < 0 || ::dup2(err, STDERR_FILENO) < 0) ::_exit(127);
      const int devnull = ::open("/dev/null", O_RDONLY);
      if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
      ::execv(argv[0], argv.data());
      static const char msg[] = "exec failed\n";
      (void)!::write(STDERR_FILENO, msg, sizeof msg - 1);
      ::_exit(127);
    }
    ::close(out);
    ::close(err);
    pid_ = pid;
  }
  ~ChildProcess() { kill_and_reap(); }
  ChildProcess(ChildProcess&& other) noexcept { *this = std::move(other); }
  ChildProcess& operator=(ChildProcess&& other) noexcept {
    if (this != &other) {
      kill_and_reap();
      name_ = std::move(other.name_);
      pid_ = other.pid_;
      status_ = other.status_;
      other.pid_ = -1;
    }
    return *this;
  }

  const std::string& name() const { return name_; }
  pid_t pid() const { return pid_; }
  // Still running (not yet reaped)?
  bool running() {
    if (pid_ <= 0) return false;
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_ || (r < 0 && errno == ECHILD)) {
      status_ = r == pid_ ? status : -1;
      pid_ = -1;
      return false;
    }
    return true;
  }
  void signal(int sig) const {
    if (pid_ > 0) ::kill(pid_, sig);
  }
  // Waits up to `timeout` for the child to exit; its wait status, or nullopt if still running.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (running()) {
      if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return status_;
  }
  // The wait status once it exited (see describe()).
  std::optional<int> exit_status() const {
    if (pid_ > 0) return std::nullopt;
    return status_;
  }
  void kill_and_reap() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    status_ = status;
    pid_ = -1;
  }
  // "exit 0", "exit 1", "killed by signal 9"...
  static std::string describe(std::optional<int> status) {
    if (!status) return "still running";
    if (*status == -1) return "unknown (reaped elsewhere)";
    if (WIFEXITED(*status)) return "exit " + std::to_string(WEXITSTATUS(*status));
    if (WIFSIGNALED(*status)) return "killed by signal " + std::to_string(WTERMSIG(*status));
    return "status " + std::to_string(*status);
  }
  static bool exited_ok(std::optional<int> status) {
    return status && *status != -1 && WIFEXITED(*status) && WEXITSTATUS(*status) == 0;
  }

 private:
  std::string name_;
  pid_t pid_ = -1;
  int status_ = -1;
};

// The directory of the running executable, from argv[0] (where the sibling examples are
// built); /proc/self/exe when argv[0] names no directory (the program was found on PATH).
inline std::string own_directory(const char* argv0) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path self;
  if (argv0 != nullptr && std::strchr(argv0, '/') != nullptr) {
    self = fs::absolute(argv0, ec);
  } else {
    self = fs::read_symlink("/proc/self/exe", ec);
  }
  return self.parent_path().string();
}

}  // namespace procreg::examples
