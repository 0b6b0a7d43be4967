// procreg demo: the whole system on one machine, checked, with a short report.
//
// In a temporary directory it runs, each as a separate process of this same executable:
//   - `procreg serve`: the hub's writer on a new log, publishing through a bus proxy (which the
//     demo runs in-process, tcp on 127.0.0.1 with ephemeral ports), snapshotting every 40
//     events in the background (the restarted replica may start from one; verify checks them);
//   - two `procreg replica` processes, each dumping its state on exit;
//   - `procreg tail --hooks --from 1`: a hook subscriber printing every hook event.
// The demo itself is a ProcessHub node: through its own replica it writes a ProcessHub-like
// workload over the command channel (children started on three nodes, some in bulk; migrated;
// stopped; a node going down, every round), and after the first round it kills the second
// replica with SIGKILL and starts it again. Then it checks that every replica's dump equals the
// writer's, that the hook subscriber printed exactly the hook events the log implies, in order,
// and that `procreg verify` finds the log sound. Exit 0 only if all of that holds.
//
// Every wait is bounded (--timeout-s); every child is killed and reaped on every path (and gets
// SIGKILL if the demo dies); the directory is removed unless --keep.
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "events/codec.h"
#include "log/log.h"
#include "log/log_reader.h"
#include "procreg/bus_proxy.h"
#include "procreg/hooks.h"
#include "procreg/replica.h"
#include "procreg/security.h"
#include "tools/common/child_process.h"
#include "tools/common/files.h"
#include "tools/common/signals.h"
#include "tools/procreg/cli.h"
#include "tools/procreg/commands.h"
#include "tools/procreg/json_convert.h"

