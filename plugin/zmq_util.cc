#include "plugin/zmq_util.h"

#include <cerrno>
#include <optional>

#if defined(__SANITIZE_THREAD__)
#define PROCREG_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PROCREG_TSAN 1
#endif
#endif
#ifdef PROCREG_TSAN
#include <sanitizer/tsan_interface.h>
#endif

namespace procreg::plugin {
namespace {
// A frame's buffer may reach the receiving thread without a copy (inproc, or a zero-copy send
// such as the command service's large answers), through libzmq's lock-free pipe, which the
// thread sanitizer cannot see. These tell it of the hand-off, so the writes that filled the
// buffer happen before the reads of it. They compile to nothing in other builds.
void handed_over(const void* data) {
#ifdef PROCREG_TSAN
  __tsan_release(const_cast<void*>(data));
#else
  (void)data;
#endif
}

void taken_over(const void* data) {
#ifdef PROCREG_TSAN
  __tsan_acquire(const_cast<void*>(data));
#else
  (void)data;
#endif
}
}  // namespace

Result<bool> recv_message(zmq::socket_t& socket, Frames* out, const RecvLimits& limits,
                          bool dont_wait) {
  out->clear();
  std::size_t bytes = 0;
  bool oversized = false;
  try {
    for (;;) {
      zmq::message_t frame;
      const auto flags = (dont_wait && out->empty() && !oversized) ? zmq::recv_flags::dontwait
                                                                   : zmq::recv_flags::none;
      bool got = false;
      try {
        got = socket.recv(frame, flags).has_value();
      } catch (const zmq::error_t& e) {
        // A signal delivered to this thread: not an error of the socket. Before the first
        // frame nothing was taken; inside a message the rest is already queued (atomic).
        if (e.num() != EINTR) throw;
        if (out->empty() && !oversized) return false;
        continue;
      }
      if (!got) {
        if (out->empty() && !oversized) return false;
        return Status::unavailable("a multipart message ended early");
      }
      taken_over(frame.data());
      const bool more = frame.more();
      bytes += frame.size();
      if (!oversized && (out->size() >= limits.max_frames || bytes > limits.max_bytes)) {
        oversized = true;
        if (limits.keep_head && !out->empty()) {
          const zmq::message_t& second = out->size() >= 2 ? (*out)[1] : frame;
          zmq::message_t head(second.data(), std::min(second.size(), kHeadBytes));
          out->resize(1);
          out->push_back(std::move(head));
        } else {
          out->clear();
        }
      }
      if (!oversized) out->push_back(std::move(frame));
      if (!more) break;
    }
  } catch (const zmq::error_t& e) {
    out->clear();
    return Status::unavailable(std::string("receive failed: ") + e.what());
  }
  if (oversized) {
    return Status::resource_exhausted("message over " + std::to_string(limits.max_frames) +
                                      " frames or " + std::to_string(limits.max_bytes) +
                                      " bytes, dropped");
  }
  return true;
}

Result<bool> send_message(zmq::socket_t& socket, Frames& frames, bool dont_wait) {
  try {
    for (std::size_t i = 0; i < frames.size(); ++i) {
      auto flags = i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none;
      if (dont_wait) flags = flags | zmq::send_flags::dontwait;
      std::optional<std::size_t> sent;
      handed_over(frames[i].data());
      for (int attempt = 0;; ++attempt) {
        try {
          sent = socket.send(frames[i], flags);
          break;
        } catch (const zmq::error_t& e) {
          if (e.num() != EINTR || attempt >= 100) throw;  // interrupted by a signal: again
        }
      }
      if (!sent) {
        if (i == 0) return false;  // nothing queued; later frames go with the first (atomic)
        return Status::unavailable("a multipart send stopped after its first frame");
      }
    }
  } catch (const zmq::error_t& e) {
    return Status::unavailable(std::string("send failed: ") + e.what());
  }
  return true;
}

Result<bool> wait_readable(zmq::socket_t& socket, std::chrono::milliseconds timeout) {
  zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
  try {
    return zmq::poll(&item, 1, timeout) > 0;
  } catch (const zmq::error_t& e) {
    if (e.num() == EINTR) return false;  // a signal: the caller's loop polls again
    return Status::unavailable(std::string("poll failed: ") + e.what());
  }
}

Result<bool> recv_until(zmq::socket_t& socket, Frames* out, const RecvLimits& limits,
                        std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    auto ready = wait_readable(socket, left);
    if (!ready.ok()) return ready.status();
    if (!*ready) continue;  // the time ran out (checked above), or a signal: poll again
    auto got = recv_message(socket, out, limits, /*dont_wait=*/true);
    if (!got.ok() || *got) return got;
  }
}

std::string last_endpoint(zmq::socket_t& socket) { return socket.get(zmq::sockopt::last_endpoint); }

}  // namespace procreg::plugin
