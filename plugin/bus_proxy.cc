// The proxy thread owns three sockets: XSUB (frontend), XPUB (backend) and a PAIR control
// socket on which stop() sends "TERMINATE". It forwards messages frontend -> backend and
// subscriptions backend -> frontend, as zmq_proxy does, and binds an endpoint anew when its
// access policy dropped a key that had connected there.
#include "procreg/bus_proxy.h"

#include <atomic>
#include <future>
#include <thread>

#include "plugin/zap_handler.h"

namespace procreg {

namespace {

std::atomic<std::uint64_t> next_control_id{0};

// What one direction of the proxy moved; written by the proxy thread, read by any.
struct Flow {
  std::atomic<std::uint64_t> messages{0};
  std::atomic<std::uint64_t> bytes{0};
};

// Moves up to `budget` whole messages from `from` to `to` without blocking, counting them in
// `flow`. False when the context is closing.
bool forward(zmq::socket_t& from, zmq::socket_t& to, int budget, Flow& flow) {
  try {
    for (int i = 0; i < budget; ++i) {
      zmq::message_t frame;
      if (!from.recv(frame, zmq::recv_flags::dontwait)) return true;
      flow.messages.fetch_add(1, std::memory_order_relaxed);
      for (;;) {
        const bool more = frame.more();
        flow.bytes.fetch_add(frame.size(), std::memory_order_relaxed);
        // An XPUB drops what it cannot queue for a subscriber; an XSUB never blocks.
        (void)to.send(frame, more ? zmq::send_flags::sndmore : zmq::send_flags::none);
        if (!more) break;
        (void)from.recv(frame, zmq::recv_flags::none);  // the rest of a message is queued
      }
    }
  } catch (const zmq::error_t& e) {
    return e.num() != ETERM;
  }
  return true;
}

}  // namespace

struct BusProxy::Impl {
  zmq::context_t& context;
  std::string control_endpoint;
  std::string frontend;
  std::string backend;
  std::shared_ptr<plugin::ConnectionBudget> budget;
  std::shared_ptr<plugin::EndpointSecurity> front_security;
  std::shared_ptr<plugin::EndpointSecurity> back_security;
  std::thread thread;
  zmq::socket_t control;  // the stop() side of the control pair
  bool stopped = false;
  Flow published;      // frontend -> backend
  Flow subscriptions;  // backend -> frontend

