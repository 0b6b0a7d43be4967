// procreg: CURVE keys, roles and who may do what (docs/SECURITY.md).
//
// Every procreg socket can run ZeroMQ's CURVE mechanism (RFC 26): the peers are authenticated
// by their long-term public keys and the traffic is encrypted. A process has one identity, a
// key pair kept in ZeroMQ's certificate files (the ZPL text that czmq's zcert and pyzmq's
// zmq.auth read and write): NAME.key holds the public key, NAME.key_secret both keys; a secret
// file readable by its group or by others is refused, as ssh refuses such a private key.
//
// A server (a HubServer's endpoints, a bus proxy, a replica's serve endpoint) admits the keys
// of an AccessPolicy: public key files in one directory per role. ZeroMQ's ZAP (RFC 27) drops a
// connection whose key holds no role the endpoint accepts; a request that needs a role its key
// does not hold is answered permission_denied and counted.
//
// Thread safety: AccessPolicy is safe from any thread; the rest are values and functions.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>

#include "procreg/status.h"

namespace procreg {

// A CURVE key pair, each key as 40 characters of Z85 (ZeroMQ's text form of 32 bytes). A
// public key alone has an empty secret_key.
struct CurveKeys {
  std::string public_key;
  std::string secret_key;
  bool empty() const { return public_key.empty(); }
};

// A fresh key pair (zmq_curve_keypair). kUnsupported if this libzmq has no CURVE.
Result<CurveKeys> generate_curve_keys();

// Writes `keys` as `base`.key (the public key, mode 0644) and `base`.key_secret (both keys,
// mode 0600, created with that mode), each replaced atomically (rename). kInvalidArgument if a
// key is malformed, kIoError with the path if a file cannot be written.
Status write_curve_keys(const std::string& base, const CurveKeys& keys);

// Reads a certificate file: `path` as given, else `path`.key_secret for a secret file or
// `path`.key for a public one. With want_secret, the file must hold a secret-key and be
// readable by its owner only (else kPermissionDenied naming the file and its mode); without,
// only the public key is returned. Errors: kNotFound, kIoError, kInvalidArgument (not a
// certificate, or a key that is not 40 Z85 characters).
Result<CurveKeys> read_curve_keys(const std::string& path, bool want_secret);

// Whether `key` is 40 characters of Z85 that decode to 32 bytes.
bool valid_curve_key(std::string_view key);

// What a key may do. Roles nest for requests: an admin may do what a writer may, a writer what
// a reader may. kPublisher stands apart: the key that may publish a hub's events on a bus
// proxy's frontend, and nothing else.
enum class Role : std::uint8_t {
  kReader = 1,     // subscribe to the bus, replay, every read
  kWriter = 2,     // the writes of the command channel ("writer-client"; maybe some tables)
  kAdmin = 4,      // clear_all, node_down, and what later admin requests add
  kPublisher = 8,  // publish on a bus proxy's frontend
  kStandby = 16,   // what a reader may, plus acknowledge copied seqs to a writer (`stb`)
};
// The directory name of each role, and back: "reader", "writer-client", "admin", "publisher",
// "standby".
std::string_view role_name(Role role);

// One key's grant: the roles it holds (bits of Role) and, for writes, the tables it may write
// (empty: every table; "" in the set names the hub's default table).
struct Grant {
  std::uint8_t roles = 0;
  std::set<std::string> tables;
  bool has(Role r) const { return (roles & static_cast<std::uint8_t>(r)) != 0; }
  // A request needing `r` is allowed: kReader and kWriter are implied by kAdmin, kReader by
  // kWriter and by kStandby.
  bool allows(Role r) const;
  bool may_write(std::string_view table) const {
    return tables.empty() || tables.count(std::string(table));
  }
};

// The keys of each role, read from a directory:
//   DIR/reader/*.key  DIR/writer-client/*.key  DIR/admin/*.key  DIR/publisher/*.key
//   DIR/standby/*.key
// Each file is a public certificate (as write_curve_keys writes, or czmq's zcert). A
// writer-client certificate may limit its key to some tables with a line under `metadata`:
//   tables = "sessions,workers"
// A key may be in several directories. Other files (a secret file, README) are ignored; an
// unreadable or malformed .key file fails the load, naming it, so that a typo never silently
// locks a client out or lets one in.
class AccessPolicy {
 public:
  static Result<std::shared_ptr<AccessPolicy>> load(const std::string& dir);
  // A policy from grants in memory (public key -> grant); no directory, reload() keeps it.
  static std::shared_ptr<AccessPolicy> from_grants(std::map<std::string, Grant> grants);

  // The grant of a public key (Z85); roles 0 if unknown.
  Grant grant(std::string_view public_key) const;
  // Gives `public_key` the role `role` besides what the directory says, for as long as the
  // policy lives (kept across reloads): `procreg serve` admits its own key as the publisher of
  // the bus proxy it embeds.
  void grant_always(const std::string& public_key, Role role);
  // Rereads the directory now. On an error the previous keys stay in force.
  Status reload();
  // Rereads the directory if a file in it changed (names, sizes, modification times) since the
  // last read, at most once per `interval`; servers call it as they run, so a key added or
  // removed takes effect within about `interval` without a restart. True if it reloaded.
  bool refresh(std::chrono::milliseconds interval = std::chrono::milliseconds(1000));
  // Changes the loads made (every successful load() and reload()), and failed reloads.
  std::uint64_t generation() const;
  std::uint64_t reload_failures() const;
  const std::string& dir() const { return dir_; }
  std::size_t size() const;

 private:
  AccessPolicy() = default;
  std::string dir_;
  mutable std::mutex mu_;
  std::map<std::string, Grant, std::less<>> grants_;  // by public key
  std::map<std::string, std::uint8_t> always_;        // grant_always's roles, by key
  std::string signature_;                             // of the directory's files at the last read
  std::chrono::steady_clock::time_point checked_;
  std::uint64_t generation_ = 0;
  std::uint64_t reload_failures_ = 0;
};

// CURVE for one component. Empty `keys`: plaintext (the default).
//   - keys: this process's identity (public and secret).
//   - server_key: the public key of the server its sockets connect to (a writer's replay and
//     command endpoints, a bus proxy or a writer's PUB).
//   - bus_server_key: for the bus socket only, when the bus's server key differs from
//     server_key (a proxy with a key of its own); empty: server_key.
//   - policy: for the sockets it binds, who may connect and what each may do. With keys and no
//     policy a bound socket refuses to start: a server that admits every key is not a secured
//     one.
struct CurveOptions {
  CurveKeys keys;
  std::string server_key;
  std::string bus_server_key;
  std::shared_ptr<AccessPolicy> policy;
  bool enabled() const { return !keys.empty(); }
  const std::string& bus_key() const {
    return bus_server_key.empty() ? server_key : bus_server_key;
  }
};

// Whether `endpoint` is safe to serve or use without CURVE: inproc://, ipc://, or tcp:// on a
// loopback address (127.0.0.0/8, ::1, localhost). A host name other than localhost, a wildcard
// (*, 0.0.0.0, ::) or an interface name is not.
bool is_local_endpoint(std::string_view endpoint);

}  // namespace procreg
