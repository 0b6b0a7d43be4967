#include "plugin/zap_handler.h"

#include <sys/resource.h>

#include <array>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "plugin/zmq_util.h"

namespace procreg::plugin {

struct EndpointSecurity::Domain {
  std::string name;
  std::shared_ptr<AccessPolicy> policy;      // null: plaintext
  std::shared_ptr<ConnectionBudget> budget;  // null: connections not counted
  std::uint8_t admits = 0;
  std::atomic<std::uint64_t> refused{0};
  std::atomic<bool> reset{false};  // connections_reset() was called
  std::atomic<std::uint64_t> keys_removed{0};
  std::mutex mu;                   // guards admitted and generation
  std::set<std::string> admitted;  // keys admitted so far, to tell when one is dropped
  std::uint64_t generation = 0;

  bool admits_grant(const Grant& g) const {
    for (Role r : {Role::kReader, Role::kWriter, Role::kAdmin, Role::kPublisher}) {
      if ((admits & static_cast<std::uint8_t>(r)) != 0 && g.allows(r)) return true;
    }
    return false;
  }
};

namespace {
constexpr const char* kZapEndpoint = "inproc://zeromq.zap.01";
std::atomic<std::uint64_t> next_domain{0};
std::atomic<std::uint64_t> next_monitor{0};
}  // namespace

ConnectionBudget::ConnectionBudget(std::size_t limit)
    : limit_(limit == 0 ? automatic_limit() : limit) {}

std::size_t ConnectionBudget::automatic_limit() {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) != 0 || r.rlim_cur == RLIM_INFINITY) return 1'000'000;
  const auto soft = static_cast<std::size_t>(r.rlim_cur);
  return soft > kReservedDescriptors + 16 ? soft - kReservedDescriptors : 16;
}

class ZapHandler {
 public:
  using Domain = EndpointSecurity::Domain;
  static Result<std::shared_ptr<ZapHandler>> of(zmq::context_t& context);
  ~ZapHandler();
  void add(const std::shared_ptr<Domain>& d) {
    std::lock_guard l(mu_);
    domains_[d->name] = d;
  }
  void remove(const std::string& name) {
    std::lock_guard l(mu_);
    domains_.erase(name);
  }
  // Counts the connections of the socket whose monitor `pair` is connected to (the handler's
  // thread takes the socket over).
  void watch(const std::shared_ptr<Domain>& d, zmq::socket_t pair) {
    std::lock_guard l(mu_);
    new_watches_.push_back(Watch{d, d->budget, std::move(pair), 0});
  }

 private:
  // One monitored socket: its events, and the connections they opened and not yet closed.
  struct Watch {
    std::weak_ptr<Domain> domain;
    std::shared_ptr<ConnectionBudget> budget;
    zmq::socket_t pair;
    std::int64_t open = 0;
  };
  ZapHandler() = default;
  void run();
  void answer(Frames& request);
  void refresh_policies();
  // Reads the monitors' events; drops the watches of endpoints that are gone.
  void read_monitors();
  void count(Watch& w, const std::shared_ptr<Domain>& d, std::uint16_t event);

  zmq::socket_t socket_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;  // guards domains_ and new_watches_
  std::map<std::string, std::weak_ptr<Domain>> domains_;
  std::vector<Watch> new_watches_;
  std::vector<Watch> watches_;  // the handler thread's
};

namespace {
std::mutex handlers_mu;
std::map<void*, std::weak_ptr<ZapHandler>> handlers;  // by context

// Events of a server socket's monitor (version 1: a frame of the event and its value, then
// one of the endpoint).
constexpr int kMonitoredEvents =
    ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL;
}  // namespace

