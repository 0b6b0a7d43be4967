// procreg::plugin internal: the ZAP handler (ZeroMQ RFC 27) of a zmq::context_t, and the
// CURVE set-up of procreg's sockets (include/procreg/security.h, docs/SECURITY.md).
//
// libzmq asks the handler bound at inproc://zeromq.zap.01 of a socket's context whether to
// admit each new connection to a socket that has a ZAP domain. One handler serves a context:
// the first secured endpoint of a context starts it, the last one gone stops it. Each secured
// endpoint registers a domain of its own, with its AccessPolicy and the roles it admits; the
// handler admits a CURVE key whose grant allows one of them, answers with the key (Z85) as
// the connection's User-Id, and counts what it refuses. It also refreshes the policies it
// serves (AccessPolicy::refresh) about once a second, so key files changed on disk take effect
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

// One secured server endpoint (or a plaintext one: then every check passes). Make it before
// the socket binds, apply() it to the socket, keep it as long as the socket.
class EndpointSecurity {
 public:
  // `admits`: the roles whose keys may connect (bits of Role); `what` names the endpoint in
  // errors. Plaintext when curve is not enabled. kInvalidArgument: keys without a policy, or
  // a malformed key; kUnavailable: the context has a ZAP handler that is not procreg's.
  static Result<std::shared_ptr<EndpointSecurity>> make(zmq::context_t& context,
                                                        const CurveOptions& curve,
                                                        std::uint8_t admits,
                                                        const std::string& what);
  ~EndpointSecurity();
  EndpointSecurity(const EndpointSecurity&) = delete;
  EndpointSecurity& operator=(const EndpointSecurity&) = delete;

  bool enabled() const { return enabled_; }
  // Makes `socket` a CURVE server in this endpoint's ZAP domain (nothing when plaintext).
  // Call before bind.
  Status apply(zmq::socket_t& socket) const;
  // The grant of the peer that sent `frame` (a frame received on the socket): every role on a
  // plaintext endpoint, none if the frame carries no User-Id.
  Grant grant(const zmq::message_t& frame) const;
  // Connections the ZAP handler refused (unknown key, or a key without an admitted role).
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
  std::shared_ptr<void> handler_;  // keeps the context's handler running
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
