#include "plugin/zap_handler.h"

#include <array>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "plugin/zmq_util.h"

namespace procreg::plugin {

struct EndpointSecurity::Domain {
  std::string name;
  std::shared_ptr<AccessPolicy> policy;
  std::uint8_t admits = 0;
  std::atomic<std::uint64_t> refused{0};
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

 private:
  ZapHandler() = default;
  void run();
  void answer(Frames& request);
  void refresh_policies();

  zmq::socket_t socket_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::map<std::string, std::weak_ptr<Domain>> domains_;
};

std::mutex handlers_mu;
std::map<void*, std::weak_ptr<ZapHandler>> handlers;  // by context

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
  while (!stop_) {
    auto ready = wait_readable(socket_, std::chrono::milliseconds(100));
    if (!ready.ok()) return;  // the context is closing
    refresh_policies();
    if (!*ready) continue;
    auto got = recv_message(socket_, &request, limits, /*dont_wait=*/true);
    if (!got.ok() && got.status().code() == Code::kUnavailable) return;
    if (!got.ok() || !*got) {
      // An oversized request from libzmq cannot happen; answer nothing (REP needs a reply).
      Frames deny;
      for (const char* f : {"1.0", "", "500", "malformed ZAP request", "", ""}) {
        deny.emplace_back(f, std::char_traits<char>::length(f));
      }
      if (!got.ok()) (void)send_message(socket_, deny);
      continue;
    }
    answer(request);
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

// A well-formed key pair, or kInvalidArgument naming `who`.
Status check_key_pair(const CurveKeys& keys, const std::string& who) {
  if (valid_curve_key(keys.public_key) && valid_curve_key(keys.secret_key)) return {};
  return Status::invalid_argument(who +
                                  ": the CURVE key pair is malformed (40 Z85 characters "
                                  "each)");
}

}  // namespace

Result<std::shared_ptr<EndpointSecurity>> EndpointSecurity::make(zmq::context_t& context,
                                                                 const CurveOptions& curve,
                                                                 std::uint8_t admits,
                                                                 const std::string& what) {
  std::shared_ptr<EndpointSecurity> s(new EndpointSecurity());
  if (!curve.enabled()) return s;
  if (Status bad = check_key_pair(curve.keys, what); !bad.ok()) return bad;
  if (!curve.policy) {
    return Status::invalid_argument(what +
                                    ": CURVE keys need an access policy (the keys "
                                    "admitted per role)");
  }
  auto handler = ZapHandler::of(context);
  if (!handler.ok()) return handler.status();
  s->enabled_ = true;
  s->keys_ = curve.keys;
  s->policy_ = curve.policy;
  s->domain_ = std::make_shared<Domain>();
  s->domain_->name = "procreg." + std::to_string(next_domain++) + "." + what;
  s->domain_->policy = curve.policy;
  s->domain_->admits = admits;
  s->domain_->generation = curve.policy->generation();
  (*handler)->add(s->domain_);
  s->handler_ = *handler;
  return s;
}

EndpointSecurity::~EndpointSecurity() {
  if (handler_) static_cast<ZapHandler*>(handler_.get())->remove(domain_->name);
}

Status EndpointSecurity::apply(zmq::socket_t& socket) const {
  if (!enabled_) return {};
  try {
    socket.set(zmq::sockopt::curve_server, true);
    socket.set(zmq::sockopt::curve_secretkey, keys_.secret_key);
    socket.set(zmq::sockopt::zap_domain, domain_->name);
  } catch (const zmq::error_t& e) {
    return Status::unsupported(std::string("cannot make a CURVE server: ") + e.what());
  }
  return {};
}

Grant EndpointSecurity::grant(const zmq::message_t& frame) const {
  if (!enabled_) return Grant{0x0f, {}};
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
