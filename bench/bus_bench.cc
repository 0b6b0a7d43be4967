// procreg's bus benchmarks, each next to a raw ZeroMQ baseline measured in the same run:
//   throughput: events applied per second at a Replica, writer -> HubServer PUB -> SUB ->
//               replica, vs raw PUB/SUB of 3-frame messages of the same sizes (topic,
//               header, the writer's actual encoded events) with the same high-water marks;
//               the writer makes one insert call per event, then the same inserts through
//               Registry::write in batches of B (--batch, 64; an event per insert either way),
//               then insert calls from T threads at once (--writers, 8)
//   latency:    time from just before Registry::insert on the writer to the replica having
//               applied that seq, at a steady paced rate, vs raw PUB/SUB at the same rate
//   catchup:    a new replica on a hub of N entries, from Replica::start to wait_caught_up,
//               vs the same snapshot bytes pushed over a raw DEALER/ROUTER in the same
//               chunking, and vs rebuilding the state from the log locally (open_replay)
//   remote:     inserts from T threads of one replica through the command channel, each
//               returning once committed under group commit and applied at the replica,
//               with 1 and with T writes in flight, vs the same T threads on the writer
//               itself in the same run
//
// Writer, HubServer, replica and the raw endpoints run in one process on separate threads
// (one zmq::context_t, one I/O thread), as the plugin tests wire them.
//
//   bus_bench [--events N] [--entries N] [--rate R] [--seconds S] [--repeats R]
//             [--catchup-repeats R] [--observer wait|spin|both]
//             [--only throughput|latency|catchup|remote] [--writers T] [--remote-writes N]
//             [--transport tcp|ipc|inproc] [--batch B]
#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include "bench/bench_util.h"
#include "log/log.h"
#include "log/log_reader.h"
#include "plugin/replay_client.h"
#include "plugin/wire.h"
#include "procreg/hub_server.h"
#include "procreg/registry.h"
#include "procreg/replica.h"
#include "procreg/security.h"
#include "registry/registry_access.h"
#include "state/projection.h"

namespace procreg::bench {
namespace {

constexpr char kHub[] = "bench";
const int kPublishHwm = HubServerOptions{}.publish_hwm;  // 100'000, as HubServer's PUB
const int kReceiveHwm = ReplicaOptions{}.receive_hwm;    // 1'000'000, as a Replica's SUB
constexpr std::chrono::seconds kLongWait{600};
constexpr std::size_t kLoadSample = 100'000;  // rows loaded to see where catch-up time goes

struct Config {
  std::size_t events = 500'000;     // throughput: events per run
  std::size_t entries = 1'000'000;  // catch-up: rows in the hub
  double rate = 10'000;             // latency: events per second
  double seconds = 5;               // latency: duration of each run
  int repeats = 2;                  // throughput and the raw baselines: best of
  int catchup_repeats = 1;          // catch-up replica runs: best of
  std::string observer = "both";    // latency: wait, spin or both
  std::string only;                 // throughput, latency, catchup or remote
  int writers = 8;                  // remote, and throughput's third variant: writing threads
  std::size_t remote_writes = 250;  // remote: inserts per thread
  std::string transport = "tcp";    // tcp, ipc or inproc
  std::size_t batch = 64;           // throughput: inserts per Registry::write (1: insert calls)
};

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "bus_bench: %s\n", what.c_str());
  std::exit(1);
}
void check(const Status& s, const char* what) {
  if (!s.ok()) die(std::string(what) + ": " + s.to_string());
}

std::string child_id(std::size_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "game_session_%08zu", i);
  return buf;
}

// The workload of registry_bench (an insert event of about 200 bytes with the writer's fields).
Entry make_entry(std::size_t i) {
  return Entry{make_spec(child_id(i), "Elixir.MyApp.GameSession", "start_link",
                         {Value(static_cast<std::uint64_t>(i)), Value("eu-west")}),
               {{"node" + std::to_string(i % 7) + "@host", "<0." + std::to_string(i) + ".0>"}},
               {{"tag", Value("region-" + std::to_string(i % 100))}}};
}

// One insert call's arguments, built before the clock starts.
struct InsertArgs {
  ChildSpec spec;
  NodePids node_pids;
  InsertOptions options;
};
std::vector<InsertArgs> make_inserts(std::size_t first, std::size_t n) {
  std::vector<InsertArgs> out;
  out.reserve(n);
  for (std::size_t i = first; i < first + n; ++i) {
    Entry e = make_entry(i);
    InsertArgs a{std::move(e.spec), std::move(e.node_pids), {}};
    a.options.metadata = std::move(e.metadata);
    out.push_back(std::move(a));
  }
  return out;
}

RegistryOptions writer_options(const std::string& dir) {
  RegistryOptions o;
  o.hub = kHub;
  o.log_dir = dir;
  o.local_node = "node0@host";
  o.log.durability = Durability::kNone;
  o.janitor_interval = std::chrono::milliseconds(0);
  return o;
}

// Where each socket binds, for one transport. tcp binds ephemeral ports on loopback.
struct Endpoints {
  std::string publish, replay, command, raw;
};
Endpoints endpoints_for(const std::string& transport, const TempDir& dir, const std::string& tag) {
  if (transport == "tcp") {
    const std::string any = "tcp://127.0.0.1:*";
    return {any, any, any, any};
  }
  if (transport == "ipc") {
    return {"ipc://" + dir.sub(tag + "-pub"), "ipc://" + dir.sub(tag + "-replay"),
            "ipc://" + dir.sub(tag + "-cmd"), "ipc://" + dir.sub(tag + "-raw")};
  }
  if (transport == "inproc") {
    return {"inproc://pub-" + tag, "inproc://replay-" + tag, "inproc://cmd-" + tag,
            "inproc://raw-" + tag};
  }
  die("unknown transport " + transport);
}

// A HubServer's options for these endpoints.
HubServerOptions server_options(const Endpoints& ep) {
  HubServerOptions so;
  so.publish_endpoint = ep.publish;
  so.replay_endpoint = ep.replay;
  so.command_endpoint = ep.command;
  return so;
}

// A replica of the bench's hub, on `server`'s endpoints.
ReplicaOptions replica_options(const HubServer& server) {
  ReplicaOptions ro;
  ro.hub = kHub;
  ro.local_node = "node1@host";
  ro.bus_endpoint = server.publish_endpoint();
  ro.replay_endpoint = server.replay_endpoint();
  ro.command_endpoint = server.command_endpoint();
  return ro;
}

// ---- CPU time per thread (from /proc/self/task/*/schedstat, in ns) -----------------------
// Who spends what per message: the sending thread (this one: the writer, or the raw PUB),
// ZeroMQ's I/O thread, the receiving thread(s) (the replica's, or the raw SUB's) and the rest.

struct ThreadCpu {
  std::string name;
  std::uint64_t ns = 0;
};
using CpuSnapshot = std::map<int, ThreadCpu>;

CpuSnapshot thread_cpu() {
  CpuSnapshot out;
  std::error_code ec;
  for (const auto& d : std::filesystem::directory_iterator("/proc/self/task", ec)) {
    const int tid = std::atoi(d.path().filename().c_str());
    ThreadCpu t;
    if (FILE* f = std::fopen((d.path() / "comm").c_str(), "r")) {
      char buf[64] = {0};
      if (std::fgets(buf, sizeof buf, f) != nullptr) t.name = buf;
      std::fclose(f);
      if (!t.name.empty() && t.name.back() == '\n') t.name.pop_back();
    }
    if (FILE* f = std::fopen((d.path() / "schedstat").c_str(), "r")) {
      unsigned long long ns = 0;
      if (std::fscanf(f, "%llu", &ns) == 1) t.ns = ns;
      std::fclose(f);
    }
    out.emplace(tid, std::move(t));
  }
  return out;
}

std::set<int> thread_ids() {
  std::set<int> ids;
  for (const auto& [tid, t] : thread_cpu()) ids.insert(tid);
  return ids;
}

