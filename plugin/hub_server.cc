// HubServer: the Publisher (fed by the writer's commit listener, plus a heartbeat thread), the
// ReplayService and the CommandService, each on its own socket.
#include "procreg/hub_server.h"

#include <condition_variable>
#include <mutex>
#include <thread>

#include "plugin/command_service.h"
#include "plugin/publisher.h"
#include "plugin/replay_service.h"
#include "plugin/wire.h"
#include "plugin/zap_handler.h"
#include "registry/registry_access.h"

namespace procreg {

namespace {

// What heartbeats say of a bound endpoint (HubServerOptions::advertise_replay): `given`, or the
// bound endpoint unless it names every interface.
std::string advertised(const std::string& given, const std::string& bound) {
  if (given == "none") return "";
  if (!given.empty()) return given;
  for (const char* any : {"://*:", "://0.0.0.0:", "://[::]:", "://::"}) {
    if (bound.find(any) != std::string::npos) return "";
  }
  return bound;
}

}  // namespace

struct HubServer::Impl {
  Registry& writer;
  HubServerOptions options;
  plugin::ServerCounters counters;
  std::unique_ptr<plugin::Publisher> publisher;
  std::shared_ptr<plugin::ConnectionBudget> budget;            // every bound endpoint's
  std::shared_ptr<plugin::EndpointSecurity> publish_security;  // a bound PUB's
  std::unique_ptr<plugin::ReplayService> replay;
  std::unique_ptr<plugin::CommandService> commands;
  std::string publish_endpoint, replay_endpoint, command_endpoint;
  std::thread heartbeat;
  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;
  bool stopped = false;
  std::uint64_t listener_token = 0;

