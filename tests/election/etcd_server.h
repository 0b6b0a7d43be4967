// A real etcd for one test case: a single-member cluster on 127.0.0.1, on ports free at start,
// its data in a temporary directory. --election-timeout 500 --heartbeat-interval 100 bring
// etcd's minimum lease TTL (1.5 election timeouts, rounded up to whole seconds) down to 1 s,
// so that a 1 s lease is granted as asked.
//
// The binary is $PROCREG_ETCD, else `etcd` on the PATH; without one the test fails saying so
// (Debian: etcd-server, which tools/install-deps.sh installs). The constructor returns once
// etcd answers a read, at most 10 s; an etcd that exits at once (it lost a port to another
// process since the port was picked) is retried on new ports twice. The destructor stops it
// with SIGTERM, then SIGKILL after 5 s, and reaps it.
//
// Thread safety: belongs to the test's thread; client() may be used from any.
#pragma once

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "loopback.h"
#include "plugin/election/etcd_client.h"
#include "temp_dir.h"
#include "tools/common/child_process.h"
#include "tools/common/files.h"

namespace procreg::testing {

// $PROCREG_ETCD, else the first executable `etcd` on the PATH; "" if none.
inline std::string find_etcd() {
  if (const char* named = std::getenv("PROCREG_ETCD"); named != nullptr && *named != '\0') {
    return named;
  }
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    const std::string candidate = (dir.empty() ? "." : dir) + "/etcd";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

// Polls `done` every 20 ms until it holds (true) or `timeout` passes (false).
template <typename Pred>
bool wait_for(Pred done, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (std::int64_t i = 0; i <= timeout.count() / 20; ++i) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return done();
}

class EtcdServer {
 public:
  EtcdServer() {
    const std::string etcd = find_etcd();
    BOOST_REQUIRE_MESSAGE(!etcd.empty(),
                          "etcd not found: these tests run a real etcd (3.4 or later). Install "
                          "it (Debian: apt-get install etcd-server) or set PROCREG_ETCD to its "
                          "path");
    // An etcd that exits at once lost a port to another process since free_ports: new ports.
    Start outcome = Start::kExited;
    for (int attempt = 0; attempt < 3 && outcome == Start::kExited; ++attempt) {
      outcome = start(etcd, attempt);
    }
    BOOST_REQUIRE_MESSAGE(outcome == Start::kReady,
                          etcd << (outcome == Start::kExited ? " exited three times ("
                                                             : " did not answer within 10 s (")
                               << tools::ChildProcess::describe(process_.exit_status()) << ")"
                               << diagnostics());
  }
  ~EtcdServer() {
    process_.signal(SIGTERM);
    if (!process_.wait_exit(std::chrono::milliseconds(5'000))) process_.kill_and_reap();
  }
  EtcdServer(const EtcdServer&) = delete;
  EtcdServer& operator=(const EtcdServer&) = delete;

  int port() const { return port_; }
  etcd::Client client() const { return {"127.0.0.1", port_}; }

  // The last lines of etcd's output, for failure messages.
  std::string diagnostics() const {
    std::string out;
    const auto lines = tools::read_lines(dir_.file("etcd.err"));
    for (std::size_t i = lines.size() > 8 ? lines.size() - 8 : 0; i < lines.size(); ++i) {
      out += "\n  etcd: " + lines[i];
    }
    return out;
  }

 private:
  enum class Start { kReady, kExited, kSilent };

  // Starts etcd on new free ports and waits until it answers a read, at most 10 s (then it is
  // killed).
  Start start(const std::string& etcd, int attempt) {
    const std::vector<int> ports = free_ports(2);
    port_ = ports[0];
    const std::string client_url = "http://127.0.0.1:" + std::to_string(ports[0]);
    const std::string peer_url = "http://127.0.0.1:" + std::to_string(ports[1]);
    process_ = tools::ChildProcess(
        "etcd", etcd,
        {"--name", "procreg-test", "--data-dir", dir_.file("data-" + std::to_string(attempt)),
         "--listen-client-urls", client_url, "--advertise-client-urls", client_url,
         "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
         "--initial-cluster", "procreg-test=" + peer_url, "--election-timeout", "500",
         "--heartbeat-interval", "100"},
        dir_.file("etcd.out"), dir_.file("etcd.err"));
    etcd::Client probe = client();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (int i = 0; i < 200 && std::chrono::steady_clock::now() < deadline; ++i) {
      if (probe.range_prefix("probe", std::chrono::milliseconds(200)).ok()) return Start::kReady;
      if (!process_.running()) return Start::kExited;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    process_.kill_and_reap();
    return Start::kSilent;
  }

  TempDir dir_;
  tools::ChildProcess process_;
  int port_ = 0;
};

}  // namespace procreg::testing