namespace procreg::cli {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using tools::ChildProcess;

struct DemoOptions {
  int children = 24;
  int rounds = 4;
  int timeout_s = 60;
  bool keep = false;
  bool secure = false;
};

struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Demo {
 public:
  Demo(const DemoOptions& o, const tools::Signals& signals)
      : o_(o), signals_(signals), timeout_(std::chrono::seconds(o.timeout_s)) {
    std::error_code ec;
    self_ = fs::read_symlink("/proc/self/exe", ec).string();
    if (self_.empty()) throw Failure("cannot find this executable (/proc/self/exe)");
    std::string tmpl = (fs::temp_directory_path() / "procreg-demo-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw Failure("cannot create a temporary directory");
    dir_ = tmpl;
  }
  ~Demo() {
    procs_.clear();  // killed and reaped before their files go
    if (!o_.keep) {
      std::error_code ec;
      fs::remove_all(dir_, ec);
    }
  }

  int run();
  void report_failure(const std::string& why);

 private:
  struct Proc {
    ChildProcess process;
    std::string out, err;
  };
  std::string file(const std::string& name) const { return dir_ + "/" + name; }

  Proc& start(const std::string& name, const std::vector<std::string>& args) {
    Proc p;
    p.out = file(name + ".out");
    p.err = file(name + ".err");
    p.process = ChildProcess(name, self_, args, p.out, p.err);
    return procs_[name] = std::move(p);
  }

  // Waits until done() holds, at most the timeout, failing early if a process of `live` ended
  // or the demo got SIGINT/SIGTERM.
  template <typename Pred>
  void wait(const std::string& what, Pred done, const std::vector<std::string>& live) {
    const auto limit = Clock::now() + timeout_;
    while (!done()) {
      for (const auto& name : live) {
        if (!procs_.at(name).process.running()) {
          throw Failure(name + " ended (" +
                        ChildProcess::describe(procs_.at(name).process.exit_status()) +
                        ") while waiting for " + what);
        }
      }
      if (Clock::now() >= limit) throw Failure("timed out waiting for " + what);
      if (tools::Signals::stops(signals_.wait(milliseconds(20)))) throw Failure("interrupted");
    }
  }

  void stop(const std::string& name) {
    Proc& p = procs_.at(name);
    p.process.signal(SIGTERM);
    const auto status = p.process.wait_exit(milliseconds(15'000));
    if (!ChildProcess::exited_ok(status)) {
      throw Failure(name + " did not stop cleanly: " + ChildProcess::describe(status));
    }
  }

  // The JSON lines a process printed so far.
  std::vector<Json> json_lines(const std::string& name) const {
    std::vector<Json> out;
    for (const auto& line : tools::read_lines(procs_.at(name).out)) {
      try {
        out.push_back(Json::parse(line));
      } catch (const Json::parse_error&) {
      }
    }
    return out;
  }
  // The highest seq a `procreg replica` reported applying (0 before it caught up).
  std::uint64_t applied(const std::string& name) const {
    std::uint64_t best = 0;
    for (const auto& j : json_lines(name)) {
      if (j.contains("applied")) best = std::max(best, j["applied"].get<std::uint64_t>());
      if (j.value("event", "") == "applied") best = std::max(best, j["seq"].get<std::uint64_t>());
    }
    return best;
  }
  bool caught_up(const std::string& name) const {
    for (const auto& j : json_lines(name)) {
      if (j.value("event", "") == "caught_up") return true;
    }
    return false;
  }

  std::vector<std::string> replica_args(const std::string& node, const std::string& dump) const {
    std::vector<std::string> args = {
        "replica", "--endpoints",  file("endpoints.json"),
        "--node",  node,           "--dump",
        dump,      "--timeout-ms", std::to_string(o_.timeout_s * 1000)};
    return with_keys(std::move(args), "replica");
  }
  // With --secure, `args` plus the CURVE flags of the client `who` (keys/WHO.key_secret).
  std::vector<std::string> with_keys(std::vector<std::string> args, const std::string& who) const {
    if (!o_.secure) return args;
    for (const std::string& a :
         {std::string("--curve-key"), file("keys/" + who), std::string("--curve-server"),
          file("keys/hub.key"), std::string("--curve-bus"), file("keys/proxy.key")}) {
      args.push_back(a);
    }
    return args;
  }
  // --secure: a key pair per identity and the two policies (the writer's, the proxy's).
  void make_keys();
  CurveOptions key_of(const std::string& who, bool with_policy_dir = false) const;

  void start_processes(const BusProxy& proxy);
  std::uint64_t run_workload(zmq::context_t& context);
  void workload_round(Registry& registry, int round);
  void restart_replica_2(std::uint64_t so_far);
  void finish(std::uint64_t last, const std::vector<std::string>& hooks_expected);
  bool check(const std::vector<std::string>& hooks_expected);
  std::vector<std::string> expected_hooks(std::uint64_t last) const;

  const DemoOptions& o_;
  const tools::Signals& signals_;
  const std::chrono::seconds timeout_;
  std::string self_, dir_;
  std::map<std::string, Proc> procs_;
  std::vector<std::string> live_;  // the processes that must keep running
  std::uint64_t writes_ = 0, pids_ = 0;
};

std::string node_name(int k) { return "n" + std::to_string(1 + k % 3); }
std::string child_name(int i) { return "child-" + std::to_string(i); }

// One round: start the children (half one by one, half in bulk), migrate every 4th to the
// next node, stop every 6th, then node n(1 + round % 3) goes down.
void Demo::workload_round(Registry& registry, int round) {
  const auto check = [&](const auto& result, const std::string& what) {
    if (!result.ok()) throw Failure(what + " failed: " + result.status().to_string());
    ++writes_;
  };
  const auto pid = [&] { return "<0." + std::to_string(++pids_) + ".0>"; };
  const auto spec = [](int i) {
    return make_spec(child_name(i), "Elixir.Demo.Worker", "start_link", {Value(i)});
  };
  const auto metadata = [](int i) {
    return Metadata{{"tag", Value(i % 2 == 0 ? "worker" : "cache")}};
  };
  const int n = o_.children;
  for (int i = 0; i < n / 2; ++i) {
    InsertOptions io;
    io.hooks = true;
    io.metadata = metadata(i);
    check(registry.insert(spec(i), {{node_name(i + round), pid()}}, io), "insert");
  }
  for (int i = n / 2; i < n; i += 6) {
    std::vector<Entry> batch;
    for (int k = i; k < std::min(i + 6, n); ++k) {
      batch.push_back(Entry{spec(k), {{node_name(k + round), pid()}}, metadata(k)});
    }
    WriteOptions wo;
    wo.hooks = true;
    check(registry.bulk_insert(std::move(batch), wo), "bulk_insert");
  }
  for (int i = 1; i < n; i += 4) {
    InsertOptions io;
    io.hooks = true;
    io.metadata = metadata(i);
    check(registry.insert(spec(i), {{node_name(i + round + 1), pid()}}, io), "migrate");
  }
  for (int i = 5; i < n; i += 6) {
    WriteOptions wo;
    wo.hooks = true;
    check(registry.erase(child_name(i), wo), "stop");
  }
  check(registry.node_down(node_name(round)), "node_down");
}

// The hook events the log holds up to `last`, as `tail --hooks` prints them.
std::vector<std::string> Demo::expected_hooks(std::uint64_t last) const {
  auto reader = replay::LogReader::open(file("log"));
  if (!reader.ok()) throw Failure("cannot read the log: " + reader.status().to_string());
  std::vector<std::string> lines;
  replay::LogRecord record;
  for (;;) {
    auto more = (*reader)->next(&record);
    if (!more.ok()) throw Failure("cannot read the log: " + more.status().to_string());
    if (!*more || record.seq > last) break;
    auto event =
        events::decode(record.payload, events::record_limits(LogOptions{}.max_record_bytes));
    if (!event.ok()) throw Failure("bad event in the log: " + event.status().to_string());
    for (const auto& hook : hook_events_of(*event)) lines.push_back(dump_line(to_json(hook)));
  }
  return lines;
}

// The writer (procreg serve, publishing through `proxy`), two replicas and a hook subscriber,
// each a process of this executable; returns once both replicas caught up.
void Demo::start_processes(const BusProxy& proxy) {
  const std::string endpoints = file("endpoints.json");
  std::vector<std::string> writer_keys;
  if (o_.secure) {
    writer_keys = {"--curve-key",    file("keys/hub"),
                   "--curve-policy", file("keys/writer-policy"),
                   "--curve-bus",    file("keys/proxy.key")};
  }
  std::vector<std::string> writer_args = {"serve",
                                          "--log-dir",
                                          file("log"),
                                          "--hub",
                                          "demo",
                                          "--connect",
                                          proxy.frontend_endpoint(),
                                          "--advertise-bus",
                                          proxy.backend_endpoint(),
                                          "--replay",
                                          "tcp://127.0.0.1:*",
                                          "--command",
                                          "tcp://127.0.0.1:*",
                                          "--stats",
                                          "tcp://127.0.0.1:*",
                                          "--heartbeat-ms",
                                          "200",
                                          "--durability",
                                          "group",
                                          "--endpoints-file",
                                          endpoints,
                                          "--dump",
                                          file("writer.json"),
                                          "--snapshot-every-events",
                                          "40"};
  writer_args.insert(writer_args.end(), writer_keys.begin(), writer_keys.end());
  start("writer", writer_args);
  wait("the writer's endpoints", [&] { return fs::exists(endpoints); }, {"writer"});
  out_line("writer:    procreg serve, pid " + std::to_string(procs_.at("writer").process.pid()) +
           ", log " + file("log"));

  start("replica-1", replica_args("r1", file("replica-1.json")));
  start("replica-2", replica_args("r2", file("replica-2.json")));
  start("hooks", with_keys({"tail", "--hooks", "--from", "1", "--endpoints", endpoints}, "hooks"));
  out_line("replicas:  procreg replica x2, pids " +
           std::to_string(procs_.at("replica-1").process.pid()) + " and " +
           std::to_string(procs_.at("replica-2").process.pid()));
  out_line("hooks:     procreg tail --hooks --from 1, pid " +
           std::to_string(procs_.at("hooks").process.pid()));
  live_ = {"writer", "replica-1", "replica-2", "hooks"};
  for (const char* r : {"replica-1", "replica-2"}) {
    wait(
        std::string(r) + " to catch up", [&] { return caught_up(r); }, live_);
  }
}

// The workload, written by this process through its own replica (remote writes); replica-2 is
// killed and restarted after the first round. Returns the last seq written.
std::uint64_t Demo::run_workload(zmq::context_t& context) {
  HubEndpoints hub;
  hub.endpoints_file = file("endpoints.json");
  hub.resolve();
  ReplicaOptions ro;
  ro.hub = hub.hub;
  ro.local_node = "n0";
  ro.bus_endpoint = hub.bus;
  ro.replay_endpoint = hub.replay;
  ro.command_endpoint = hub.command;
  if (o_.secure) ro.curve = key_of("client");
  auto client_started = Replica::start(context, ro);
  if (!client_started.ok()) throw Failure("client: " + client_started.status().to_string());
  std::unique_ptr<Replica> client = std::move(*client_started);
  if (!client->wait_caught_up(timeout_).ok()) throw Failure("the client did not catch up");

  for (int round = 0; round < o_.rounds; ++round) {
    workload_round(client->registry(), round);
    if (round == 0) restart_replica_2(client->last_applied());
  }
  const std::uint64_t last = client->last_applied();
  out_line("workload:  " + std::to_string(writes_) + " writes (" + std::to_string(o_.children) +
           " children x " + std::to_string(o_.rounds) +
           " rounds: start, bulk start, migrate, stop, node down); last seq " +
           std::to_string(last));
  client->stop();
  return last;
}

// Once replica-2 followed the writes so far: SIGKILL, then a new process on the same dump.
void Demo::restart_replica_2(std::uint64_t so_far) {
  wait(
      "replica-2 to follow the first round", [&] { return applied("replica-2") >= so_far; }, live_);
  Proc& r2 = procs_.at("replica-2");
  r2.process.signal(SIGKILL);
  const auto status = r2.process.wait_exit(milliseconds(10'000));
  const std::uint64_t killed_at = applied("replica-2");
  out_line("restart:   replica-2 killed (" + tools::ChildProcess::describe(status) + ") at seq " +
           std::to_string(killed_at) + ", between rounds 1 and 2; restarted");
  start("replica-2b", replica_args("r2", file("replica-2.json")));
  live_ = {"writer", "replica-1", "replica-2b", "hooks"};
}

// Waits for every replica to apply `last` and for the hook subscriber's hook events, then
// stops them all (each writes its dump).
void Demo::finish(std::uint64_t last, const std::vector<std::string>& hooks_expected) {
  for (const char* r : {"replica-1", "replica-2b"}) {
    wait(
        std::string(r) + " to apply seq " + std::to_string(last),
        [&] { return applied(r) >= last; }, live_);
  }
  wait(
      "the hook subscriber's " + std::to_string(hooks_expected.size()) + " hook events",
      [&] { return tools::read_lines(procs_.at("hooks").out).size() >= hooks_expected.size(); },
      live_);
  for (const char* name : {"replica-1", "replica-2b", "hooks", "writer"}) stop(name);
}

// Every replica's dump equals the writer's, the hook events are the log's, the log is sound.
bool Demo::check(const std::vector<std::string>& hooks_expected) {
  const std::string reference = tools::read_file(file("writer.json"));
  std::size_t rows = 0;
  try {
    const Json tables = Json::parse(reference);
    for (auto it = tables.begin(); it != tables.end(); ++it) rows += it->size();
  } catch (const Json::parse_error&) {
    throw Failure("the writer's dump is not JSON");
  }
  bool replicas_equal = !reference.empty();
  for (const auto& [name, dump] :
       {std::pair{"replica-1", "replica-1.json"}, std::pair{"replica-2", "replica-2.json"}}) {
    const bool same = tools::read_file(file(dump)) == reference;
    replicas_equal = replicas_equal && same;
    out_line(std::string("check:     ") + name + "'s dump equals the writer's (" +
             std::to_string(rows) + " rows): " + (same ? "yes" : "NO"));
  }
  const auto hooks_got = tools::read_lines(procs_.at("hooks").out);
  const bool hooks_equal = hooks_got == hooks_expected;
  out_line("check:     hook subscriber got " + std::to_string(hooks_got.size()) + " of " +
           std::to_string(hooks_expected.size()) +
           " hook events, in log order: " + (hooks_equal ? "yes" : "NO"));
  Proc& verify = start("verify", {"verify", "--log-dir", file("log")});
  const bool sound = tools::ChildProcess::exited_ok(verify.process.wait_exit(timeout_));
  out_line(std::string("check:     procreg verify finds the log sound: ") + (sound ? "yes" : "NO"));
  if (o_.keep) out_line("files kept in " + dir_);
  if (replicas_equal && hooks_equal && sound) return true;
  report_failure(!replicas_equal ? "a replica differs from the writer"
                 : !hooks_equal  ? "the hook events differ from the log's"
                                 : "the log is not sound");
  return false;
}

void Demo::make_keys() {
  // The writer admits the replicas and the hook subscriber as readers, and the demo's own
  // replica, which writes and reports nodes down, as an admin; the proxy admits the writer as
  // its publisher.
  const std::map<std::string, std::vector<std::string>> policy = {
      {"writer-policy/reader", {"replica", "hooks"}},
      {"writer-policy/admin", {"client"}},
      {"proxy-policy/publisher", {"hub"}},
      {"proxy-policy/reader", {"replica", "hooks", "client"}}};
  for (const char* who : {"hub", "proxy", "replica", "hooks", "client"}) {
    auto keys = generate_curve_keys();
    if (!keys.ok()) throw Failure("keygen: " + keys.status().to_string());
    fs::create_directories(file("keys"));
    if (Status s = write_curve_keys(file(std::string("keys/") + who), *keys); !s.ok()) {
      throw Failure(s.to_string());
    }
  }
  for (const auto& [dir, names] : policy) {
    fs::create_directories(file("keys/" + dir));
    for (const auto& name : names) {
      fs::copy_file(file("keys/" + name + ".key"), file("keys/" + dir + "/" + name + ".key"));
    }
  }
}

CurveOptions Demo::key_of(const std::string& who, bool with_policy_dir) const {
  CurveOptions c;
  auto keys = read_curve_keys(file("keys/" + who), true);
  auto hub = read_curve_keys(file("keys/hub"), false);
  auto proxy = read_curve_keys(file("keys/proxy"), false);
  if (!keys.ok() || !hub.ok() || !proxy.ok()) throw Failure("cannot read the demo's keys");
  c.keys = *keys;
  c.server_key = hub->public_key;
  c.bus_server_key = proxy->public_key;
  if (with_policy_dir) {
    auto policy = AccessPolicy::load(file("keys/proxy-policy"));
    if (!policy.ok()) throw Failure(policy.status().to_string());
    c.policy = *policy;
  }
  return c;
}

int Demo::run() {
  zmq::context_t context;
  BusProxyOptions po;
  if (o_.secure) {
    make_keys();
    po.curve = key_of("proxy", /*with_policy_dir=*/true);
  }
  auto proxy_started = BusProxy::start(context, po);
  if (!proxy_started.ok()) throw Failure("bus proxy: " + proxy_started.status().to_string());
  std::unique_ptr<BusProxy> proxy = std::move(*proxy_started);
  out_line("procreg demo in " + dir_);
  out_line("bus:       proxy in-process, publishers at " + proxy->frontend_endpoint() +
           ", subscribers at " + proxy->backend_endpoint());
  if (o_.secure) {
    out_line("security:  CURVE on every socket; keys and roles in " + file("keys"));
  }

  start_processes(*proxy);
  const std::uint64_t last = run_workload(context);
  const std::vector<std::string> hooks_expected = expected_hooks(last);
  finish(last, hooks_expected);
  proxy->stop();

  if (!check(hooks_expected)) return kExitFailure;
  out_line("demo OK: every replica equals the writer, every hook event arrived once, in order");
  return kExitOk;
}

void Demo::report_failure(const std::string& why) {
  out_line("FAILED: " + why);
  for (auto& [name, p] : procs_) {
    for (const auto& [stream, path] : {std::pair{"stdout", p.out}, std::pair{"stderr", p.err}}) {
      const auto lines = tools::read_lines(path);
      for (std::size_t i = lines.size() > 3 ? lines.size() - 3 : 0; i < lines.size(); ++i) {
        out_line("  " + name + " " + stream + ": " + lines[i].substr(0, 300));
      }
    }
  }
  if (!o_.keep) out_line("  (run with --keep to keep the files)");
}

int run_demo(const DemoOptions& o) {
  const tools::Signals signals;  // before any thread starts
  Demo demo(o, signals);
  try {
    return demo.run();
  } catch (const Failure& e) {
    demo.report_failure(e.what());
    return kExitFailure;
  }
}

}  // namespace

void add_demo_command(CLI::App& app, Commands* commands) {
  auto o = std::make_shared<DemoOptions>();
  CLI::App* sub = app.add_subcommand(
      "demo", "Run a writer, two replicas and a hook subscriber on a local bus, and check them");
  sub->add_option("--children", o->children, "children per workload round")
      ->check(CLI::Range(1, 10'000))
      ->capture_default_str();
  sub->add_option("--rounds", o->rounds, "workload rounds")
      ->check(CLI::Range(1, 1'000))
      ->capture_default_str();
  sub->add_option("--timeout-s", o->timeout_s, "bound on every wait, in seconds")
      ->check(CLI::Range(1, 3'600))
      ->capture_default_str();
  sub->add_flag("--keep", o->keep, "keep the temporary directory (logs, dumps, outputs)");
  sub->add_flag("--secure", o->secure,
                "CURVE on every socket: keys made in the temporary directory, roles checked");
  commands->push_back({sub, [o] { return run_demo(*o); }});
}

}  // namespace procreg::cli
