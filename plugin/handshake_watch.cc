#include "plugin/handshake_watch.h"

#include <atomic>
#include <cstdio>
#include <cstring>

#include "plugin/zmq_util.h"

namespace procreg::plugin {

namespace {
std::atomic<std::uint64_t> next_watch{0};

constexpr int kWatchedEvents = ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                               ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_DISCONNECTED;
// Connections closed before any handshake succeeded, in a row, that make a refusal.
constexpr int kEarlyCloses = 3;
}  // namespace

Status HandshakeWatch::watch(zmq::context_t& context, zmq::socket_t& socket,
                             const std::string& endpoint) {
  endpoint_ = endpoint;
  const std::string monitor = "inproc://procreg-handshakes-" + std::to_string(next_watch++);
  if (zmq_socket_monitor(socket.handle(), monitor.c_str(), kWatchedEvents) != 0) {
    return Status::unavailable(std::string("cannot monitor a client socket: ") +
                               zmq_strerror(zmq_errno()));
  }
  try {
    pair_ = zmq::socket_t(context, zmq::socket_type::pair);
    pair_.set(zmq::sockopt::linger, 0);
    pair_.set(zmq::sockopt::rcvhwm, 0);  // never full: libzmq would block its I/O thread
    pair_.connect(monitor);
  } catch (const zmq::error_t& e) {
    return Status::unavailable(std::string("cannot read a socket monitor: ") + e.what());
  }
  return {};
}

std::optional<Status> HandshakeWatch::drain() {
  std::optional<Status> refused;
  if (!pair_) return refused;
  Frames event;
  for (int i = 0; i < 1024; ++i) {
    auto got = recv_message(pair_, &event, RecvLimits{2, 4096, false}, /*dont_wait=*/true);
    if (!got.ok() || !*got) break;
    if (event.size() != 2 || event[0].size() != 6) continue;
    std::uint16_t type = 0;
    std::uint32_t value = 0;
    std::memcpy(&type, event[0].data(), sizeof type);
    std::memcpy(&value, static_cast<const char*>(event[0].data()) + sizeof type, sizeof value);
    if (type == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
      ever_connected_ = true;
    } else if (type == ZMQ_EVENT_DISCONNECTED) {
      // A CURVE server reads a plaintext greeting and closes, often before this side has read
      // its greeting: then no handshake event comes, only the close, again at each reconnect.
      if (!ever_connected_ && ++early_closes_ >= kEarlyCloses && !refused) {
        refused = Status::unavailable(
            endpoint_ + " closed the connection during the handshake " +
            std::to_string(early_closes_) +
            " times: it uses another security mechanism (one side CURVE, the other plaintext), "
            "or does not speak ZeroMQ");
      }
    } else {
      refused = refusal(type, value);
    }
  }
  return refused;
}

Status HandshakeWatch::refusal(std::uint16_t event, std::uint32_t value) const {
  if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH && (value == 300 || value == 500)) {
    return Status::resource_exhausted(endpoint_ +
                                      " refused the connection: it holds as many connections "
                                      "as it may (ZAP status " +
                                      std::to_string(value) + "); try again later");
  }
  if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH && value == 400) {
    return Status::permission_denied(endpoint_ +
                                     " refused this client's key (ZAP status 400): the key has "
                                     "no role that endpoint admits");
  }
  if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
    return Status::unavailable(endpoint_ + " refused the connection (ZAP status " +
                               std::to_string(value) + ")");
  }
  if (value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH) {
    return Status::unavailable(endpoint_ +
                               " speaks another security mechanism: one side uses CURVE and "
                               "the other plaintext");
  }
  char hex[9];
  std::snprintf(hex, sizeof hex, "%08x", value);
  return Status::unavailable(endpoint_ + " failed the handshake (ZeroMQ protocol error 0x" + hex +
                             ")");
}

}  // namespace procreg::plugin