Result<std::shared_ptr<ZapHandler>> ZapHandler::of(zmq::context_t& context) {
  std::lock_guard l(handlers_mu);
  if (auto h = handlers[context.handle()].lock()) return h;
  std::shared_ptr<ZapHandler> h(new ZapHandler());
  h->socket_ = zmq::socket_t(context, zmq::socket_type::rep);
  h->socket_.set(zmq::sockopt::linger, 0);
  // A handler of this context being closed may hold the endpoint for a moment.
  for (int attempt = 0;; ++attempt) {
    try {
      h->socket_.bind(kZapEndpoint);
      break;
    } catch (const zmq::error_t& e) {
      if (e.num() != EADDRINUSE || attempt >= 50) {
        return Status::unavailable(
            std::string("cannot start the ZAP handler (another one serves this context?): ") +
            e.what());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  h->thread_ = std::thread([p = h.get()] { p->run(); });
  handlers[context.handle()] = h;
  return h;
}

ZapHandler::~ZapHandler() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  try {
    socket_.unbind(kZapEndpoint);
  } catch (const zmq::error_t&) {
    // closing releases it anyway
  }
  socket_.close();
}

void ZapHandler::run() {
  Frames request;
  const RecvLimits limits{16, 4096, false};
  std::vector<zmq::pollitem_t> items;
  while (!stop_) {
    items.assign(1, zmq::pollitem_t{socket_.handle(), 0, ZMQ_POLLIN, 0});
    for (Watch& w : watches_) items.push_back({w.pair.handle(), 0, ZMQ_POLLIN, 0});
    try {
      zmq::poll(items, std::chrono::milliseconds(100));
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) return;  // the context is closing
    }
    read_monitors();
    refresh_policies();
    for (int i = 0; i < 1024; ++i) {
      auto got = recv_message(socket_, &request, limits, /*dont_wait=*/true);
      // Every connection's accept (sent before its handshake began) is counted before the ZAP
      // request it led to is answered.
      if (got.ok() && *got) read_monitors();
      if (!got.ok() && got.status().code() == Code::kUnavailable) return;
      if (got.ok() && !*got) break;
      if (!got.ok()) {
        // An oversized request from libzmq cannot happen; REP still needs a reply.
        Frames deny;
        for (const char* f : {"1.0", "", "500", "malformed ZAP request", "", ""}) {
          deny.emplace_back(f, std::char_traits<char>::length(f));
        }
        (void)send_message(socket_, deny);
        continue;
      }
      answer(request);
    }
  }
}

void ZapHandler::read_monitors() {
  {
    std::lock_guard l(mu_);
    for (Watch& w : new_watches_) watches_.push_back(std::move(w));
    new_watches_.clear();
  }
  Frames event;
  const RecvLimits limits{2, 4096, false};
  for (auto it = watches_.begin(); it != watches_.end();) {
    auto d = it->domain.lock();
    if (!d) {  // the endpoint is gone, and its socket with it
      it->budget->open_ -= it->open;
      it->pair.close();
      it = watches_.erase(it);
      continue;
    }
    for (int i = 0; i < 4096; ++i) {
      auto got = recv_message(it->pair, &event, limits, /*dont_wait=*/true);
      if (!got.ok() || !*got) break;
      if (event.size() == 2 && event[0].size() == 6) {
        std::uint16_t type = 0;
        std::memcpy(&type, event[0].data(), sizeof type);
        count(*it, d, type);
      }
    }
    if (d->reset.exchange(false)) {
      it->budget->open_ -= it->open;
      it->open = 0;
    }
    ++it;
  }
}

void ZapHandler::count(Watch& w, const std::shared_ptr<Domain>& d, std::uint16_t event) {
  if (event == ZMQ_EVENT_ACCEPTED) {
    ++w.open;
    ++w.budget->open_;
  } else if (event == ZMQ_EVENT_DISCONNECTED && w.open > 0) {
    --w.open;
    --w.budget->open_;
  } else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL && d->policy) {
    ++d->refused;  // a plaintext peer at a CURVE endpoint (a mechanism mismatch), or worse
  }
}

