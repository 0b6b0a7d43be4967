// procreg::plugin internal: bounded multipart receive and send over cppzmq.
//
// Every endpoint reads untrusted peers: recv_message() takes the whole multipart message
// (always draining it, so a bad message never leaves frames behind to be read as the start of
// the next) and reports one that has too many frames or bytes as kResourceExhausted. ZeroMQ
// errors other than "would block" become kUnavailable; cppzmq exceptions never leave plugin/.
//
// Thread safety: as the socket's (one thread at a time).
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <zmq.hpp>

#include "procreg/status.h"

namespace procreg::plugin {

using Frames = std::vector<zmq::message_t>;

inline std::string_view view(const zmq::message_t& m) {
  return {static_cast<const char*>(m.data()), m.size()};
}

struct RecvLimits {
  std::size_t max_frames = 64;
  std::size_t max_bytes = 64u << 20;  // all frames together
  // A message over the limits still leaves its first frame (a ROUTER's routing id) and the
  // first kHeadBytes of its second in *out, so that the caller can answer it.
  bool keep_head = false;
};
inline constexpr std::size_t kHeadBytes = 64;

// Receives one message into *out. Returns false if none arrived (non-blocking, or the
// socket's receive timeout passed), true with the frames, or an error: kResourceExhausted
// (the message was drained and dropped), kUnavailable (the socket or context is closing).
Result<bool> recv_message(zmq::socket_t& socket, Frames* out, const RecvLimits& limits,
                          bool dont_wait);

// Sends the frames as one message. dont_wait: returns false instead of blocking when the
// message cannot be queued (a PUB at its high-water mark drops silently instead). Errors:
// kUnavailable.
Result<bool> send_message(zmq::socket_t& socket, Frames& frames, bool dont_wait = false);

// Receives one message into *out, waiting until `deadline` (a signal does not end the wait).
// false: the deadline passed with nothing received. Errors as recv_message's and
// wait_readable's.
Result<bool> recv_until(zmq::socket_t& socket, Frames* out, const RecvLimits& limits,
                        std::chrono::steady_clock::time_point deadline);

// Waits until `socket` is readable or `timeout` passes (true if readable). kUnavailable when
// the context is closing.
Result<bool> wait_readable(zmq::socket_t& socket, std::chrono::milliseconds timeout);

// The endpoint a socket bound or connected to, with an ephemeral port resolved.
std::string last_endpoint(zmq::socket_t& socket);

}  // namespace procreg::plugin
