// procreg command: what every subcommand shares. Exit codes, the error that carries one, the
// endpoints of a running hub (flags or the file `procreg serve --endpoints-file` writes), output
// on stdout, and the progress bar on a terminal.
//
// Exit codes (docs/CLI.md): 0 ok; 1 failure (an API error, an unsound log, a failed demo); 2
// usage (bad arguments, malformed JSON); 3 unreachable (an endpoint did not answer in time);
// 4 compacted (the history asked for is no longer in the hub's log: tail --from, replay --upto).
//
// Thread safety: everything here belongs to the calling thread (the command's main thread).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>

#include <optional>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "procreg/replica.h"
#include "procreg/status.h"
#include "tools/procreg/security_flags.h"

namespace procreg::plugin {
class EndpointSecurity;
}

namespace procreg::cli {

class HttpEndpoint;

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitUnreachable = 3;
inline constexpr int kExitCompacted = 4;

// Well-known local endpoints: `procreg serve` binds them and the clients use them by default.
inline constexpr const char* kDefaultBusFrontend = "tcp://127.0.0.1:7401";
inline constexpr const char* kDefaultBusBackend = "tcp://127.0.0.1:7402";
inline constexpr const char* kDefaultReplay = "tcp://127.0.0.1:7403";
inline constexpr const char* kDefaultCommand = "tcp://127.0.0.1:7404";
inline constexpr const char* kDefaultStats = "tcp://127.0.0.1:7405";
inline constexpr const char* kDefaultHub = "procreg";

// Thrown by a command to end with `code` and a message on stderr.
struct CliError : std::runtime_error {
  CliError(int exit_code, const std::string& what) : std::runtime_error(what), code(exit_code) {}
  int code;
};
[[noreturn]] inline void usage_error(const std::string& what) { throw CliError(kExitUsage, what); }
// The exit code a library error maps to: kTimeout and kUnavailable are 3, kCompacted 4, the
// rest 1.
int exit_code_of(const Status& status);

// Where a running hub is. Filled from flags; a --endpoints file fills what no flag gave.
struct HubEndpoints {
  std::string hub;
  std::string bus;  // where subscribers connect: the proxy's backend or the writer's PUB
  std::string replay;
  std::string command;
  std::string stats;
  std::string endpoints_file;
  int timeout_ms = 5'000;
  CurveFlags curve_flags;  // --curve-key, --curve-server, --curve-bus
  CurveOptions curve;      // what they name, loaded by resolve()

  // Adds --hub, --bus, --replay, --command, --stats (the ones named in `which`, a string of the
  // letters h b r c s), --endpoints, --timeout-ms and the CURVE client flags to `app`.
  void add_options(CLI::App* app, const std::string& which = "hbrcs");
  // Fills the fields still empty from a JSON object of endpoints, as serve --endpoints-file
  // writes it (keys that are not strings are left out).
  void fill(const nlohmann::ordered_json& j);
  // Applies the --endpoints file and the defaults. Throws CliError (usage) on a bad file.
  void resolve();
  std::chrono::milliseconds timeout() const { return std::chrono::milliseconds(timeout_ms); }
  // The options of a Replica of this hub on `node` (requests time out within 2 s, or sooner).
  ReplicaOptions replica_options(const std::string& node) const;
};

// The end of a --seconds run: `seconds` from now, or never for 0.
std::chrono::steady_clock::time_point deadline_after(double seconds);

// Servers (serve, bus, replica): raises the soft limit of open files to the hard one, since
// every connection holds a descriptor (the endpoints then admit up to the new limit less 128,
// unless --max-connections says otherwise). Best effort: nothing changes if it cannot.
void raise_open_file_limit();
// Adds --max-connections to a server's subcommand.
void add_max_connections_option(CLI::App* sub, std::size_t* max_connections);

// A stats endpoint (serve's and replica's): a ROUTER bound to `endpoint` ("" or "none": none)
// that answers every one-frame request with one frame of JSON, make()'s. answer() serves the
// requests pending now (a few at most, so the caller's loop stays responsive to signals).
class StatsEndpoint {
 public:
  // With CURVE enabled, a CURVE server admitting the policy's reader, writer-client and admin
  // keys.
  StatsEndpoint(zmq::context_t& context, const std::string& endpoint, const CurveOptions& curve);
  const std::string& endpoint() const { return endpoint_; }  // as bound ("" when off)
  // Also hands make()'s figures to `http` (null: none) from answer(), at most every 100 ms.
  void attach(HttpEndpoint* http) { http_ = http; }
  // Whether answer() has anything to do; when false the caller waits on its own.
  bool active() const { return socket_.has_value() || http_ != nullptr; }
  // Waits up to `timeout` for a request, then answers what is pending (without a socket but
  // with an HTTP endpoint: publishes, then sleeps `timeout`).
  void answer(std::chrono::milliseconds timeout, const std::function<nlohmann::json()>& make);
  // The same, but each request's body and whether its key holds the admin role (always, without
  // CURVE) go to `handle` first: what it returns is the answer; nullopt answers make().
  using Handler =
      std::function<std::optional<nlohmann::ordered_json>(std::string_view request, bool admin)>;
  void answer(std::chrono::milliseconds timeout, const std::function<nlohmann::json()>& make,
              const Handler& handle);

 private:
  std::shared_ptr<plugin::EndpointSecurity> security_;
  std::optional<zmq::socket_t> socket_;
  std::string endpoint_;
  HttpEndpoint* http_ = nullptr;
  std::chrono::steady_clock::time_point published_{};
};

// Sends `request` to a stats endpoint (a `procreg serve`, `replica` or standby's) and returns
// the JSON it answers. Throws CliError: unreachable (3) without an answer within `timeout`,
// failure (1) if the answer is not JSON, usage (2) for a bad endpoint or key.
nlohmann::ordered_json ask_stats_endpoint(zmq::context_t& context, const std::string& endpoint,
                                          const CurveOptions& curve, std::string_view request,
                                          std::chrono::milliseconds timeout);

// Milliseconds since the Unix epoch, from an integer or from "YYYY-MM-DDTHH:MM:SS[.mmm]Z"
// (UTC). Throws a usage CliError naming `flag` otherwise.
std::int64_t parse_time_ms(const std::string& text, const std::string& flag);

// One line on stdout, flushed (scripts read it as it comes).
void out_line(const std::string& line);

// A progress bar on stderr, drawn only when stderr is a terminal and `enabled`; quiet otherwise.
// update() redraws at most every 100 ms; finish() clears the line.
class Progress {
 public:
  Progress(std::string label, std::uint64_t total, bool enabled = true);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;
  void update(std::uint64_t done);
  void finish();

 private:
  std::string label_;
  std::uint64_t total_;
  bool active_;
  std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace procreg::cli