void ZapHandler::answer(Frames& request) {
  std::string code = "400";
  std::string text = "no such key";
  std::string user;
  std::shared_ptr<Domain> domain;
  if (request.size() >= 6) {
    std::lock_guard l(mu_);
    auto it = domains_.find(std::string(view(request[2])));
    if (it != domains_.end()) domain = it->second.lock();
  }
  if (request.size() < 6 || view(request[0]) != "1.0") {
    code = "500";
    text = "malformed ZAP request";
  } else if (!domain) {
    text = "unknown ZAP domain";
  } else if (domain->budget && domain->budget->open() > domain->budget->limit()) {
    // Not RFC 27's 300 (temporary error): for that status libzmq sends the client nothing and
    // leaves the connection open until its handshake interval passes. 500 ends it at once,
    // and procreg's clients read it as the server's limit.
    code = "500";
    text = "too many connections";
    ++domain->budget->over_limit_;
  } else if (!domain->policy) {
    code = "200";  // plaintext: counted, not authenticated
    text = "OK";
  } else if (view(request[5]) != "CURVE" || request.size() != 7 || request[6].size() != 32) {
    text = "CURVE required";
    ++domain->refused;
  } else {
    std::array<char, 41> z85{};
    zmq_z85_encode(z85.data(), static_cast<const std::uint8_t*>(request[6].data()), 32);
    const std::string key(z85.data());
    if (domain->admits_grant(domain->policy->grant(key))) {
      code = "200";
      text = "OK";
      user = key;
      std::lock_guard l(domain->mu);
      domain->admitted.insert(key);
    } else {
      ++domain->refused;
      text = "key not admitted here";
    }
  }
  Frames reply;
  reply.emplace_back("1.0", 3);
  reply.emplace_back(request.size() >= 2 ? std::move(request[1]) : zmq::message_t());
  reply.emplace_back(code.data(), code.size());
  reply.emplace_back(text.data(), text.size());
  reply.emplace_back(user.data(), user.size());
  reply.emplace_back();
  (void)send_message(socket_, reply);
}

void ZapHandler::refresh_policies() {
  std::vector<std::shared_ptr<Domain>> live;
  {
    std::lock_guard l(mu_);
    for (auto& [name, weak] : domains_) {
      if (auto d = weak.lock()) live.push_back(std::move(d));
    }
  }
  for (auto& d : live) {
    if (!d->policy) continue;
    d->policy->refresh();
    const std::uint64_t g = d->policy->generation();
    std::lock_guard l(d->mu);
    if (g == d->generation) continue;
    d->generation = g;
    bool dropped = false;
    for (auto it = d->admitted.begin(); it != d->admitted.end();) {
      if (d->admits_grant(d->policy->grant(*it))) {
        ++it;
      } else {
        it = d->admitted.erase(it);
        dropped = true;
      }
    }
    if (dropped) ++d->keys_removed;
  }
}

namespace {

// A well-formed key pair, or kInvalidArgument naming `who`.
Status check_key_pair(const CurveKeys& keys, const std::string& who) {
  if (valid_curve_key(keys.public_key) && valid_curve_key(keys.secret_key)) return {};
  return Status::invalid_argument(who +
                                  ": the CURVE key pair is malformed (40 Z85 characters "
                                  "each)");
}

}  // namespace

Result<std::shared_ptr<EndpointSecurity>> EndpointSecurity::make(
    zmq::context_t& context, const CurveOptions& curve, std::uint8_t admits,
    const std::string& what, std::shared_ptr<ConnectionBudget> budget) {
  std::shared_ptr<EndpointSecurity> s(new EndpointSecurity());
  if (curve.enabled()) {
    if (Status bad = check_key_pair(curve.keys, what); !bad.ok()) return bad;
    if (!curve.policy) {
      return Status::invalid_argument(what +
                                      ": CURVE keys need an access policy (the keys "
                                      "admitted per role)");
    }
  } else if (!budget) {
    return s;
  }
  auto handler = ZapHandler::of(context);
  if (!handler.ok()) {
    if (curve.enabled()) return handler.status();
    return s;  // another ZAP handler serves this context: its connections go uncounted
  }
  s->enabled_ = curve.enabled();
  s->context_ = &context;
  s->domain_ = std::make_shared<Domain>();
  s->domain_->name = "procreg." + std::to_string(next_domain++) + "." + what;
  s->domain_->budget = std::move(budget);
  s->domain_->admits = admits;
  if (curve.enabled()) {
    s->keys_ = curve.keys;
    s->policy_ = curve.policy;
    s->domain_->policy = curve.policy;
    s->domain_->generation = curve.policy->generation();
  }
  (*handler)->add(s->domain_);
  s->handler_ = *handler;
  return s;
}

