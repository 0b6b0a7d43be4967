// The proxy thread owns three sockets: XSUB (frontend), XPUB (backend) and a PAIR control
// socket on which stop() sends ZeroMQ's "TERMINATE" to end zmq_proxy_steerable.
#include "procreg/bus_proxy.h"

#include <atomic>
#include <future>
#include <thread>

namespace procreg {

namespace {
std::atomic<std::uint64_t> next_control_id{0};
}

struct BusProxy::Impl {
  zmq::context_t& context;
  std::string control_endpoint;
  std::string frontend;
  std::string backend;
  std::thread thread;
  zmq::socket_t control;  // the stop() side of the control pair
  bool stopped = false;

  explicit Impl(zmq::context_t& c) : context(c) {}
  void run(const BusProxyOptions& options, std::promise<Status>& ready);
};

void BusProxy::Impl::run(const BusProxyOptions& options, std::promise<Status>& ready) {
  zmq::socket_t xsub(context, zmq::socket_type::xsub);
  zmq::socket_t xpub(context, zmq::socket_type::xpub);
  zmq::socket_t steer(context, zmq::socket_type::pair);
  for (auto* s : {&xsub, &xpub, &steer}) s->set(zmq::sockopt::linger, 0);
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
  try {
    zmq::proxy_steerable(xsub, xpub, zmq::socket_ref(), steer);
  } catch (const zmq::error_t&) {
    // ETERM: the context is being closed under us; the sockets close as we return.
  }
}

Result<std::unique_ptr<BusProxy>> BusProxy::start(zmq::context_t& context,
                                                  const BusProxyOptions& options) {
  auto impl = std::make_unique<Impl>(context);
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