// "sender 1.9 us, zmq I/O 1.1 us, receiver 2.0 us, other 0.1 us" of CPU per message.
std::string cpu_per_message(const CpuSnapshot& before, const CpuSnapshot& after,
                            const std::set<int>& receivers, std::size_t messages) {
  const int self = static_cast<int>(::gettid());
  double sender = 0, io = 0, receiver = 0, other = 0;
  for (const auto& [tid, t] : after) {
    auto b = before.find(tid);
    const double ns = static_cast<double>(t.ns - (b == before.end() ? 0 : b->second.ns));
    if (tid == self) {
      sender += ns;
    } else if (t.name.rfind("ZMQbg/IO", 0) == 0) {
      io += ns;
    } else if (receivers.count(tid) != 0) {
      receiver += ns;
    } else {
      other += ns;
    }
  }
  const double m = static_cast<double>(std::max<std::size_t>(messages, 1)) * 1e3;
  char buf[160];
  std::snprintf(buf, sizeof buf,
                "CPU per message: sender %.2f us, zmq I/O %.2f us, receiver %.2f us, other %.2f us",
                sender / m, io / m, receiver / m, other / m);
  return buf;
}

// A writer with its HubServer and a replica that is caught up and receiving live events.
struct Bus {
  TempDir dir;
  std::unique_ptr<Registry> writer;
  std::unique_ptr<HubServer> server;
  std::unique_ptr<Replica> replica;
  std::set<int> replica_threads;  // the replica's and its registry's hook thread

  // curve: every socket runs CURVE (the writer's endpoints admit the replica's key as reader).
  Bus(zmq::context_t& ctx, const std::string& transport, const std::string& tag,
      bool curve = false) {
    auto w = Registry::open(writer_options(dir.path()));
    check(w.status(), "open writer");
    writer = std::move(*w);
    HubServerOptions so = server_options(endpoints_for(transport, dir, tag));
    ReplicaOptions ro;
    if (curve) {
      auto server_keys = generate_curve_keys();
      auto replica_keys = generate_curve_keys();
      check(server_keys.status(), "keygen");
      check(replica_keys.status(), "keygen");
      so.curve.keys = *server_keys;
      so.curve.policy = AccessPolicy::from_grants(
          {{replica_keys->public_key, Grant{static_cast<std::uint8_t>(Role::kReader), {}}}});
      ro.curve.keys = *replica_keys;
      ro.curve.server_key = server_keys->public_key;
    }
    auto s = HubServer::start(ctx, *writer, so);
    check(s.status(), "start HubServer");
    server = std::move(*s);
    const std::set<int> before = thread_ids();
    const CurveOptions replica_curve = ro.curve;
    ro = replica_options(*server);
    ro.curve = replica_curve;
    auto r = Replica::start(ctx, ro);
    check(r.status(), "start Replica");
    replica = std::move(*r);
    for (int tid : thread_ids()) {
      if (before.count(tid) == 0) replica_threads.insert(tid);
    }
    check(replica->wait_caught_up(kLongWait), "replica catch-up");
    // The SUB's subscription reaches the PUB asynchronously; until it has, events are dropped
    // (and repaired). Write until one arrives live, so the measured run starts on a live bus.
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    for (std::size_t i = 0; replica->stats().live_events == 0; ++i) {
      if (Clock::now() > deadline) die("the replica never received a live event");
      auto seq = writer->insert(make_spec("warmup_" + std::to_string(i)), {{"n0", "<0.1.0>"}});
      check(seq.status(), "warmup insert");
      check(replica->wait_for(*seq, kLongWait), "warmup wait_for");
    }
  }
  ~Bus() {
    replica.reset();
    server.reset();
    writer.reset();
  }
};

// The frames of real event messages: the topic, a header of the size the writer encodes and
// the event bytes the writer wrote to its log (a sample, cycled).
struct MessageSample {
  std::string topic;
  std::size_t header_bytes = 0;
  std::vector<std::string> events;
  double mean_event_bytes() const {
    double sum = 0;
    for (const auto& e : events) sum += static_cast<double>(e.size());
    return sum / static_cast<double>(events.size());
  }
};

MessageSample sample_messages(std::size_t n_events) {
  constexpr std::size_t kSample = 1'000;
  TempDir dir;
  MessageSample sample;
  std::uint64_t epoch = 0;
  {
    auto w = Registry::open(writer_options(dir.path()));
    check(w.status(), "open writer");
    for (auto& a : make_inserts(0, kSample)) {
      check((*w)->insert(std::move(a.spec), std::move(a.node_pids), a.options).status(), "insert");
    }
    epoch = (*w)->epoch();
  }
  auto reader = replay::LogReader::open(dir.path());
  check(reader.status(), "open log");
  replay::LogRecord record;
  while (*(*reader)->next(&record)) sample.events.push_back(record.payload);
  sample.topic = plugin::wire::event_topic(kHub, kHub);
  std::string header;
  const std::uint64_t seq = std::max<std::uint64_t>(n_events, 2);
  plugin::wire::encode(plugin::wire::EventHeader{seq, epoch, seq - 1}, &header);
  sample.header_bytes = std::max<std::size_t>(header.size(), 16);
  return sample;
}

// With BUS_BENCH_PERF_CTL naming perf's control FIFO (perf record -D -1
// --control=fifo:<path>), the timed windows of the bus runs are the only ones profiled.
void perf_control(const char* command) {
  static const char* path = std::getenv("BUS_BENCH_PERF_CTL");
  if (path == nullptr) return;
  if (FILE* f = std::fopen(path, "w")) {
    std::fprintf(f, "%s\n", command);
    std::fclose(f);
  }
}

// ---- raw PUB/SUB -------------------------------------------------------------------------

// The header frame of a raw message: seq and send time in its first 16 bytes, padded to the
// size of the writer's EventHeader. seq 0 is a warm-up message (not counted).
void put_header(std::string& h, std::uint64_t seq, std::int64_t t_ns) {
  std::memcpy(h.data(), &seq, 8);
  std::memcpy(h.data() + 8, &t_ns, 8);
}
std::uint64_t header_seq(const zmq::message_t& m) {
  std::uint64_t seq = 0;
  if (m.size() >= 8) std::memcpy(&seq, m.data(), 8);
  return seq;
}
std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

