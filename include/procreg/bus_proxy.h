// procreg: BusProxy, an XSUB/XPUB forwarder for a local bus.
//
// Publishers (a hub's writer among them) connect their PUB sockets to frontend_endpoint();
// subscribers (replicas, hook subscribers, tail) connect SUB sockets to backend_endpoint().
// Messages flow frontend -> backend, subscriptions backend -> frontend, so publishers filter
// at the source exactly as on a direct PUB/SUB connection. This is the embedded default; in
// production procreg attaches to whatever XSUB/XPUB proxy the services already share.
//
// Thread safety: start() and stop() from any one thread, stats() and the connection counts from
// any; the proxy runs on its own thread with its own sockets, on the caller's zmq::context_t,
// which must outlive the BusProxy.
#pragma once

#include <memory>
#include <string>

#include <zmq.hpp>

#include "procreg/security.h"
#include "procreg/status.h"

namespace procreg {

struct BusProxyOptions {
  // Endpoints to bind; "tcp://127.0.0.1:*" binds an ephemeral port (see the *_endpoint()
  // accessors for the one chosen). Any ZeroMQ transport: inproc://, ipc://, tcp://.
  std::string frontend = "tcp://127.0.0.1:*";
  std::string backend = "tcp://127.0.0.1:*";
  // CURVE (include/procreg/security.h): with keys, both endpoints are CURVE servers with these
  // keys; the frontend admits only publisher keys (so that no other key can put a message on
  // the bus), the backend reader, writer-client and admin keys. A key dropped from the policy
  // while connected is cut off within about a second (the endpoint is bound anew and every
  // peer authenticates again). Empty keys: plaintext.
  CurveOptions curve;
  // Connections both endpoints may hold at once, as HubServerOptions::max_connections: past it
  // a new one is refused in its handshake (ZAP status 500) and counted. 0: the soft
  // RLIMIT_NOFILE less 128.
  std::size_t max_connections = 0;
};

// What a proxy has done since it started (BusProxy::stats()).
struct BusProxyStats {
  std::uint64_t messages_forwarded = 0;       // frontend -> backend, whole messages
  std::uint64_t bytes_forwarded = 0;          // their frames' bytes
  std::uint64_t subscriptions_forwarded = 0;  // backend -> frontend (subscribe, unsubscribe)
  std::uint64_t connections_open = 0;
  std::uint64_t max_connections = 0;
  std::uint64_t connections_refused = 0;
  std::uint64_t connections_over_limit = 0;
};

class BusProxy {
 public:
  // Binds both endpoints and starts forwarding. Errors: kUnavailable naming the endpoint that
  // could not be bound and ZeroMQ's reason (address in use, bad endpoint).
  static Result<std::unique_ptr<BusProxy>> start(zmq::context_t& context,
                                                 const BusProxyOptions& options = {});
  ~BusProxy();  // stop()
  BusProxy(const BusProxy&) = delete;
  BusProxy& operator=(const BusProxy&) = delete;

  // The bound endpoints, with ephemeral ports resolved (e.g. "tcp://127.0.0.1:41235").
  const std::string& frontend_endpoint() const;
  const std::string& backend_endpoint() const;

  // Connections refused at either endpoint for their key (CURVE only).
  std::uint64_t connections_refused() const;
  // Connections open at both endpoints now, the most allowed, and those refused for the limit.
  std::uint64_t connections_open() const;
  std::uint64_t max_connections() const;
  std::uint64_t connections_over_limit() const;
  // All of the above and what was forwarded; from any thread.
  BusProxyStats stats() const;

  // Stops forwarding, closes the sockets and joins the thread. Idempotent.
  void stop();

 private:
  struct Impl;
  explicit BusProxy(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace procreg