  explicit Impl(zmq::context_t& c) : context(c) {}
  void run(const BusProxyOptions& options, std::promise<Status>& ready);
  void loop(zmq::socket_t& xsub, zmq::socket_t& xpub, zmq::socket_t& steer);
};

void BusProxy::Impl::run(const BusProxyOptions& options, std::promise<Status>& ready) {
  zmq::socket_t xsub(context, zmq::socket_type::xsub);
  zmq::socket_t xpub(context, zmq::socket_type::xpub);
  zmq::socket_t steer(context, zmq::socket_type::pair);
  for (auto* s : {&xsub, &xpub, &steer}) s->set(zmq::sockopt::linger, 0);
  if (Status s = front_security->apply(xsub); !s.ok()) return ready.set_value(s);
  if (Status s = back_security->apply(xpub); !s.ok()) return ready.set_value(s);
  std::string binding = options.frontend;
  try {
    xsub.bind(options.frontend);
    binding = options.backend;
    xpub.bind(options.backend);
    binding = control_endpoint;
    steer.connect(control_endpoint);
    frontend = xsub.get(zmq::sockopt::last_endpoint);
    backend = xpub.get(zmq::sockopt::last_endpoint);
  } catch (const zmq::error_t& e) {
    ready.set_value(Status::unavailable("bus proxy cannot bind " + binding + ": " + e.what()));
    return;
  }
  ready.set_value(Status());
  loop(xsub, xpub, steer);
}

void BusProxy::Impl::loop(zmq::socket_t& xsub, zmq::socket_t& xpub, zmq::socket_t& steer) {
  std::uint64_t front_removed = front_security->keys_removed();
  std::uint64_t back_removed = back_security->keys_removed();
  zmq::pollitem_t items[] = {{xsub.handle(), 0, ZMQ_POLLIN, 0},
                             {xpub.handle(), 0, ZMQ_POLLIN, 0},
                             {steer.handle(), 0, ZMQ_POLLIN, 0}};
  for (;;) {
    try {
      zmq::poll(items, 3, std::chrono::milliseconds(100));
    } catch (const zmq::error_t& e) {
      if (e.num() == ETERM) return;
      continue;  // EINTR
    }
    if ((items[2].revents & ZMQ_POLLIN) != 0) return;  // TERMINATE
    if (!forward(xsub, xpub, 1024, published) || !forward(xpub, xsub, 1024, subscriptions)) {
      return;
    }
    try {
      if (const auto n = front_security->keys_removed(); n != front_removed) {
        front_removed = n;  // a publisher's key lost its role: every publisher authenticates anew
        xsub.unbind(frontend);
        xsub.bind(frontend);
        front_security->connections_reset();
      }
      if (const auto n = back_security->keys_removed(); n != back_removed) {
        back_removed = n;
        xpub.unbind(backend);
        xpub.bind(backend);
        back_security->connections_reset();
      }
    } catch (const zmq::error_t& e) {
      if (e.num() == ETERM) return;
    }
  }
}

Result<std::unique_ptr<BusProxy>> BusProxy::start(zmq::context_t& context,
                                                  const BusProxyOptions& options) {
  auto impl = std::make_unique<Impl>(context);
  impl->budget = std::make_shared<plugin::ConnectionBudget>(options.max_connections);
  const auto publisher = static_cast<std::uint8_t>(Role::kPublisher);
  auto front = plugin::EndpointSecurity::make(context, options.curve, publisher, "bus-frontend",
                                              impl->budget);
  if (!front.ok()) return front.status();
  auto back = plugin::EndpointSecurity::make(context, options.curve, plugin::kClientRoles,
                                             "bus-backend", impl->budget);
  if (!back.ok()) return back.status();
  impl->front_security = std::move(*front);
  impl->back_security = std::move(*back);
  impl->control_endpoint = "inproc://procreg-bus-proxy-" + std::to_string(next_control_id++);
  try {
    impl->control = zmq::socket_t(context, zmq::socket_type::pair);
    impl->control.set(zmq::sockopt::linger, 0);
    impl->control.bind(impl->control_endpoint);
  } catch (const zmq::error_t& e) {
    return Status::unavailable(std::string("bus proxy control socket: ") + e.what());
  }
  std::promise<Status> ready;
  auto started = ready.get_future();
  Impl* raw = impl.get();
  // The promise moves into the thread: it is still in set_value() when get() returns here.
  impl->thread = std::thread(
      [raw, options, promise = std::move(ready)]() mutable { raw->run(options, promise); });
  Status s = started.get();
  if (!s.ok()) {
    impl->thread.join();
    return s;
  }
  return std::unique_ptr<BusProxy>(new BusProxy(std::move(impl)));
}

BusProxy::BusProxy(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

BusProxy::~BusProxy() { stop(); }

const std::string& BusProxy::frontend_endpoint() const { return impl_->frontend; }
const std::string& BusProxy::backend_endpoint() const { return impl_->backend; }

std::uint64_t BusProxy::connections_refused() const {
  return impl_->front_security->refused() + impl_->back_security->refused();
}

std::uint64_t BusProxy::connections_open() const { return impl_->budget->open(); }

std::uint64_t BusProxy::max_connections() const { return impl_->budget->limit(); }

std::uint64_t BusProxy::connections_over_limit() const { return impl_->budget->over_limit(); }

BusProxyStats BusProxy::stats() const {
  BusProxyStats s;
  s.messages_forwarded = impl_->published.messages.load(std::memory_order_relaxed);
  s.bytes_forwarded = impl_->published.bytes.load(std::memory_order_relaxed);
  s.subscriptions_forwarded = impl_->subscriptions.messages.load(std::memory_order_relaxed);
  s.connections_open = connections_open();
  s.max_connections = max_connections();
  s.connections_refused = connections_refused();
  s.connections_over_limit = connections_over_limit();
  return s;
}

void BusProxy::stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  try {
    impl_->control.send(zmq::str_buffer("TERMINATE"), zmq::send_flags::none);
  } catch (const zmq::error_t&) {
    // The context is terminating: the proxy thread is ending on its own.
  }
  impl_->thread.join();
  impl_->control.close();
}

}  // namespace procreg
