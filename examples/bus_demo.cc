// bus_demo: procreg on a bus of real processes. It starts an XSUB/XPUB bus proxy in-process
// (tcp on 127.0.0.1, ephemeral ports) and, next to itself, the sibling examples:
//   - bus_writer: the hub's writer, publishing through the proxy, running a ProcessHub-like
//     workload (children started on three nodes, migrated, stopped, a node going down);
//   - two bus_replica processes, the first also writing through its replica (remote writes,
//     read back at once);
//   - bus_hooks: a hook subscriber recording every hook event.
// Mid-stream it kills the second replica with SIGKILL and starts it again. Once every write is
// done and every replica reached the writer's last sequence, it stops them all (SIGTERM: each
// writes its state), compares each replica's state with the writer's, and the hook events the
// subscriber received with the writer's own hook stream, and prints a report. Exit status 0
// only if everything matched.
//
//   bus_demo [--children N] [--rounds R] [--pace-ms MS] [--timeout-s T] [--keep 1]
//
//   --children N   children per workload round                   40
//   --rounds R     workload rounds                               5
//   --pace-ms MS   pause after each of the writer's writes       5
//   --timeout-s T  bound on every wait                           60
//   --keep 1       keep the temporary directory (logs, dumps, outputs) and print its path
//
// Every wait is bounded; every child is killed and reaped on every exit path (and gets
// SIGKILL if the demo dies first); the temporary directory is removed unless --keep 1.
#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "examples/bus_common.h"
#include "procreg/bus_proxy.h"

