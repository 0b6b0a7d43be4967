// A test bus that loses messages: an XSUB/XPUB forwarder (like BusProxy) that drops every
// multipart message with probability drop_share (whole messages, as a PUB at its high-water
// mark does), from a fixed seed. Subscriptions flow upstream untouched.
//
// Thread safety: construct and destroy on one thread; it forwards on its own thread.
#pragma once

#include <atomic>
#include <chrono>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <zmq.hpp>

namespace procreg::testing {

class LossyProxy {
 public:
  LossyProxy(zmq::context_t& context, double drop_share, std::uint32_t seed = 7)
      : xsub_(context, zmq::socket_type::xsub), xpub_(context, zmq::socket_type::xpub) {
    for (auto* s : {&xsub_, &xpub_}) s->set(zmq::sockopt::linger, 0);
    xsub_.bind("tcp://127.0.0.1:*");
    xpub_.bind("tcp://127.0.0.1:*");
    frontend_ = xsub_.get(zmq::sockopt::last_endpoint);
    backend_ = xpub_.get(zmq::sockopt::last_endpoint);
    thread_ = std::thread([this, drop_share, seed] { run(drop_share, seed); });
  }
  ~LossyProxy() {
    stop_ = true;
    thread_.join();
  }
  LossyProxy(const LossyProxy&) = delete;
  LossyProxy& operator=(const LossyProxy&) = delete;

  const std::string& frontend() const { return frontend_; }  // publishers connect here
  const std::string& backend() const { return backend_; }    // subscribers connect here
  std::uint64_t dropped() const { return dropped_.load(); }
  std::uint64_t forwarded() const { return forwarded_.load(); }

 private:
  void run(double drop_share, std::uint32_t seed) {
    std::mt19937 rng(seed);
    std::bernoulli_distribution drop(drop_share);
    zmq::pollitem_t items[] = {{xsub_.handle(), 0, ZMQ_POLLIN, 0},
                               {xpub_.handle(), 0, ZMQ_POLLIN, 0}};
    std::vector<zmq::message_t> frames;
    while (!stop_.load()) {
      zmq::poll(items, 2, std::chrono::milliseconds(20));
      if (items[1].revents & ZMQ_POLLIN) forward(xpub_, xsub_, frames, false);
      if (items[0].revents & ZMQ_POLLIN) {
        // Heartbeats are lost too: a replica must repair from whatever arrives.
        forward(xsub_, xpub_, frames, drop(rng));
      }
    }
  }
  void forward(zmq::socket_t& from, zmq::socket_t& to, std::vector<zmq::message_t>& frames,
               bool lose) {
    frames.clear();
    for (;;) {
      zmq::message_t m;
      if (!from.recv(m, zmq::recv_flags::dontwait)) return;
      const bool more = m.more();
      frames.push_back(std::move(m));
      if (!more) break;
    }
    if (lose) {
      dropped_.fetch_add(1);
      return;
    }
    for (std::size_t i = 0; i < frames.size(); ++i) {
      (void)to.send(frames[i],
                    i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
    }
    forwarded_.fetch_add(1);
  }

  zmq::socket_t xsub_;
  zmq::socket_t xpub_;
  std::string frontend_, backend_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> dropped_{0}, forwarded_{0};
  std::thread thread_;
};

}  // namespace procreg::testing
