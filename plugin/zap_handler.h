// procreg::plugin internal: the ZAP handler (ZeroMQ RFC 27) of a zmq::context_t, and the
// CURVE set-up of procreg's sockets (include/procreg/security.h, docs/SECURITY.md).
//
// libzmq asks the handler bound at inproc://zeromq.zap.01 of a socket's context whether to
// admit each new connection to a socket that has a ZAP domain. One handler serves a context:
// the first guarded endpoint of a context starts it, the last one gone stops it. Each guarded
// endpoint registers a domain of its own, with its AccessPolicy and the roles it admits, and
// its server's ConnectionBudget; the handler refuses a connection while the budget is spent
// (ZAP status 500, "too many connections"), admits a CURVE key whose grant allows one of the roles
// (answering with the key, Z85, as the connection's User-Id) or, on a plaintext endpoint, any peer,
// and counts what it refuses. It counts each endpoint's open connections from a socket monitor
// (zmq_socket_monitor: accepted less disconnected), and refreshes the policies it serves
// (AccessPolicy::refresh) about once a second, so key files changed on disk take effect
// without a restart.
//
// Thread safety: every function from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include <zmq.hpp>

#include "procreg/security.h"
#include "procreg/status.h"

namespace procreg::plugin {

// The roles of clients (reader, writer-client, admin): what every endpoint but a proxy's
// frontend admits.
inline constexpr std::uint8_t kClientRoles = static_cast<std::uint8_t>(Role::kReader) |
                                             static_cast<std::uint8_t>(Role::kWriter) |
                                             static_cast<std::uint8_t>(Role::kAdmin);

// The connections (tcp and ipc: a file descriptor each; inproc takes none) the endpoints of one
// server may hold at once. Shared by them, so that a flood on one endpoint leaves descriptors
// for the server's log, snapshots and its own connections.
class ConnectionBudget {
 public:
  // Descriptors kept back from automatic_limit() for the log, snapshots and ZeroMQ itself.
  static constexpr std::size_t kReservedDescriptors = 128;
  // 0: automatic_limit().
  explicit ConnectionBudget(std::size_t limit);
  // The soft RLIMIT_NOFILE less kReservedDescriptors (16 at least; 1,000,000 when unlimited).
  static std::size_t automatic_limit();
  std::size_t limit() const { return limit_; }
  // Connections open now: accepted and not yet gone, the ones being refused included.
  std::uint64_t open() const {
    const std::int64_t n = open_.load();
    return n > 0 ? static_cast<std::uint64_t>(n) : 0;
  }
  // Connections refused because the budget was spent.
  std::uint64_t over_limit() const { return over_limit_.load(); }

 private:
  friend class ZapHandler;
  const std::size_t limit_;
  std::atomic<std::int64_t> open_{0};
  std::atomic<std::uint64_t> over_limit_{0};
};

class ZapHandler;

// One guarded server endpoint. Make it before the socket binds, apply() it to the socket, keep
// it as long as the socket. Without CURVE and without a budget every check passes and nothing
// is asked of ZAP.
class EndpointSecurity {
 public:
  // `admits`: the roles whose keys may connect (bits of Role); `what` names the endpoint in
  // errors; `budget`: the server's connections (none: not counted; past its limit a connection
  // is refused with ZAP status 500). kInvalidArgument: keys
  // without a policy, or a malformed key; kUnavailable: the context has a ZAP handler that is
  // not procreg's (with CURVE; a plaintext endpoint then goes without the budget).
  static Result<std::shared_ptr<EndpointSecurity>> make(
      zmq::context_t& context, const CurveOptions& curve, std::uint8_t admits,
      const std::string& what, std::shared_ptr<ConnectionBudget> budget = nullptr);
  ~EndpointSecurity();
  EndpointSecurity(const EndpointSecurity&) = delete;
  EndpointSecurity& operator=(const EndpointSecurity&) = delete;

  bool enabled() const { return enabled_; }
  // Makes `socket` a CURVE server (with CURVE) in this endpoint's ZAP domain, and has the
  // handler count its connections (with a budget). Call once per socket, from its thread,
  // before bind.
  Status apply(zmq::socket_t& socket) const;
  // After the socket unbound and bound again (which ends its connections without telling the
  // monitor): its connections are counted from 0 again.
  void connections_reset() const;
  // The grant of the peer that sent `frame` (a frame received on the socket): every role on a
  // plaintext endpoint, none if the frame carries no User-Id.
  Grant grant(const zmq::message_t& frame) const;
  // Connections refused for their key (unknown, or without an admitted role) or for speaking
  // plaintext to a CURVE endpoint.
  std::uint64_t refused() const;
  // Bumped each time the policy dropped a key it held (a key removed from the directory): a
  // socket whose peers are not checked per message (PUB, XPUB) rebinds to make every peer
  // authenticate again.
  std::uint64_t keys_removed() const;
  const std::shared_ptr<AccessPolicy>& policy() const { return policy_; }

  struct Domain;  // the handler's record of this endpoint

 private:
  EndpointSecurity() = default;
  bool enabled_ = false;
  CurveKeys keys_;
  std::shared_ptr<AccessPolicy> policy_;
  std::shared_ptr<Domain> domain_;
  std::shared_ptr<ZapHandler> handler_;  // keeps the context's handler running
  zmq::context_t* context_ = nullptr;
};

// Makes `socket` a CURVE client of the server whose public key is `server_key` (nothing when
// curve is not enabled). kInvalidArgument: a malformed key, or keys without a server key.
Status secure_client(zmq::socket_t& socket, const CurveOptions& curve,
                     const std::string& server_key);

// Checks a client's CURVE options before its sockets are made: a well-formed key pair and
// server_key, and bus_key() when `bus` (the component reads the bus). ok when not enabled.
// kInvalidArgument naming `who` and what is missing.
Status check_client_curve(const CurveOptions& curve, bool bus, const std::string& who);

}  // namespace procreg::plugin