struct RawPair {
  zmq::socket_t pub, sub;
};
// PUB bound (sndhwm as HubServer's, linger 0), SUB connected (rcvhwm as a Replica's),
// subscribed to the event topic's prefix.
// lossless: an XPUB with ZMQ_XPUB_NODROP instead, whose send fails at the high-water mark
// instead of dropping (the sender then waits), the best a lossless PUB could do.
RawPair raw_pair(zmq::context_t& ctx, const std::string& endpoint, bool lossless = false) {
  RawPair p{zmq::socket_t(ctx, lossless ? zmq::socket_type::xpub : zmq::socket_type::pub),
            zmq::socket_t(ctx, zmq::socket_type::sub)};
  if (lossless) p.pub.set(zmq::sockopt::xpub_nodrop, true);
  p.pub.set(zmq::sockopt::linger, 0);
  p.pub.set(zmq::sockopt::sndhwm, kPublishHwm);
  p.pub.bind(endpoint);
  p.sub.set(zmq::sockopt::linger, 0);
  p.sub.set(zmq::sockopt::rcvhwm, kReceiveHwm);
  p.sub.set(zmq::sockopt::rcvtimeo, 1'000);  // bounded waits
  p.sub.set(zmq::sockopt::subscribe, plugin::wire::events_prefix(kHub));
  p.sub.connect(p.pub.get(zmq::sockopt::last_endpoint));
  return p;
}

// Sends one 3-frame message, copying each frame into a zmq::message_t (as the Publisher does).
// Returns the number of times the send found the high-water mark (lossless: and waited).
std::size_t raw_send(zmq::socket_t& pub, const MessageSample& s, std::string& header,
                     std::size_t i) {
  const std::string& event = s.events[i % s.events.size()];
  zmq::message_t topic(s.topic.data(), s.topic.size());
  zmq::message_t head(header.data(), header.size());
  zmq::message_t body(event.data(), event.size());
  const auto more = zmq::send_flags::sndmore | zmq::send_flags::dontwait;
  std::size_t waits = 0;
  while (!pub.send(topic, more)) {  // only an XPUB with NODROP fails here
    ++waits;
    std::this_thread::yield();
  }
  (void)pub.send(head, more);
  (void)pub.send(body, zmq::send_flags::dontwait);
  return waits;
}

// Receives one whole message; returns its seq, or nullopt on the receive timeout.
std::optional<std::uint64_t> raw_recv(zmq::socket_t& sub, zmq::message_t (&frames)[3]) {
  std::size_t n = 0;
  for (;;) {
    zmq::message_t part;
    if (!sub.recv(part)) return std::nullopt;
    const bool more = part.more();
    if (n < 3) frames[n++] = std::move(part);
    if (!more) break;
  }
  return header_seq(frames[1]);
}

// Warm-up: seq-0 messages until the subscriber has seen one (the subscription is through).
void raw_warmup(zmq::socket_t& pub, const MessageSample& s, std::string& header,
                const std::atomic<bool>& ready) {
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (!ready.load()) {
    if (Clock::now() > deadline) die("raw SUB never received a message");
    put_header(header, 0, 0);
    raw_send(pub, s, header, 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

struct RawThroughput {
  double rate = 0;  // messages received per second
  std::size_t received = 0;
  std::size_t dropped = 0;
  std::size_t hwm_waits = 0;  // lossless: messages that waited at the high-water mark
  std::string cpu;
};

RawThroughput raw_throughput(zmq::context_t& ctx, const std::string& endpoint,
                             const MessageSample& s, std::size_t n, bool lossless) {
  RawPair p = raw_pair(ctx, endpoint, lossless);
  std::atomic<bool> ready{false}, started{false};
  Clock::time_point t0, t_last;
  std::size_t received = 0;
  std::atomic<int> subscriber_tid{0};
  CpuSnapshot cpu0, cpu1;
  std::thread subscriber([&, sub = std::move(p.sub)]() mutable {
    subscriber_tid = static_cast<int>(::gettid());
    zmq::message_t frames[3];
    for (;;) {
      auto seq = raw_recv(sub, frames);
      if (!seq) {
        // 1 s with nothing: the rest was dropped (only once the publisher is going).
        if (started.load()) break;
        continue;
      }
      if (*seq == 0) {
        ready = true;
        continue;
      }
      ++received;
      t_last = Clock::now();
      if (*seq == n) break;
    }
    cpu1 = thread_cpu();  // while this thread exists (a joined thread's schedstat is gone)
  });
  std::string header(s.header_bytes, '\0');
  raw_warmup(p.pub, s, header, ready);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // let warm-up traffic drain
  cpu0 = thread_cpu();
  t0 = Clock::now();
  started = true;
  std::size_t waits = 0;
  for (std::size_t i = 1; i <= n; ++i) {
    put_header(header, i, 0);
    waits += raw_send(p.pub, s, header, i) != 0 ? 1 : 0;
  }
  subscriber.join();
  RawThroughput r;
  r.cpu = cpu_per_message(cpu0, cpu1, {subscriber_tid.load()}, received);
  r.received = received;
  r.dropped = n - received;
  r.hwm_waits = waits;
  r.rate = static_cast<double>(received) /
           std::max(std::chrono::duration<double>(t_last - t0).count(), 1e-9);
  return r;
}

// ---- latency bookkeeping -----------------------------------------------------------------

// Send and receive (or applied) times of each message, ns; got 0: never arrived.
struct Samples {
  std::vector<std::int64_t> sent, got;
  explicit Samples(std::size_t n = 0) : sent(n, 0), got(n, 0) {}
  void append(const Samples& o) {
    sent.insert(sent.end(), o.sent.begin(), o.sent.end());
    got.insert(got.end(), o.got.begin(), o.got.end());
  }
};

struct Percentiles {
  double p50 = 0, p99 = 0, p999 = 0, max = 0;  // µs
  std::size_t missing = 0;
};
Percentiles percentiles(const Samples& samples) {
  const auto& sent = samples.sent;
  const auto& got = samples.got;
  std::vector<double> us;
  Percentiles p;
  for (std::size_t i = 0; i < sent.size(); ++i) {
    if (got[i] == 0) {
      ++p.missing;
      continue;
    }
    us.push_back(static_cast<double>(got[i] - sent[i]) / 1e3);
  }
  if (us.empty()) return p;
  std::sort(us.begin(), us.end());
  auto at = [&](double q) {
    return us[std::min(us.size() - 1,
                       static_cast<std::size_t>(q * static_cast<double>(us.size())))];
  };
  p.p50 = at(0.50);
  p.p99 = at(0.99);
  p.p999 = at(0.999);
  p.max = us.back();
  return p;
}

// Calls send(i) for i in [0, n) at `rate` per second, open loop: each call starts at its slot
// (start + i / rate) or at once if the sender is late; the caller stamps its own send time.
void paced(std::size_t n, double rate, const std::function<void(std::size_t)>& send) {
  const auto start = Clock::now() + std::chrono::milliseconds(5);
  const auto interval = std::chrono::duration<double>(1.0 / rate);
  for (std::size_t i = 0; i < n; ++i) {
    const auto slot =
        start + std::chrono::duration_cast<Clock::duration>(interval * static_cast<double>(i));
    std::this_thread::sleep_until(slot);
    send(i);
  }
}

Samples raw_latency(zmq::context_t& ctx, const std::string& endpoint, const MessageSample& s,
                    std::size_t n, double rate) {
  RawPair p = raw_pair(ctx, endpoint);
  std::atomic<bool> ready{false}, started{false};
  Samples out(n);
  auto& sent = out.sent;
  auto& got = out.got;
  std::thread subscriber([&, sub = std::move(p.sub)]() mutable {
    zmq::message_t frames[3];
    for (;;) {
      auto seq = raw_recv(sub, frames);
      if (!seq) {
        if (started.load()) break;  // 1 s of silence after the start: the rest was lost
        continue;
      }
      const std::int64_t t = now_ns();
      if (*seq == 0) {
        ready = true;
        continue;
      }
      got[*seq - 1] = t;
      if (*seq == n) break;
    }
  });
  std::string header(s.header_bytes, '\0');
  raw_warmup(p.pub, s, header, ready);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  started = true;
  paced(n, rate, [&](std::size_t i) {
    sent[i] = now_ns();
    put_header(header, i + 1, sent[i]);
    raw_send(p.pub, s, header, i + 1);
  });
  subscriber.join();
  return out;
}

// ---- throughput --------------------------------------------------------------------------

// Writes `inserts` on `writer`: one insert call each (batch 1), or Registry::write of `batch`
// inserts at a time. Returns the last seq.
std::uint64_t write_all(Registry& writer, std::vector<InsertArgs>& inserts, std::size_t batch,
                        int threads = 1) {
  std::uint64_t last = 0;
  if (threads > 1) {  // insert calls from `threads` threads, each on its share, at once
    std::vector<std::thread> pool;
    const std::size_t share = (inserts.size() + static_cast<std::size_t>(threads) - 1) /
                              static_cast<std::size_t>(threads);
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        const std::size_t begin = static_cast<std::size_t>(t) * share;
        for (std::size_t k = begin; k < std::min(inserts.size(), begin + share); ++k) {
          auto& a = inserts[k];
          auto seq = writer.insert(std::move(a.spec), std::move(a.node_pids), a.options);
          if (!seq.ok()) die(seq.status().to_string());
        }
      });
    }
    for (auto& t : pool) t.join();
    return writer.last_sequence();
  }
  if (batch <= 1) {
    for (auto& a : inserts) {
      auto seq = writer.insert(std::move(a.spec), std::move(a.node_pids), a.options);
      if (!seq.ok()) die(seq.status().to_string());
      last = *seq;
    }
    return last;
  }
  for (std::size_t i = 0; i < inserts.size(); i += batch) {
    WriteBatch b;
    for (std::size_t k = i; k < std::min(inserts.size(), i + batch); ++k) {
      b.insert(std::move(inserts[k].spec), std::move(inserts[k].node_pids),
               std::move(inserts[k].options));
    }
    for (const auto& seq : writer.write(std::move(b))) {
      if (!seq.ok()) die(seq.status().to_string());
      last = *seq;
    }
  }
  return last;
}

struct BusThroughput {
  double rate = 0;         // events applied per second at the replica
  double writer_rate = 0;  // insert calls returned per second on the writer
  ReplicaStats stats;
  std::string cpu;
};

BusThroughput bus_throughput(zmq::context_t& ctx, const Config& cfg, const std::string& tag,
                             std::size_t batch, int threads, bool curve = false) {
  Bus bus(ctx, cfg.transport, tag, curve);
  auto inserts = make_inserts(0, cfg.events);
  const ReplicaStats before = bus.replica->stats();
  perf_control("enable");
  const CpuSnapshot cpu0 = thread_cpu();
  const auto t0 = Clock::now();
  const std::uint64_t last = write_all(*bus.writer, inserts, batch, threads);
  const auto t_written = Clock::now();
  check(bus.replica->wait_for(last, kLongWait), "replica wait_for the last event");
  const auto t1 = Clock::now();
  const CpuSnapshot cpu1 = thread_cpu();
  perf_control("disable");
  BusThroughput r;
  r.cpu = cpu_per_message(cpu0, cpu1, bus.replica_threads, cfg.events);
  const double n = static_cast<double>(cfg.events);
  r.rate = n / std::chrono::duration<double>(t1 - t0).count();
  r.writer_rate = n / std::chrono::duration<double>(t_written - t0).count();
  r.stats = bus.replica->stats();
  r.stats.gaps_detected -= before.gaps_detected;
  r.stats.events_repaired -= before.events_repaired;
  r.stats.live_events -= before.live_events;
  if (bus.replica->registry().dump_all_tables() != bus.writer->dump_all_tables()) {
    die("replica and writer differ after the throughput run");
  }
  return r;
}

double writer_alone_rate(const Config& cfg, std::size_t batch, int threads) {
  TempDir dir;
  auto w = Registry::open(writer_options(dir.path()));
  check(w.status(), "open writer");
  auto inserts = make_inserts(0, cfg.events);
  const CpuSnapshot cpu0 = thread_cpu();
  const auto t0 = Clock::now();
  write_all(**w, inserts, batch, threads);
  const double rate =
      static_cast<double>(cfg.events) / std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("  writer alone, batch %zu, %d thread(s): %.0f ev/s\n    %s\n", batch, threads, rate,
              cpu_per_message(cpu0, thread_cpu(), {}, cfg.events).c_str());
  return rate;
}

void bench_throughput(Report& report, zmq::context_t& ctx, const Config& cfg,
                      const MessageSample& sample) {
  TempDir dir;
  // [0]: one insert call per event; [1]: Registry::write of cfg.batch inserts; [2]: insert
  // calls from cfg.writers threads at once (the writer queue groups them, and the groups go
  // out as event batches).
  constexpr int kVariants = 3;
  const std::size_t batches[kVariants] = {1, cfg.batch, 1};
  const int threads[kVariants] = {1, 1, cfg.writers};
  BusThroughput best[kVariants];
  double best_alone[kVariants] = {0, 0, 0};
  RawThroughput best_raw, best_lossless;
  for (int i = 0; i < cfg.repeats; ++i) {  // alternate, so drift hits all alike
    const RawThroughput raw =
        raw_throughput(ctx, endpoints_for(cfg.transport, dir, "rawtp" + std::to_string(i)).raw,
                       sample, cfg.events, false);
    std::printf(
        "  raw PUB/SUB run %d: %.0f msg/s, %zu received, %zu dropped at the HWM\n"
        "    %s\n",
        i + 1, raw.rate, raw.received, raw.dropped, raw.cpu.c_str());
    if (raw.rate > best_raw.rate) best_raw = raw;
    const RawThroughput lossless =
        raw_throughput(ctx, endpoints_for(cfg.transport, dir, "rawxp" + std::to_string(i)).raw,
                       sample, cfg.events, true);
    std::printf(
        "  raw XPUB(NODROP)/SUB run %d: %.0f msg/s, %zu received, %zu waited at the "
        "HWM\n    %s\n",
        i + 1, lossless.rate, lossless.received, lossless.hwm_waits, lossless.cpu.c_str());
    if (lossless.rate > best_lossless.rate) best_lossless = lossless;
    for (int v = 0; v < kVariants; ++v) {
      const BusThroughput bus = bus_throughput(
          ctx, cfg, "tp" + std::to_string(v) + "-" + std::to_string(i), batches[v], threads[v]);
      std::printf(
          "  bus run %d, batch %zu, %d thread(s): %.0f ev/s applied (writer returned "
          "at %.0f ev/s); replica: %llu live, %llu gaps, %llu events repaired\n    %s\n",
          i + 1, batches[v], threads[v], bus.rate, bus.writer_rate,
          static_cast<unsigned long long>(bus.stats.live_events),
          static_cast<unsigned long long>(bus.stats.gaps_detected),
          static_cast<unsigned long long>(bus.stats.events_repaired), bus.cpu.c_str());
      if (bus.rate > best[v].rate) best[v] = bus;
      best_alone[v] = std::max(best_alone[v], writer_alone_rate(cfg, batches[v], threads[v]));
    }
  }
  std::fflush(stdout);
  const std::string n = std::to_string(cfg.events);
  for (int v = 0; v < kVariants; ++v) {
    const std::string how = v == 0 ? " (insert calls)"
                            : v == 1
                                ? " (write, batches of " + std::to_string(cfg.batch) + ")"
                                : " (insert calls, " + std::to_string(cfg.writers) + " threads)";
    report.add({"bus: " + n + " inserts applied at the replica" + how, best[v].rate, "ev/s",
                "raw PUB/SUB, same 3-frame sizes and HWMs", best_raw.rate, 0.5});
    report.add({"bus: the same", best[v].rate, "ev/s", "raw XPUB with NODROP/SUB (lossless), same",
                best_lossless.rate, 0});
    report.add({"bus: the same, writer side (returned)", best[v].writer_rate, "ev/s",
                "the writer alone (no HubServer), same calls", best_alone[v], 0});
  }
}

// ---- latency -----------------------------------------------------------------------------

// One slice of paced inserts on `bus`, taking its arguments from inserts[*next...].
Samples bus_latency(Bus& bus, std::vector<InsertArgs>& inserts, std::size_t* next_insert, bool spin,
                    std::size_t n, double rate) {
  const std::uint64_t base = bus.writer->last_sequence();
  Samples out(n);
  auto& sent = out.sent;
  auto& got = out.got;
  // The observer stamps each seq when it sees the replica has applied it. wait: blocks in
  // Replica::wait_for(next) (the replica's condition variable, notified on every apply) and
  // stamps every seq applied by then: what a client waiting for a write sees, one futex wake
  // included. spin: polls last_applied() (an atomic load) with a pause between polls: no
  // wake-up on the path, but it keeps one of the two cores busy.
  std::thread observer([&] {
    std::uint64_t next = base + 1;
    const std::uint64_t end = base + n;
    auto stamp = [&](std::uint64_t applied) {
      const std::int64_t t = now_ns();
      for (; next <= applied && next <= end; ++next) got[next - base - 1] = t;
    };
    if (spin) {
      auto last_progress = Clock::now();
      while (next <= end) {
        const std::uint64_t applied = bus.replica->last_applied();
        if (applied >= next) {
          stamp(applied);
          last_progress = Clock::now();
        } else {
#if defined(__x86_64__) || defined(__i386__)
          __builtin_ia32_pause();
#endif
          if (Clock::now() - last_progress > std::chrono::seconds(5)) break;
        }
      }
    } else {
      while (next <= end) {
        if (!bus.replica->wait_for(next, std::chrono::seconds(5)).ok()) break;
        stamp(bus.replica->last_applied());
      }
    }
  });
  paced(n, rate, [&](std::size_t i) {
    InsertArgs& a = inserts[(*next_insert)++];
    sent[i] = now_ns();
    auto seq = bus.writer->insert(std::move(a.spec), std::move(a.node_pids), a.options);
    if (!seq.ok() || *seq != base + 1 + i) die("unexpected seq from the writer");
  });
  observer.join();
  return out;
}

void print_percentiles(const char* what, const Percentiles& p) {
  std::printf("  %-44s p50 %7.1f us  p99 %7.1f us  p99.9 %7.1f us  max %8.1f us%s\n", what, p.p50,
              p.p99, p.p999, p.max,
              p.missing ? ("  (" + std::to_string(p.missing) + " not received)").c_str() : "");
}

// The raw baseline and the bus run in alternating one-second slices (raw, bus with the wait
// observer, bus with the spin observer, again), so that what else the machine does at the
// time hits all of them alike; the percentiles are over all slices of each.
void bench_latency(Report& report, zmq::context_t& ctx, const Config& cfg,
                   const MessageSample& sample) {
  TempDir dir;
  const int rounds = std::max(1, static_cast<int>(cfg.seconds + 0.5));
  const auto per_slice = static_cast<std::size_t>(cfg.rate * cfg.seconds / rounds);
  char rate[64];
  std::snprintf(rate, sizeof rate, "%.0f/s", cfg.rate);
  struct Mode {
    const char* name;
    bool spin;
    Samples samples;
  };
  std::vector<Mode> modes;
  if (cfg.observer != "spin") modes.push_back({"wait", false, Samples()});
  if (cfg.observer != "wait") modes.push_back({"spin", true, Samples()});
  Bus bus(ctx, cfg.transport, "lat");
  auto inserts = make_inserts(0, per_slice * modes.size() * static_cast<std::size_t>(rounds));
  std::size_t next_insert = 0;
  const ReplicaStats before = bus.replica->stats();
  Samples raw_samples;
  for (int r = 0; r < rounds; ++r) {
    raw_samples.append(
        raw_latency(ctx, endpoints_for(cfg.transport, dir, "rawlat" + std::to_string(r)).raw,
                    sample, per_slice, cfg.rate));
    for (Mode& m : modes) {
      m.samples.append(bus_latency(bus, inserts, &next_insert, m.spin, per_slice, cfg.rate));
    }
  }
  const ReplicaStats st = bus.replica->stats();
  std::printf("  %d slices of %zu events each; replica: %llu gaps, %llu events repaired\n", rounds,
              per_slice, static_cast<unsigned long long>(st.gaps_detected - before.gaps_detected),
              static_cast<unsigned long long>(st.events_repaired - before.events_repaired));
  const Percentiles raw = percentiles(raw_samples);
  print_percentiles("raw PUB/SUB (SUB stamps on receipt)", raw);
  for (const Mode& m : modes) {
    const Percentiles p = percentiles(m.samples);
    print_percentiles((std::string("bus, ") + m.name + " observer").c_str(), p);
    const std::string tag = std::string("bus latency ") + rate + " (" + m.name + "), ";
    report.add({tag + "p50", p.p50, "us", "raw PUB/SUB p50, same rate", raw.p50, 0, true});
    report.add({tag + "p99", p.p99, "us", "raw PUB/SUB p99, same rate", raw.p99, 0, true});
    report.add({tag + "p99.9", p.p999, "us", "raw PUB/SUB p99.9, same rate", raw.p999, 0, true});
    // The target applies to the wait observer's figures: the spin observer's own busy core
    // is paid by the bus's threads whenever anything else runs on the machine.
    if (!m.spin) report.add({tag + "p99", p.p99, "us", "target: 1 ms", 1'000, 1, true});
  }
}

// ---- catch-up ----------------------------------------------------------------------------

// The snapshot the replay service serves, encoded the same way (wire::encode_snapshot_row
// over the projection under its shared lock): row i is data[offsets[i], offsets[i + 1]).
struct EncodedSnapshot {
  std::string data;
  std::vector<std::size_t> offsets{0};
  std::size_t rows() const { return offsets.size() - 1; }
  std::string_view row(std::size_t i) const {
    return {data.data() + offsets[i], offsets[i + 1] - offsets[i]};
  }
};
EncodedSnapshot encode_snapshot(const Registry& writer) {
  EncodedSnapshot snap;
  replay::RegistryAccess::read_projection(writer, [&](const replay::Projection& p) {
    p.for_each_table([&](const std::string& table, const replay::Table& t) {
      t.for_each([&](const replay::StoredRow& row) {
        plugin::wire::encode_snapshot_row(table, row.encoded(), row.expires_at_ms(), row.seq,
                                          &snap.data);
        snap.offsets.push_back(snap.data.size());
      });
    });
  });
  return snap;
}

// The snapshot's bytes over a raw ROUTER (server thread) and DEALER (this thread), in the
// replica's chunking: one request per chunk, at most chunk_events rows and about max_bytes
// bytes per reply, one frame per row after a header frame of the real header's size; the
// client only counts what it receives. Returns seconds from the first request to the last
// row received.
// frame_per_row false: the same rows of each chunk concatenated into one frame.
double raw_snapshot_push(zmq::context_t& ctx, const std::string& endpoint,
                         const EncodedSnapshot& snap, bool frame_per_row,
                         std::size_t* bytes_received) {
  const std::size_t max_n = ReplicaOptions{}.chunk_events;
  const std::size_t max_b = plugin::wire::ReplayRequest{}.max_bytes;
  std::string header_bytes;
  {
    plugin::wire::ReplayReplyHeader h;
    h.id = 1'000;
    h.epoch = ~0ull;
    h.head = h.last = h.total = snap.rows();
    h.count = static_cast<std::uint32_t>(max_n);
    h.snapshot_id = 1;
    h.next_offset = snap.rows();
    plugin::wire::encode(h, &header_bytes);
  }
  zmq::socket_t router(ctx, zmq::socket_type::router);
  router.set(zmq::sockopt::linger, 0);
  router.set(zmq::sockopt::sndhwm, 0);
  router.bind(endpoint);
  zmq::socket_t dealer(ctx, zmq::socket_type::dealer);
  dealer.set(zmq::sockopt::linger, 0);
  dealer.set(zmq::sockopt::rcvhwm, 0);
  dealer.set(zmq::sockopt::rcvtimeo, 10'000);
  dealer.connect(router.get(zmq::sockopt::last_endpoint));
  std::thread server([&, r = std::move(router)]() mutable {
    r.set(zmq::sockopt::rcvtimeo, 10'000);
    for (;;) {
      zmq::message_t id, req;
      if (!r.recv(id) || !r.recv(req)) return;
      std::uint64_t off = 0;
      std::memcpy(&off, req.data(), 8);
      if (off == ~0ull) return;  // done
      std::size_t i = off, bytes = 0;
      std::vector<zmq::message_t> frames;
      frames.emplace_back(id.data(), id.size());
      frames.emplace_back(header_bytes.data(), header_bytes.size());
      for (; i < snap.rows() && i - off < max_n && (i == off || bytes < max_b); ++i) {
        const std::string_view row = snap.row(i);
        bytes += row.size();
        if (frame_per_row) frames.emplace_back(row.data(), row.size());
      }
      if (!frame_per_row) {  // rows off..i-1 are contiguous in snap.data
        frames.emplace_back(snap.data.data() + snap.offsets[off], bytes);
      }
      std::uint64_t rows = i - off;
      frames[1] = zmq::message_t(header_bytes.data(), header_bytes.size());
      std::memcpy(frames[1].data(), &rows, 8);  // the row count, where a real header has it
      for (std::size_t f = 0; f < frames.size(); ++f) {
        (void)r.send(frames[f],
                     f + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
      }
    }
  });
  const auto t0 = Clock::now();
  std::size_t off = 0, bytes = 0;
  while (off < snap.rows()) {
    zmq::message_t req(&off, 8);
    (void)dealer.send(req, zmq::send_flags::none);
    std::uint64_t rows = 0;
    for (bool first = true;; first = false) {
      zmq::message_t part;
      if (!dealer.recv(part)) die("raw snapshot push: no reply within 10 s");
      if (first) {
        std::memcpy(&rows, part.data(), 8);
      } else {
        bytes += part.size();
      }
      if (!part.more()) break;
    }
    off += rows;
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  std::uint64_t done = ~0ull;
  zmq::message_t bye(&done, 8);
  (void)dealer.send(bye, zmq::send_flags::none);
  server.join();
  *bytes_received = bytes;
  return seconds;
}

// ---- CURVE against plaintext -------------------------------------------------------------

// The bus with CURVE on every socket against the same bus in plaintext, in one run: throughput
// (Registry::write of cfg.batch inserts, and one insert call per event), alternating and best of
// cfg.repeats; then latency at cfg.rate in alternating one-second slices (wait observer).
void bench_curve(Report& report, zmq::context_t& ctx, const Config& cfg) {
  const std::size_t batches[2] = {cfg.batch, 1};
  for (std::size_t batch : batches) {
    double best[2] = {0, 0};  // plaintext, CURVE
    for (int i = 0; i < cfg.repeats; ++i) {
      for (int curve = 0; curve < 2; ++curve) {
        const BusThroughput bus = bus_throughput(
            ctx, cfg, "cv" + std::to_string(curve) + "-" + std::to_string(i), batch, 1, curve == 1);
        std::printf("  %s run %d, batch %zu: %.0f ev/s applied\n    %s\n",
                    curve == 1 ? "CURVE" : "plaintext", i + 1, batch, bus.rate, bus.cpu.c_str());
        best[curve] = std::max(best[curve], bus.rate);
      }
    }
    report.add({"bus with CURVE: inserts applied at the replica, batch " + std::to_string(batch),
                best[1], "ev/s", "the same bus in plaintext", best[0], 0.7});
  }
  const int rounds = std::max(1, static_cast<int>(cfg.seconds + 0.5));
  const auto per_slice = static_cast<std::size_t>(cfg.rate * cfg.seconds / rounds);
  Bus plain(ctx, cfg.transport, "cvlat0", false);
  Bus curve(ctx, cfg.transport, "cvlat1", true);
  auto inserts = make_inserts(0, per_slice * 2 * static_cast<std::size_t>(rounds));
  std::size_t next_insert = 0;
  Samples plain_samples, curve_samples;
  for (int r = 0; r < rounds; ++r) {
    plain_samples.append(bus_latency(plain, inserts, &next_insert, false, per_slice, cfg.rate));
    curve_samples.append(bus_latency(curve, inserts, &next_insert, false, per_slice, cfg.rate));
  }
  const Percentiles p = percentiles(plain_samples);
  const Percentiles c = percentiles(curve_samples);
  print_percentiles("plaintext bus, wait observer", p);
  print_percentiles("CURVE bus, wait observer", c);
  report.add({"bus with CURVE: replica latency p99 (us)", c.p99, "us", "the same bus in plaintext",
              p.p99, 0});
  report.add({"bus with CURVE: replica latency p50 (us)", c.p50, "us", "the same bus in plaintext",
              p.p50, 0});
}

// ---- remote writes ------------------------------------------------------------------------

// `threads` threads, each inserting `per_thread` fresh children through `insert(id)`; the rate
// of the calls that succeeded (die on a failure).
template <typename Insert>
double inserts_per_second(int threads, std::size_t per_thread, const std::string& prefix,
                          Insert insert) {
  std::atomic<int> failed{0};
  std::vector<std::thread> pool;
  const auto t0 = Clock::now();
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (std::size_t i = 0; i < per_thread; ++i) {
        const std::string id = prefix + std::to_string(t) + "_" + std::to_string(i);
        if (!insert(id).ok()) failed.fetch_add(1);
      }
    });
  }
  for (auto& th : pool) th.join();
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  if (failed.load() != 0) die(std::to_string(failed.load()) + " inserts failed");
  return static_cast<double>(threads) * static_cast<double>(per_thread) / s;
}

void bench_remote(Report& report, zmq::context_t& ctx, const Config& cfg) {
  std::printf("\n== remote writes: %d threads x %zu inserts, group commit (fdatasync)\n",
              cfg.writers, cfg.remote_writes);
  TempDir dir;
  RegistryOptions wo = writer_options(dir.path());
  wo.log.durability = Durability::kGroupCommit;
  auto w = Registry::open(wo);
  check(w.status(), "open writer");
  Registry& writer = **w;
  HubServerOptions so = server_options(endpoints_for(cfg.transport, dir, "remote"));
  so.command_threads = cfg.writers;
  auto server = HubServer::start(ctx, writer, so);
  check(server.status(), "start HubServer");
  auto replica_with = [&](int in_flight) {
    ReplicaOptions ro = replica_options(**server);
    ro.max_writes_in_flight = in_flight;
    auto r = Replica::start(ctx, ro);
    check(r.status(), "start Replica");
    check((*r)->wait_caught_up(kLongWait), "replica catch-up");
    return std::move(*r);
  };
  const Entry e = make_entry(0);
  auto local = [&](const std::string& id) {
    return writer.insert(make_spec(id, "Elixir.MyApp.GameSession", "start_link"), e.node_pids)
        .status();
  };
  const double local_rate = inserts_per_second(cfg.writers, cfg.remote_writes, "local_", local);
  double rates[2] = {0, 0};
  const int in_flight[2] = {1, cfg.writers};
  for (int k = 0; k < 2; ++k) {
    auto replica = replica_with(in_flight[k]);
    const auto groups_before = writer.stats();
    rates[k] = inserts_per_second(
        cfg.writers, cfg.remote_writes, "remote" + std::to_string(k) + "_",
        [&](const std::string& id) {
          return replica->registry()
              .insert(make_spec(id, "Elixir.MyApp.GameSession", "start_link"), e.node_pids)
              .status();
        });
    const auto groups_after = writer.stats();
    const double syncs = static_cast<double>(groups_after.log_syncs - groups_before.log_syncs);
    const double synced =
        static_cast<double>(groups_after.log_synced_events - groups_before.log_synced_events);
    std::printf("  %d in flight: %.0f inserts/s, %.1f events per sync on average\n", in_flight[k],
                rates[k], syncs > 0 ? synced / syncs : 0.0);
  }
  std::printf("  on the writer itself: %.0f inserts/s\n", local_rate);
  const std::string what = "remote inserts, " + std::to_string(cfg.writers) + " threads, ";
  report.add({what + std::to_string(cfg.writers) + " in flight", rates[1], "ops/s",
              what + "1 in flight", rates[0], 0});
  report.add({what + std::to_string(cfg.writers) + " in flight", rates[1], "ops/s",
              "the same threads on the writer itself", local_rate, 0.5});
}

void bench_catchup(Report& report, zmq::context_t& ctx, const Config& cfg) {
  TempDir dir;
  const std::size_t n = cfg.entries;
  auto w = Registry::open(writer_options(dir.sub("log")));
  check(w.status(), "open writer");
  Registry& writer = **w;
  constexpr std::size_t kBatch = 1'000;
  const auto t_load = Clock::now();
  for (std::size_t i = 0; i < n; i += kBatch) {
    std::vector<Entry> batch;
    for (std::size_t k = i; k < std::min(n, i + kBatch); ++k) batch.push_back(make_entry(k));
    check(writer.bulk_insert(std::move(batch)).status(), "bulk_insert");
  }
  const double load_s = std::chrono::duration<double>(Clock::now() - t_load).count();
  std::printf("  hub loaded: %zu entries in %zu bulk_insert events of %zu, %.2f s\n", n,
              (n + kBatch - 1) / kBatch, kBatch, load_s);

  auto server =
      HubServer::start(ctx, writer, server_options(endpoints_for(cfg.transport, dir, "cu")));
  check(server.status(), "start HubServer");

  // What the snapshot is: its bytes, and what encoding and decoding them cost alone.
  const auto t_enc = Clock::now();
  EncodedSnapshot snap = encode_snapshot(writer);
  const double encode_s = std::chrono::duration<double>(Clock::now() - t_enc).count();
  const auto t_dec = Clock::now();
  const events::DecodeLimits limits = events::record_limits(plugin::wire::kMaxChunkBytes);
  for (std::size_t i = 0; i < snap.rows(); ++i) {
    if (!plugin::wire::decode_snapshot_row(snap.row(i), limits).ok()) die("snapshot row decode");
  }
  const double decode_s = std::chrono::duration<double>(Clock::now() - t_dec).count();
  const std::size_t chunk_rows = ReplicaOptions{}.chunk_events;
  std::printf(
      "  snapshot: %zu rows, %zu bytes (%.0f B/row), %zu requests of <= %zu rows; "
      "encode alone %.3f s, decode alone %.3f s\n",
      snap.rows(), snap.data.size(),
      static_cast<double>(snap.data.size()) /
          static_cast<double>(std::max<std::size_t>(snap.rows(), 1)),
      (snap.rows() + chunk_rows - 1) / chunk_rows, chunk_rows, encode_s, decode_s);

  // Where a replica's load time goes: the same decoded rows loaded into an empty projection
  // (Projection::load_row, as Replica's full_sync does) in the snapshot's order, and shuffled.
  // On a large hub this uses every k-th row, which keeps the order and the spread of hashes.
  {
    const std::size_t stride = (snap.rows() + kLoadSample - 1) / kLoadSample;
    std::vector<plugin::wire::SnapshotRow> rows;
    for (std::size_t i = 0; i < snap.rows(); i += stride) {
      rows.push_back(*plugin::wire::decode_snapshot_row(snap.row(i), limits));
    }
    auto load = [&](std::vector<plugin::wire::SnapshotRow> copy) {
      replay::Projection p(kHub, "node1@host");
      p.reset_to(1, 1);
      const auto t = Clock::now();
      for (auto& r : copy) p.load_row(r.table, r.row, r.revision);
      return std::chrono::duration<double>(Clock::now() - t).count();
    };
    const double in_order = load(rows);
    std::mt19937_64 rng(7);
    std::shuffle(rows.begin(), rows.end(), rng);
    const double shuffled = load(rows);
    std::printf(
        "  load_row of %zu snapshot rows into an empty projection: %.3f s in snapshot "
        "order, %.3f s shuffled\n",
        rows.size(), in_order, shuffled);
    report.add({"load " + std::to_string(rows.size()) + " rows, snapshot order (ms)",
                in_order * 1e3, "ms", "the same rows shuffled (ms)", shuffled * 1e3, 0, true});
  }

  // The writer while the replay service captures a snapshot (what a joining replica's first
  // request does): paced inserts, 1 ms apart, on the writer, while a DEALER asks the real
  // service for a new snapshot; the longest insert is how long writes stood still.
  {
    zmq::socket_t dealer(ctx, zmq::socket_type::dealer);
    dealer.set(zmq::sockopt::linger, 0);
    dealer.set(zmq::sockopt::rcvtimeo, 600'000);
    dealer.connect((*server)->replay_endpoint());
    std::atomic<bool> done{false};
    std::vector<double> insert_us;
    std::thread writes([&] {
      auto inserts = make_inserts(n, 100'000);
      for (std::size_t i = 0; !done.load() && i < inserts.size(); ++i) {
        const auto t = Clock::now();
        check(writer
                  .insert(std::move(inserts[i].spec), std::move(inserts[i].node_pids),
                          inserts[i].options)
                  .status(),
              "insert during snapshot");
        insert_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t).count());
        std::this_thread::sleep_until(t + std::chrono::milliseconds(1));
      }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    plugin::wire::ReplayRequest req;
    req.id = 1;
    req.hub = kHub;
    req.op = plugin::wire::ReplayOp::kSnapshot;
    req.max_events = 1;
    std::string body;
    plugin::wire::encode(req, &body);
    const auto t0 = Clock::now();
    zmq::message_t m(body.data(), body.size());
    (void)dealer.send(m, zmq::send_flags::none);
    for (;;) {
      zmq::message_t part;
      if (!dealer.recv(part)) die("no snapshot reply");
      if (!part.more()) break;
    }
    const double first_reply = std::chrono::duration<double>(Clock::now() - t0).count();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    done = true;
    writes.join();
    const double worst = *std::max_element(insert_us.begin(), insert_us.end());
    std::printf(
        "  snapshot capture by the replay service: first reply after %.3f s; writer "
        "inserts meanwhile (1 per ms): %zu, the longest %.0f us\n",
        first_reply, insert_us.size(), worst);
    report.add({"writer insert stalled by a snapshot capture (ms)", worst / 1e3, "ms",
                "the service's first snapshot reply (ms)", first_reply * 1e3, 0, true});
  }

  auto catchup_replica = [&] {
    ReplicaOptions ro = replica_options(**server);
    ro.request_timeout = std::chrono::milliseconds(10'000);
    return ro;
  };
  // One write before each sync below, so that the service captures a snapshot of the new head
  // instead of sharing one it still holds (a replica joining a hub that is being written).
  std::size_t extra = n + 200'000;
  auto touch = [&] {
    check(writer.insert(make_spec(child_id(extra++)), {{"node0@host", "<0.1.0>"}}).status(),
          "insert before a sync");
  };

  double best = 1e300;
  for (int i = 0; i < cfg.catchup_repeats; ++i) {
    touch();
    const ReplicaOptions ro = catchup_replica();
    const auto t0 = Clock::now();
    auto replica = Replica::start(ctx, ro);
    check(replica.status(), "start Replica");
    check((*replica)->wait_caught_up(kLongWait), "replica catch-up");
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    if ((*replica)->last_applied() != writer.last_sequence()) die("caught up at the wrong seq");
    const ReplicaStats st = (*replica)->stats();
    std::printf("  replica run %d: caught up in %.3f s (snapshots %llu, events applied %llu)\n",
                i + 1, s, static_cast<unsigned long long>(st.snapshots_loaded),
                static_cast<unsigned long long>(st.events_applied));
    std::fflush(stdout);
    best = std::min(best, s);
    replica->reset();
  }
  // What Replica's full_sync does, step by step, from the same replay service with its client
  // and chunk size: fetch and decode every row, then load them into an empty projection.
  {
    touch();
    plugin::ReplayClient client(ctx, (*server)->replay_endpoint(), kHub,
                                std::chrono::milliseconds(60'000), ReplicaOptions{}.chunk_events);
    std::vector<plugin::wire::SnapshotRow> rows;
    const auto t0 = Clock::now();
    auto header = client.fetch_snapshot([&](std::string_view row) {
      auto r = plugin::wire::decode_snapshot_row(row, limits);
      if (!r.ok()) return r.status();
      rows.push_back(std::move(*r));
      return Status();
    });
    check(header.status(), "emulated fetch_snapshot");
    const auto t1 = Clock::now();
    replay::Projection p(kHub, "node1@host");
    p.reset_to(header->epoch, header->last);
    for (auto& r : rows) p.load_row(r.table, r.row, r.revision);
    const auto t2 = Clock::now();
    auto secs = [](auto x, auto y) { return std::chrono::duration<double>(y - x).count(); };
    std::printf(
        "  a replica's sync step by step: fetch + decode %.3f s (the service's capture "
        "included), load %.3f s, total %.3f s\n",
        secs(t0, t1), secs(t1, t2), secs(t0, t2));
    report.add({"catch-up step by step: fetch + decode (ms)", secs(t0, t1) * 1e3, "ms",
                "then load into the projection (ms)", secs(t1, t2) * 1e3, 0, true});
  }
  // The same from a snapshot file: Registry::snapshot() builds it from the log (not from the
  // live projection) and the replay service serves the file. Paced inserts run throughout, as
  // above; the longest one is how long writes stood still for the snapshot and the catch-up.
  double file_best = 1e300;
  {
    std::atomic<bool> done{false};
    std::vector<double> insert_us;
    std::thread writes([&] {
      auto inserts = make_inserts(n, 300'000);
      for (std::size_t i = 0; !done.load() && i < inserts.size(); ++i) {
        const auto t = Clock::now();
        check(writer
                  .insert(std::move(inserts[i].spec), std::move(inserts[i].node_pids),
                          inserts[i].options)
                  .status(),
              "insert during a snapshot file");
        insert_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t).count());
        std::this_thread::sleep_until(t + std::chrono::milliseconds(1));
      }
    });
    const auto t_snap = Clock::now();
    auto info = writer.snapshot();
    check(info.status(), "Registry::snapshot");
    const double snap_s = std::chrono::duration<double>(Clock::now() - t_snap).count();
    for (int i = 0; i < cfg.catchup_repeats; ++i) {
      const ReplicaOptions ro = catchup_replica();
      perf_control("enable");
      const auto t0 = Clock::now();
      auto replica = Replica::start(ctx, ro);
      check(replica.status(), "start Replica");
      check((*replica)->wait_caught_up(kLongWait), "replica catch-up from a file");
      const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
      perf_control("disable");
      std::printf("  replica run %d from the snapshot file: caught up in %.3f s\n", i + 1, secs);
      file_best = std::min(file_best, secs);
      replica->reset();
    }
    done = true;
    writes.join();
    const double worst = *std::max_element(insert_us.begin(), insert_us.end());
    std::printf(
        "  snapshot file: %llu rows, %llu bytes, written in %.3f s; files served %llu; "
        "writer inserts meanwhile (1 per ms): %zu, the longest %.0f us\n",
        static_cast<unsigned long long>(info->rows), static_cast<unsigned long long>(info->bytes),
        snap_s, static_cast<unsigned long long>((*server)->stats().snapshot_files_served),
        insert_us.size(), worst);
    report.add({"writer insert stalled by snapshot file + catch-up (ms)", worst / 1e3, "ms",
                "Registry::snapshot() of the hub (ms)", snap_s * 1e3, 0, true});
    report.add({"catch-up from the snapshot file, " + std::to_string(n) + " entries (ms)",
                file_best * 1e3, "ms", "target: 3 s (ms)", 3'000, 1, true});
  }
  server->reset();

  double raw_best = 1e300, raw_chunk_best = 1e300;
  for (int i = 0; i < cfg.repeats; ++i) {
    for (bool per_row : {true, false}) {
      std::size_t raw_bytes = 0;
      const double t = raw_snapshot_push(
          ctx,
          endpoints_for(cfg.transport, dir, "rawcu" + std::to_string(i) + (per_row ? "r" : "c"))
              .raw,
          snap, per_row, &raw_bytes);
      if (raw_bytes != snap.data.size()) die("raw snapshot push lost bytes");
      (per_row ? raw_best : raw_chunk_best) = std::min(per_row ? raw_best : raw_chunk_best, t);
    }
  }

  std::unique_ptr<Registry> replayed;
  const auto t_rep = Clock::now();
  auto r = Registry::open_replay({dir.sub("log"), "node1@host", 0});
  check(r.status(), "open_replay");
  const double replay_s = std::chrono::duration<double>(Clock::now() - t_rep).count();

  const std::string tag = "catch-up, " + std::to_string(n) + " entries";
  report.add({tag + " (ms)", best * 1e3, "ms", "raw DEALER/ROUTER, same bytes and chunks (ms)",
              raw_best * 1e3, 0, true});
  report.add({tag + " (ms)", best * 1e3, "ms", "raw, same chunks, one frame per chunk (ms)",
              raw_chunk_best * 1e3, 0, true});
  report.add({tag + " (ms)", best * 1e3, "ms", "open_replay of the log, local (ms)", replay_s * 1e3,
              0, true});
  report.add({tag + " (ms)", best * 1e3, "ms", "target: 3 s (ms)", 3'000, 1, true});
  std::uintmax_t log_bytes = 0;
  std::error_code ec;
  for (const auto& f : std::filesystem::directory_iterator(dir.sub("log"), ec)) {
    if (f.is_regular_file(ec)) log_bytes += f.file_size(ec);
  }
  report.add({"catch-up: snapshot size (rows only)", static_cast<double>(snap.data.size()), "B",
              "the hub's log on disk (B)", static_cast<double>(log_bytes), 0, true});
}

}  // namespace
}  // namespace procreg::bench

int main(int argc, char** argv) {
  procreg::bench::Config cfg;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::string value = argv[i + 1];
    if (flag == "--events") {
      cfg.events = std::stoul(value);
    } else if (flag == "--entries") {
      cfg.entries = std::stoul(value);
    } else if (flag == "--rate") {
      cfg.rate = std::stod(value);
    } else if (flag == "--seconds") {
      cfg.seconds = std::stod(value);
    } else if (flag == "--repeats") {
      cfg.repeats = std::max(1, std::stoi(value));
    } else if (flag == "--catchup-repeats") {
      cfg.catchup_repeats = std::max(1, std::stoi(value));
    } else if (flag == "--observer") {
      cfg.observer = value;
    } else if (flag == "--only") {
      cfg.only = value;
    } else if (flag == "--transport") {
      cfg.transport = value;
    } else if (flag == "--writers") {
      cfg.writers = std::max(1, std::stoi(value));
    } else if (flag == "--remote-writes") {
      cfg.remote_writes = std::max<std::size_t>(1, std::stoul(value));
    } else if (flag == "--batch") {
      cfg.batch = std::max<std::size_t>(1, std::stoul(value));
    } else {
      argc = -1;
      break;
    }
  }
  const bool bad_only = !cfg.only.empty() && cfg.only != "throughput" && cfg.only != "latency" &&
                        cfg.only != "catchup" && cfg.only != "remote" && cfg.only != "curve";
  const bool bad_transport =
      cfg.transport != "tcp" && cfg.transport != "ipc" && cfg.transport != "inproc";
  if (argc < 0 || argc % 2 == 0 || bad_only || bad_transport ||
      (cfg.observer != "wait" && cfg.observer != "spin" && cfg.observer != "both")) {
    std::fprintf(stderr,
                 "usage: bus_bench [--events N] [--entries N] [--rate R] [--seconds S] "
                 "[--repeats R] [--catchup-repeats R] [--observer wait|spin|both] [--only "
                 "throughput|latency|catchup|remote|curve] "
                 "[--writers T] [--remote-writes N] [--transport tcp|ipc|inproc] [--batch B]\n");
    return 2;
  }
  zmq::context_t ctx;
  const procreg::bench::MessageSample sample = procreg::bench::sample_messages(cfg.events);
  char loadavg[64] = "?";
  if (FILE* f = std::fopen("/proc/loadavg", "r")) {
    if (std::fgets(loadavg, sizeof loadavg, f) == nullptr) loadavg[0] = 0;
    std::fclose(f);
    loadavg[std::strcspn(loadavg, "\n")] = 0;
  }
  std::printf(
      "procreg bus_bench: %s, %zu events, %.0f ev/s x %.1f s latency, %zu entries, best "
      "of %d, %u cores, loadavg %s\n",
      cfg.transport.c_str(), cfg.events, cfg.rate, cfg.seconds, cfg.entries, cfg.repeats,
      std::thread::hardware_concurrency(), loadavg);
  std::printf(
      "  event message: topic %zu B + header %zu B + event %.0f B mean (sampled from the "
      "writer's log)\n",
      sample.topic.size(), sample.header_bytes, sample.mean_event_bytes());
  procreg::bench::Report report;
  if (cfg.only.empty() || cfg.only == "throughput") {
    procreg::bench::bench_throughput(report, ctx, cfg, sample);
  }
  if (cfg.only.empty() || cfg.only == "latency") {
    procreg::bench::bench_latency(report, ctx, cfg, sample);
  }
  if (cfg.only.empty() || cfg.only == "catchup") procreg::bench::bench_catchup(report, ctx, cfg);
  if (cfg.only.empty() || cfg.only == "remote") procreg::bench::bench_remote(report, ctx, cfg);
  if (cfg.only == "curve") procreg::bench::bench_curve(report, ctx, cfg);
  report.print_markdown();
  return 0;
}
