// procreg::plugin internal: what a server said of a client socket's connection, from the
// socket's monitor (zmq_socket_monitor). A procreg server refuses a connection in its handshake
// (ZAP, RFC 27): status 500 when it holds as many connections as it may, 400 when the client's
// key has no role there; a plaintext client at a CURVE server (or the reverse) fails the
// handshake itself, or closes the connection before the client saw why (three such closes in a
// row, with no handshake ever done, count as that refusal). ZeroMQ keeps trying to connect and
// tells the client nothing else: a command would wait out its timeout. The watch turns those events
// into a Status the client can answer with at once.
//
// Thread safety: none; the socket's thread uses it.
#pragma once

#include <optional>
#include <string>

#include <zmq.hpp>

#include "procreg/status.h"

namespace procreg::plugin {

class HandshakeWatch {
 public:
  // Starts watching `socket`, which will connect to `endpoint` (named in the errors). Call
  // before connect. kUnavailable if ZeroMQ cannot monitor it.
  Status watch(zmq::context_t& context, zmq::socket_t& socket, const std::string& endpoint);
  // The socket to poll for events (null before watch()).
  void* handle() { return pair_.handle(); }
  // Reads the events that came: the refusal among them, if one (kResourceExhausted: too many
  // connections; kPermissionDenied: the key; kUnavailable: the mechanisms differ, or another
  // refusal), the last one if several.
  std::optional<Status> drain();
  // Whether a handshake ever succeeded (so commands may have reached the server).
  bool ever_connected() const { return ever_connected_; }

 private:
  Status refusal(std::uint16_t event, std::uint32_t value) const;

  zmq::socket_t pair_;
  std::string endpoint_;
  bool ever_connected_ = false;
  int early_closes_ = 0;  // connections closed before a handshake ever succeeded
};

}  // namespace procreg::plugin