  Impl(Registry& w, HubServerOptions o) : writer(w), options(std::move(o)) {}
  void run_heartbeat();
};

void HubServer::Impl::run_heartbeat() {
  std::unique_lock l(mu);
  std::uint64_t removed = publish_security->keys_removed();
  for (;;) {
    l.unlock();
    if (const std::uint64_t now = publish_security->keys_removed(); now != removed) {
      removed = now;  // a subscriber's key lost its role: make every subscriber authenticate
      (void)publisher->rebind(publish_endpoint);
      publish_security->connections_reset();
    }
    publisher->heartbeat(system_clock_ms());
    l.lock();
    if (cv.wait_for(l, options.heartbeat_interval, [&] { return stopping; })) return;
  }
}

Result<std::unique_ptr<HubServer>> HubServer::start(zmq::context_t& context, Registry& writer,
                                                    const HubServerOptions& options) {
  if (writer.read_only() || writer.is_replica()) {
    return Status::invalid_argument("a HubServer needs the hub's writer, not a replica or replay");
  }
  if (options.heartbeat_interval.count() <= 0) {
    return Status::invalid_argument("heartbeat_interval must be positive");
  }
  if (options.max_events_per_message == 0 ||
      options.max_events_per_message > plugin::wire::kMaxBatchEvents) {
    return Status::invalid_argument("max_events_per_message must be in 1.." +
                                    std::to_string(plugin::wire::kMaxBatchEvents));
  }
  if (options.max_message_bytes > plugin::wire::kMaxBatchBytes) {
    return Status::invalid_argument("max_message_bytes must be at most " +
                                    std::to_string(plugin::wire::kMaxBatchBytes) +
                                    " (subscribers read frames of up to 16 MiB)");
  }
  auto impl = std::make_unique<Impl>(writer, options);
  impl->budget = std::make_shared<plugin::ConnectionBudget>(options.max_connections);
  auto security = plugin::EndpointSecurity::make(
      context, options.publish_connect ? CurveOptions{} : options.curve, plugin::kClientRoles,
      "bus", options.publish_connect ? nullptr : impl->budget);
  if (!security.ok()) return security.status();
  impl->publish_security = std::move(*security);
  try {
    zmq::socket_t pub(context, zmq::socket_type::pub);
    pub.set(zmq::sockopt::linger, 0);
    pub.set(zmq::sockopt::sndhwm, options.publish_hwm);
    if (options.publish_connect) {
      Status st = plugin::secure_client(pub, options.curve, options.curve.bus_key());
      if (!st.ok()) return Status(st.code(), "the publisher: " + st.message());
      pub.connect(options.publish_endpoint);
    } else {
      if (Status st = impl->publish_security->apply(pub); !st.ok()) return st;
      pub.bind(options.publish_endpoint);
    }
    impl->publish_endpoint = plugin::last_endpoint(pub);
    impl->publisher = std::make_unique<plugin::Publisher>(
        std::move(pub), writer.hub(), impl->counters, options.max_events_per_message,
        options.max_message_bytes);
    impl->publisher->set_history(writer.term(), writer.incarnation(),
                                 writer.incarnation_start_seq(),
                                 replay::RegistryAccess::prev_incarnation(writer));
  } catch (const zmq::error_t& e) {
    return Status::unavailable("cannot " +
                               std::string(options.publish_connect ? "connect" : "bind") +
                               " the publisher to " + options.publish_endpoint + ": " + e.what());
  }
  if (!options.replay_endpoint.empty()) {
    auto r = plugin::ReplayService::start(context, writer, options.replay_endpoint, options,
                                          impl->counters, impl->budget);
    if (!r.ok()) return r.status();
    impl->replay = std::move(*r);
    impl->replay_endpoint = impl->replay->endpoint();
  }
  if (!options.command_endpoint.empty()) {
    auto c = plugin::CommandService::start(context, writer, options.command_endpoint, options,
                                           impl->counters, impl->budget);
    if (!c.ok()) return c.status();
    impl->commands = std::move(*c);
    impl->command_endpoint = impl->commands->endpoint();
  }
  impl->publisher->set_endpoints(advertised(options.advertise_replay, impl->replay_endpoint),
                                 advertised(options.advertise_command, impl->command_endpoint));
  plugin::Publisher* publisher = impl->publisher.get();
  auto token = replay::RegistryAccess::attach_commit_listener(
      writer,
      [publisher](std::span<const replay::CommittedEvent> events) { publisher->publish(events); },
      [publisher](const replay::ChainHeads& heads) { publisher->start_at(heads); });
  if (!token.ok()) {
    if (impl->commands) impl->commands->stop();
    if (impl->replay) impl->replay->stop();
    return token.status();
  }
  impl->listener_token = *token;
  impl->heartbeat = std::thread([p = impl.get()] { p->run_heartbeat(); });
  return std::unique_ptr<HubServer>(new HubServer(std::move(impl)));
}

HubServer::HubServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HubServer::~HubServer() { stop(); }

const std::string& HubServer::publish_endpoint() const { return impl_->publish_endpoint; }
const std::string& HubServer::replay_endpoint() const { return impl_->replay_endpoint; }
const std::string& HubServer::command_endpoint() const { return impl_->command_endpoint; }
HubServerStats HubServer::stats() const {
  HubServerStats s = impl_->counters.read();
  s.connections_refused = impl_->publish_security->refused() +
                          (impl_->replay ? impl_->replay->connections_refused() : 0) +
                          (impl_->commands ? impl_->commands->connections_refused() : 0);
  s.connections_open = impl_->budget->open();
  s.max_connections = impl_->budget->limit();
  s.connections_over_limit = impl_->budget->over_limit();
  return s;
}

void HubServer::stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  if (impl_->commands) impl_->commands->stop();  // in-flight commands finish first
  replay::RegistryAccess::detach_commit_listener(impl_->writer, impl_->listener_token);
  {
    std::lock_guard l(impl_->mu);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  if (impl_->heartbeat.joinable()) impl_->heartbeat.join();
  impl_->publisher->heartbeat(system_clock_ms());  // the final position
  if (impl_->replay) impl_->replay->stop();
  impl_->publisher->close();
}

}  // namespace procreg