namespace {

using namespace procreg;
using namespace procreg::examples;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
namespace fs = std::filesystem;

const char* const kProgram = "bus_demo";

struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A temporary directory, removed with its content unless kept.
class WorkDir {
 public:
  WorkDir() {
    std::string tmpl = (fs::temp_directory_path() / "procreg-bus-demo-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw Failure("cannot create a temporary directory");
    path_ = tmpl;
  }
  ~WorkDir() {
    if (keep_) return;
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  WorkDir(const WorkDir&) = delete;
  WorkDir& operator=(const WorkDir&) = delete;
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }
  void keep() { keep_ = true; }

 private:
  std::string path_;
  bool keep_ = false;
};

// The last line of `file` that starts with `prefix` ("" if none).
std::string last_line(const std::string& file, const std::string& prefix) {
  const auto lines = read_lines(file);
  for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
    if (it->rfind(prefix, 0) == 0) return *it;
  }
  return "";
}

// The number after `prefix` in the last line that starts with it ("applied 12" -> 12).
std::optional<std::uint64_t> last_number(const std::string& file, const std::string& prefix) {
  const std::string line = last_line(file, prefix);
  if (line.empty()) return std::nullopt;
  try {
    return std::stoull(line.substr(prefix.size()));
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::uint64_t number(const std::string& text, const std::string& what) {
  try {
    std::size_t used = 0;
    const auto v = std::stoull(text, &used);
    if (used == text.size()) return v;
  } catch (const std::exception&) {
  }
  throw Failure("cannot read " + what + " from '" + text + "'");
}

class Demo {
 public:
  Demo(const Flags& flags, const Signals& signals, const std::string& bin_dir)
      : signals_(signals),
        bin_dir_(bin_dir),
        children_(flags.u64("children", 40)),
        rounds_(flags.u64("rounds", 5)),
        pace_ms_(flags.u64("pace-ms", 5)),
        timeout_(std::chrono::seconds(flags.u64("timeout-s", 60))) {
    if (flags.str("keep", "0") == "1") {
      keep_ = true;
      dir_.keep();
    }
    if (children_ == 0 || rounds_ == 0)
      throw std::invalid_argument("--children and --rounds must be positive");
    for (const char* name : {"bus_writer", "bus_replica", "bus_hooks"}) {
      const std::string path = bin_dir_ + "/" + name;
      if (::access(path.c_str(), X_OK) != 0) {
        throw Failure("cannot find " + path + " (bus_demo runs the examples built next to it)");
      }
    }
  }

  int run();
  void report_failure(const std::string& why);

 private:
  struct Proc {
    ChildProcess process;
    std::string out, err;
  };

  Proc& start(const std::string& name, const std::string& program,
              const std::vector<std::string>& args) {
    Proc p;
    p.out = dir_.file(name + ".out");
    p.err = dir_.file(name + ".err");
    p.process = ChildProcess(name, bin_dir_ + "/" + program, args, p.out, p.err);
    auto& slot = procs_[name];
    slot = std::move(p);
    return slot;
  }

  // Waits until `done()` holds, at most timeout_, failing early if a process in `live` exited
  // or the demo got SIGINT/SIGTERM.
  template <typename Pred>
  void wait(const std::string& what, Pred done, const std::vector<std::string>& live) {
    const auto limit = Clock::now() + timeout_;
    for (;;) {
      if (done()) return;
      for (const auto& name : live) {
        Proc& p = procs_.at(name);
        if (!p.process.running()) {
          throw Failure(name + " ended (" + ChildProcess::describe(p.process.exit_status()) +
                        ") while waiting for " + what);
        }
      }
      if (Clock::now() >= limit) {
        throw Failure("timed out after " + std::to_string(timeout_.count()) + " s waiting for " +
                      what);
      }
      if (Signals::stops(signals_.wait(milliseconds(20)))) throw Failure("interrupted");
    }
  }

  // Sends SIGTERM and waits (bounded) for a clean exit.
  void stop(const std::string& name) {
    Proc& p = procs_.at(name);
    p.process.signal(SIGTERM);
    auto status = p.process.wait_exit(milliseconds(15'000));
    if (!ChildProcess::exited_ok(status)) {
      throw Failure(name + " did not stop cleanly: " + ChildProcess::describe(status));
    }
  }

  const Signals& signals_;
  const std::string bin_dir_;
  const std::uint64_t children_, rounds_, pace_ms_;
  const std::chrono::seconds timeout_;
  bool keep_ = false;
  WorkDir dir_;  // before procs_: the children are killed before their files are removed
  std::map<std::string, Proc> procs_;
};

// The reason, then the last lines each process printed (rerun with --keep 1 for the files).
void Demo::report_failure(const std::string& why) {
  say("FAILED: " + why);
  for (auto& [name, p] : procs_) {
    for (const auto& [stream, file] : {std::pair{"stdout", p.out}, std::pair{"stderr", p.err}}) {
      const auto lines = read_lines(file);
      for (std::size_t i = lines.size() > 5 ? lines.size() - 5 : 0; i < lines.size(); ++i) {
        say("  " + name + " " + stream + ": " + lines[i]);
      }
    }
  }
  if (keep_) say("  files kept in " + dir_.path());
}

int Demo::run() {
  zmq::context_t context;
  auto proxy_started = BusProxy::start(context);  // tcp://127.0.0.1, ephemeral ports
  if (!proxy_started.ok()) throw Failure("bus proxy: " + proxy_started.status().to_string());
  std::unique_ptr<BusProxy> proxy = std::move(*proxy_started);
  say("bus proxy: frontend " + proxy->frontend_endpoint() + ", backend " +
      proxy->backend_endpoint());
  const std::string bus = proxy->backend_endpoint();

  // The writer, publishing through the proxy; its services on ephemeral ports.
  start("writer", "bus_writer",
        {"--log-dir", dir_.file("log"), "--connect", proxy->frontend_endpoint(), "--replay",
         "tcp://127.0.0.1:*", "--command", "tcp://127.0.0.1:*", "--workload",
         std::to_string(children_), "--rounds", std::to_string(rounds_), "--pace-ms",
         std::to_string(pace_ms_), "--dump", dir_.file("writer.dump"), "--hooks-out",
         dir_.file("writer.hooks")});
  const std::string writer_out = procs_.at("writer").out;
  wait("the writer's endpoints", [&] { return !last_line(writer_out, "endpoints ").empty(); },
       {"writer"});
  const std::string endpoints = last_line(writer_out, "endpoints ");
  const std::string replay = field(endpoints, "replay");
  const std::string command = field(endpoints, "command");
  say("writer: pid " + std::to_string(procs_.at("writer").process.pid()) + ", log " +
      dir_.file("log") + ", replay service " + replay + ", command channel " + command);

  const auto replica_args = [&](const std::string& node, const std::string& dump) {
    return std::vector<std::string>{
        "--bus",  bus,  "--replay", replay, "--command",   command,
        "--node", node, "--dump",   dump,   "--timeout-s", std::to_string(timeout_.count())};
  };
  const std::uint64_t remote_writes = 20;
  auto r1_args = replica_args("r1", dir_.file("replica-1.dump"));
  r1_args.insert(r1_args.end(), {"--writes", std::to_string(remote_writes)});
  start("replica-1", "bus_replica", r1_args);
  start("replica-2", "bus_replica", replica_args("r2", dir_.file("replica-2.dump")));
  start("hooks", "bus_hooks",
        {"--bus", bus, "--replay", replay, "--from-seq", "0", "--out", dir_.file("hooks.events"),
         "--position-file", dir_.file("hooks.pos")});
  say("replica-1: pid " + std::to_string(procs_.at("replica-1").process.pid()) + " (node r1, " +
      std::to_string(remote_writes) + " remote writes)");
  say("replica-2: pid " + std::to_string(procs_.at("replica-2").process.pid()) + " (node r2)");
  say("hooks:     pid " + std::to_string(procs_.at("hooks").process.pid()) +
      " (every hook event from the start of the log)");

  // Kill replica-2 mid-stream, once it caught up and followed some live events.
  const std::string r2_out = procs_.at("replica-2").out;
  wait("replica-2 to catch up", [&] { return !last_line(r2_out, "caught_up ").empty(); },
       {"writer", "replica-2"});
  const std::uint64_t r2_caught_up =
      number(field(last_line(r2_out, "caught_up "), "applied"), "applied");
  wait("replica-2 to follow live events",
       [&] {
         return last_number(r2_out, "applied ").value_or(0) >= r2_caught_up + 30 ||
                !last_line(writer_out, "workload done").empty();
       },
       {"writer", "replica-2"});
  const bool mid_stream = last_line(writer_out, "workload done").empty();
  procs_.at("replica-2").process.signal(SIGKILL);
  const auto killed = procs_.at("replica-2").process.wait_exit(milliseconds(10'000));
  const std::uint64_t killed_at = last_number(r2_out, "applied ").value_or(0);
  say("replica-2: killed (" + ChildProcess::describe(killed) + ") at applied " +
      std::to_string(killed_at) +
      (mid_stream ? ", while the writer was still writing" : ", after the writer's workload"));
  Proc& r2b =
      start("replica-2-restarted", "bus_replica", replica_args("r2", dir_.file("replica-2.dump")));
  say("replica-2: restarted as pid " + std::to_string(r2b.process.pid()));

  // Every write done: the writer's workload and replica-1's remote writes.
  const std::vector<std::string> everyone{"writer", "replica-1", "replica-2-restarted", "hooks"};
  wait(
      "the writer's workload", [&] { return !last_line(writer_out, "workload done").empty(); },
      everyone);
  const std::string r1_out = procs_.at("replica-1").out;
  wait(
      "replica-1's remote writes", [&] { return !last_line(r1_out, "writes done").empty(); },
      everyone);
  const std::uint64_t workload_last =
      number(field(last_line(writer_out, "workload done"), "last_seq"), "the workload's last seq");
  const std::uint64_t remote_last =
      number(field(last_line(r1_out, "writes done"), "last_seq"), "the remote writes' last seq");
  const std::uint64_t last = std::max(workload_last, remote_last);  // nothing writes after both
  say("writes done: the writer's last sequence is " + std::to_string(last));

  const std::vector<std::string> replicas{"replica-1", "replica-2-restarted"};
  for (const auto& name : replicas) {
    const std::string out = procs_.at(name).out;
    wait(
        name + " to apply " + std::to_string(last),
        [&] { return last_number(out, "applied ").value_or(0) >= last; }, everyone);
  }
  const std::string hooks_out = procs_.at("hooks").out;
  wait(
      "the hook subscriber to reach " + std::to_string(last),
      [&] { return last_number(hooks_out, "position ").value_or(0) >= last; }, everyone);

  // Stop everyone cleanly; each writes its state on the way out.
  for (const auto& name : replicas) stop(name);
  stop("hooks");
  stop("writer");
  const std::string stopped = last_line(writer_out, "stopped ");
  const std::uint64_t writer_last = number(field(stopped, "last_seq"), "the writer's last seq");
  const std::uint64_t writer_hooks =
      number(field(last_line(writer_out, "hooks "), "count"), "the writer's hook count");
  proxy->stop();

  // Compare.
  const std::string reference = read_file(dir_.file("writer.dump"));
  const std::size_t rows = read_lines(dir_.file("writer.dump")).size();
  const std::vector<std::pair<std::string, std::string>> dumps{
      {"replica-1", dir_.file("replica-1.dump")}, {"replica-2", dir_.file("replica-2.dump")}};
  std::size_t equal = 0;
  std::vector<std::string> lines;
  for (const auto& [name, file] : dumps) {
    const bool same = !reference.empty() && read_file(file) == reference;
    equal += same ? 1 : 0;
    lines.push_back(name + " equals the writer: " + (same ? "yes" : "NO") + " (" +
                    std::to_string(read_lines(file).size()) + " rows)");
  }
  const auto expected_hooks = read_lines(dir_.file("writer.hooks"));
  const auto got_hooks = read_lines(dir_.file("hooks.events"));
  const bool hooks_equal = got_hooks == expected_hooks && got_hooks.size() == writer_hooks;
  const std::string r2_stopped = last_line(r2b.out, "stopped ");
  const bool restart_ok = killed && *killed != -1 && WIFSIGNALED(*killed) &&
                          WTERMSIG(*killed) == SIGKILL && field(r2_stopped, "snapshots") == "1";

  say("");
  say("== bus_demo report");
  say("processes:   bus_writer, bus_replica x2 (one killed with SIGKILL and restarted), bus_hooks;"
      " the bus proxy in-process");
  say("events:      " + std::to_string(writer_last) + ": " +
      field(last_line(writer_out, "workload done"), "writes") + " writes of the workload (" +
      std::to_string(children_) + " children x " + std::to_string(rounds_) + " rounds) and " +
      std::to_string(remote_writes) + " remote writes through replica-1; " + std::to_string(rows) +
      " rows at the end");
  say("hook events: the writer fired " + std::to_string(writer_hooks) +
      ", the subscriber received " + std::to_string(got_hooks.size()) +
      ", same events in the same order: " + (hooks_equal ? "yes" : "NO"));
  say("restart:     replica-2 killed at seq " + std::to_string(killed_at) +
      (mid_stream ? " mid-stream" : "") + ", restarted, " + field(r2_stopped, "snapshots") +
      " snapshot loaded, applied " + field(r2_stopped, "applied"));
  for (const auto& l : lines) say(l);
  const bool all_equal = equal == dumps.size() && writer_last == last;
  say("all " + std::to_string(dumps.size()) +
      " replicas equal the writer: " + (all_equal ? "yes" : "NO"));
  if (keep_) say("files kept in " + dir_.path());
  if (!(all_equal && hooks_equal && restart_ok)) {
    report_failure(!all_equal     ? "a replica differs from the writer"
                   : !hooks_equal ? "the hook events differ"
                                  : "the restart went wrong");
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Signals signals;  // before any thread starts
    const Flags flags(argc, argv, {"children", "rounds", "pace-ms", "timeout-s", "keep"});
    Demo demo(flags, signals, own_directory(argc > 0 ? argv[0] : nullptr));
    try {
      return demo.run();
    } catch (const std::exception& e) {
      demo.report_failure(e.what());
      return 1;
    }
  } catch (const std::invalid_argument& e) {
    return fail(kProgram, e.what(), 2);
  } catch (const std::exception& e) {
    return fail(kProgram, e.what(), 1);
  }
}
