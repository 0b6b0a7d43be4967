// procreg::etcd: a small etcd v3 client over etcd's JSON gateway (grpc-gateway): one HTTP POST
// per call to http://HOST:PORT/v3/<service>/<method>, over libcurl, with nlohmann/json.
//
// The gateway's JSON, as checked against etcd 3.4.23 (Debian 12's etcd-server). Bytes fields
// (keys, values, election names) are base64; 64-bit integers come as JSON strings (numbers are
// accepted too); a field at its zero value ("", 0) is left out of an answer. Every answer also
// carries {"header": {"revision", ...}}, not shown.
//   lease/grant       {"TTL": 5}                     -> {"ID": "76..", "TTL": "5"}
//   lease/keepalive   {"ID": "76.."}                 -> {"result": {"ID": "76..", "TTL": "5"}}
//                     a streaming call: one answer per request, the answer wrapped in "result";
//                     a lease that is gone (expired, revoked) answers without "TTL"
//   lease/revoke      {"ID": "76.."}                 -> {}; a lease that is gone: HTTP 404,
//                     {"error": "etcdserver: requested lease not found", "code": 5}
//   election/campaign {"name", "lease": "76..", "value"} -> {"leader": {"name", "key", "rev",
//                     "lease"}}, once the candidate key name/<lease in hex> is the oldest
//   election/leader   {"name"}                       -> {"kv": {"key", "value", "create_revision",
//                     "mod_revision", "version", "lease"}}; none: HTTP 500,
//                     {"error": "election: no leader", "code": 2}
//   election/proclaim {"leader": {...}, "value"}     -> {}; not the leader: "election: not leader"
//   election/resign   {"leader": {...}}              -> {} (also when the key is already gone)
//   kv/put            {"key", "value", "lease"?}     -> {}
//   kv/range          {"key", "range_end", "sort_order": "ASCEND", "sort_target": "KEY"}
//                     -> {"kvs": [{"key", "value", "create_revision", "mod_revision", "lease"}],
//                     "count"}
//   kv/deleterange    {"key"}                        -> {"deleted": "1"} (absent when 0)
// An error answer is {"error": "<message>", "message": "<message>", "code": <gRPC code>} with an
// HTTP status other than 200 (a streaming call may instead answer 200 with {"error": {...}}).
//
// Errors, for every call: a transport failure (refused, timed out, reset) is kUnavailable with
// libcurl's reason. An error etcd answers carries etcd's message, its code mapped from the gRPC
// code (InvalidArgument -> kInvalidArgument, NotFound -> kNotFound, Unavailable -> kUnavailable,
// DeadlineExceeded -> kTimeout, PermissionDenied and Unauthenticated -> kPermissionDenied, ...);
// the election service reports everything as code 2 (Unknown), so its known messages are
// mapped by text: "...lease not found" -> kNotFound (the lease expired or was revoked),
// "election: not leader" -> kConflict (the leader key changed), anything else -> kInternal. An
// answer that is not the expected JSON is kInternal ("etcd answered ...: <first 200 bytes>").
//
// Thread safety: a Client holds only the address; its methods may be called from any number of
// threads at once (each call has its own libcurl handle). Nothing is global but libcurl's
// one-time initialisation.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "procreg/status.h"

namespace procreg::etcd {

// etcd://HOST:PORT/PREFIX: where etcd is and the key prefix the caller's keys live under.
struct Url {
  std::string host;
  int port = 0;
  std::string prefix;
};

// Parses "etcd://HOST:PORT/PREFIX": HOST a host name (letters, digits, '-' and '.') or an IPv4
// literal, PORT in 1..65535, PREFIX non-empty, without a trailing '/', an empty segment ("//")
// or a space or control character. kInvalidArgument naming what is wrong.
Result<Url> parse_url(std::string_view url);

// A candidate's key in an election, as etcd's election service names it: `key` is
// name + "/" + lease in lower-case hex, `rev` its create revision (the order of candidates).
struct LeaderKey {
  std::string name;
  std::string key;
  std::int64_t rev = 0;
  std::int64_t lease = 0;
};

struct Leader {
  LeaderKey key;
  std::string value;
};

struct KeyValue {
  std::string key;
  std::string value;
  std::int64_t create_revision = 0;
  std::int64_t mod_revision = 0;
  std::int64_t lease = 0;  // 0: none
};

struct Grant {
  std::int64_t id = 0;
  std::int64_t ttl_s = 0;  // as etcd granted it (etcd raises a TTL below its minimum)
};

// The candidate key etcd's election service writes for `lease` in election `name`.
std::string candidate_key(const std::string& name, std::int64_t lease);

class Client {
 public:
  // No I/O: the first call connects.
  Client(std::string host, int port);

  const std::string& host() const { return host_; }
  int port() const { return port_; }

  // Each call below is one HTTP request bounded by `timeout` (connect + transfer), except
  // campaign's clean-up (see there). Errors as in the file comment.

  // A new lease of ttl_s seconds (> 0, else kInvalidArgument).
  Result<Grant> grant(std::int64_t ttl_s, std::chrono::milliseconds timeout);
  // One keep-alive: the lease's remaining TTL in seconds; 0 when the lease no longer exists
  // (expired or revoked).
  Result<std::int64_t> keepalive(std::int64_t lease, std::chrono::milliseconds timeout);
  // Revokes the lease and deletes the keys attached to it. kNotFound if it is already gone.
  Status revoke(std::int64_t lease, std::chrono::milliseconds timeout);

  // etcd's election service (v3election). Blocks until this lease's candidate key
  // (candidate_key(name, lease), written with `value` if it did not exist) is the oldest in the
  // election, and returns it. kTimeout if that did not happen within `timeout`, or when *cancel
  // (may be null) becomes true, which is checked at least every 50 ms. kNotFound: the lease is
  // gone. On every failure the candidate key is deleted before returning (one more request,
  // bounded by kCleanupTimeout, so a failed campaign returns within timeout + kCleanupTimeout):
  // etcd deletes it itself when it sees the connection close, but not at once, and not after
  // every error, and a stale candidate would lead later with no one behind it. Should that
  // delete fail too, the message says so and the key goes with the lease.
  Result<LeaderKey> campaign(const std::string& name, std::int64_t lease, const std::string& value,
                             std::chrono::milliseconds timeout,
                             const std::atomic<bool>* cancel = nullptr);
  // The current leader of election `name`, or nullopt when there is none.
  Result<std::optional<Leader>> leader(const std::string& name, std::chrono::milliseconds timeout);
  // Sets the leader's value. kConflict when `leader` no longer holds the election.
  Status proclaim(const LeaderKey& leader, const std::string& value,
                  std::chrono::milliseconds timeout);
  // Deletes the leader's key, so the next candidate leads. Ok when it is already gone.
  Status resign(const LeaderKey& leader, std::chrono::milliseconds timeout);

  // Writes key = value, attached to `lease` (0: none; a lease that is gone: kNotFound).
  Status put(const std::string& key, const std::string& value, std::int64_t lease,
             std::chrono::milliseconds timeout);
  // Every key starting with `prefix` (an empty prefix: every key), sorted by key.
  Result<std::vector<KeyValue>> range_prefix(const std::string& prefix,
                                             std::chrono::milliseconds timeout);
  // Deletes `key`; ok when it does not exist.
  Status delete_key(const std::string& key, std::chrono::milliseconds timeout);

  // The bound of campaign's clean-up request after a timeout or a cancel.
  static constexpr std::chrono::milliseconds kCleanupTimeout{1000};

 private:
  std::string host_;
  int port_ = 0;
};

}  // namespace procreg::etcd