EndpointSecurity::~EndpointSecurity() {
  if (handler_) handler_->remove(domain_->name);
}

Status EndpointSecurity::apply(zmq::socket_t& socket) const {
  if (!domain_) return {};
  try {
    if (enabled_) {
      socket.set(zmq::sockopt::curve_server, true);
      socket.set(zmq::sockopt::curve_secretkey, keys_.secret_key);
    }
    socket.set(zmq::sockopt::zap_domain, domain_->name);
    // A peer that connects and never finishes its handshake holds a descriptor until this.
    socket.set(zmq::sockopt::handshake_ivl, 10'000);
  } catch (const zmq::error_t& e) {
    return Status::unsupported(std::string("cannot make a CURVE server: ") + e.what());
  }
  if (!domain_->budget) return {};
  const std::string monitor = "inproc://procreg-monitor-" + std::to_string(next_monitor++);
  if (zmq_socket_monitor(socket.handle(), monitor.c_str(), kMonitoredEvents) != 0) {
    return Status::unavailable("cannot monitor the " + domain_->name +
                               " socket: " + zmq_strerror(zmq_errno()));
  }
  try {
    zmq::socket_t pair(*context_, zmq::socket_type::pair);
    pair.set(zmq::sockopt::linger, 0);
    pair.set(zmq::sockopt::rcvhwm, 0);  // never full: libzmq would block its I/O thread
    pair.connect(monitor);
    handler_->watch(domain_, std::move(pair));
  } catch (const zmq::error_t& e) {
    return Status::unavailable(std::string("cannot read a socket monitor: ") + e.what());
  }
  return {};
}

void EndpointSecurity::connections_reset() const {
  if (domain_) domain_->reset = true;
}

Grant EndpointSecurity::grant(const zmq::message_t& frame) const {
  if (!enabled_) return Grant{0x1f, {}};  // every role
  // The User-Id the ZAP handler gave the sender's connection (its public key); null if none.
  const char* user = zmq_msg_gets(frame.handle(), "User-Id");
  return user == nullptr ? Grant{} : policy_->grant(user);
}

std::uint64_t EndpointSecurity::refused() const { return domain_ ? domain_->refused.load() : 0; }

std::uint64_t EndpointSecurity::keys_removed() const {
  return domain_ ? domain_->keys_removed.load() : 0;
}

Status check_client_curve(const CurveOptions& curve, bool bus, const std::string& who) {
  if (!curve.enabled()) {
    if (!curve.server_key.empty() || !curve.bus_server_key.empty()) {
      return Status::invalid_argument(who +
                                      ": a CURVE server key was given without a key pair "
                                      "of this process's own");
    }
    return {};
  }
  if (Status bad = check_key_pair(curve.keys, who); !bad.ok()) return bad;
  if (!valid_curve_key(curve.server_key)) {
    return Status::invalid_argument(who +
                                    ": CURVE needs the server's public key (server_key, "
                                    "40 Z85 characters)");
  }
  if (bus && !valid_curve_key(curve.bus_key())) {
    return Status::invalid_argument(who + ": the bus's public key (bus_server_key) is malformed");
  }
  return {};
}

Status secure_client(zmq::socket_t& socket, const CurveOptions& curve,
                     const std::string& server_key) {
  if (!curve.enabled()) return {};
  if (Status bad = check_key_pair(curve.keys, "CURVE client"); !bad.ok()) return bad;
  if (!valid_curve_key(server_key)) {
    return Status::invalid_argument("CURVE needs the server's public key (40 Z85 characters)");
  }
  try {
    socket.set(zmq::sockopt::curve_serverkey, server_key);
    socket.set(zmq::sockopt::curve_publickey, curve.keys.public_key);
    socket.set(zmq::sockopt::curve_secretkey, curve.keys.secret_key);
  } catch (const zmq::error_t& e) {
    return Status::unsupported(std::string("cannot make a CURVE client: ") + e.what());
  }
  return {};
}

}  // namespace procreg::plugin
