// Automatic failover through etcd's election API (include/procreg/election.h).
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "plugin/election/etcd_client.h"
#include "procreg/election.h"

namespace procreg {

namespace {

using SteadyClock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// The part of the TTL this member does not count on: etcd counts the TTL from when it received
// the keep-alive, later than it was sent; the margin covers the clocks' rates and the time a
// paused process needs to notice.
milliseconds margin_of(std::int64_t ttl_s) {
  return std::max(milliseconds(50), milliseconds(ttl_s * 1000 / 10));
}

struct Member {
  std::string name;
  MemberProgress progress;
};

// (term, seq), then the smaller name: the member that should lead.
bool ahead_of(const Member& a, const Member& b) {
  if (a.progress.term != b.progress.term) return a.progress.term > b.progress.term;
  if (a.progress.seq != b.progress.seq) return a.progress.seq > b.progress.seq;
  return a.name < b.name;
}

}  // namespace

struct Elector::Impl {
  ElectionOptions options;
  etcd::Client client;
  std::string election;  // PREFIX/leader
  std::string members;   // PREFIX/members/
  std::int64_t lease_id = 0;

  mutable std::mutex mu;
  std::condition_variable cv;  // wakes both threads on stop
  bool stopping = false;
  std::atomic<bool> cancel{false};  // aborts a campaign in flight
  MemberProgress progress;
  bool progress_published = false;
  bool candidate = false;
  std::optional<ElectionLeader> leader;
  std::optional<Won> won;
  std::string lost_reason;
  SteadyClock::time_point valid_until;  // the member lease, as far as this member counts on it
  ElectorStats stats;
  std::thread keeper;
  std::thread watcher;

  Impl(ElectionOptions o, const etcd::Url& url)
      : options(std::move(o)),
        client(url.host, url.port),
        election(url.prefix + "/leader"),
        members(url.prefix + "/members/") {}

  bool wait_for(milliseconds d) {  // false once stopping
    std::unique_lock l(mu);
    return !cv.wait_for(l, d, [&] { return stopping; });
  }
  void lose(const std::string& why) {
    std::shared_ptr<WriteLease> lease;
    {
      std::lock_guard l(mu);
      if (!lost_reason.empty()) return;
      lost_reason = why;
      if (won) lease = won->lease;
    }
    if (lease) lease->lose();
    cancel = true;
    cv.notify_all();
  }
  bool is_lost() const {
    std::lock_guard l(mu);
    return !lost_reason.empty();
  }

  void run_keeper();
  void run_watcher();
  // Puts the member key when the progress changed, or while nobody leads (`force`: always).
  // False if etcd did not take it.
  bool publish_progress(bool force = false);
  std::optional<std::vector<Member>> read_members();
  bool most_complete(const std::vector<Member>& all) const;
  void campaign();
  void check_leadership(const std::optional<ElectionLeader>& seen);
};

void Elector::Impl::run_keeper() {
  const auto period = [&] {
    std::lock_guard l(mu);
    return milliseconds(stats.lease_ttl_s * 1000 / 3);
  };
  while (wait_for(period())) {
    const auto sent = SteadyClock::now();
    auto ttl = client.keepalive(lease_id, options.request_timeout);
    if (ttl.ok() && *ttl == 0) {
      lose("the etcd lease expired (keep-alives came too late)");
      return;
    }
    if (!ttl.ok()) {
      bool hopeless = false;
      {
        std::lock_guard l(mu);
        ++stats.keepalive_failures;
        // Unconfirmed: the lease may be alive (etcd slow) or gone. Past two TTLs beyond the
        // deadline, stop hoping.
        hopeless = SteadyClock::now() > valid_until + std::chrono::seconds(2 * stats.lease_ttl_s);
      }
      if (!hopeless) continue;
      lose("etcd did not confirm the lease: " + ttl.status().to_string());
      return;
    }
    std::shared_ptr<WriteLease> lease;
    {
      std::lock_guard l(mu);
      ++stats.keepalives;
      stats.lease_ttl_s = *ttl;
      valid_until = sent + std::chrono::seconds(*ttl) - margin_of(*ttl);
      if (won) lease = won->lease;
    }
    if (lease) lease->extend_until(valid_until);
  }
}

bool Elector::Impl::publish_progress(bool force) {
  MemberProgress p;
  {
    std::lock_guard l(mu);
    if (!force && progress_published && leader) return true;  // unchanged, nobody comparing
    p = progress;
  }
  const nlohmann::json value = {
      {"name", options.name}, {"epoch", p.epoch}, {"term", p.term}, {"seq", p.seq}};
  if (!client.put(members + options.name, value.dump(), lease_id, options.request_timeout).ok()) {
    return false;
  }
  std::lock_guard l(mu);
  progress_published = progress == p;
  return true;
}

std::optional<std::vector<Member>> Elector::Impl::read_members() {
  auto kvs = client.range_prefix(members, options.request_timeout);
  if (!kvs.ok()) return std::nullopt;
  std::vector<Member> out;
  for (const auto& kv : *kvs) {
    try {
      const auto j = nlohmann::json::parse(kv.value);
      Member m;
      m.name = j.at("name").get<std::string>();
      m.progress.epoch = j.value("epoch", std::uint64_t{0});
      m.progress.term = j.value("term", std::uint64_t{0});
      m.progress.seq = j.value("seq", std::uint64_t{0});
      out.push_back(std::move(m));
    } catch (const std::exception&) {
      // Not a member's value (another tool's key under the prefix): not a member.
    }
  }
  return out;
}

bool Elector::Impl::most_complete(const std::vector<Member>& all) const {
  Member me;
  {
    std::lock_guard l(mu);
    me = {options.name, progress};
  }
  return std::none_of(all.begin(), all.end(),
                      [&](const Member& m) { return m.name != me.name && ahead_of(m, me); });
}

void Elector::Impl::campaign() {
  // The others compare with what etcd holds of this member: the progress as of now.
  if (!publish_progress(/*force=*/true)) return;
  auto all = read_members();
  if (!all || !most_complete(*all)) return;
  {
    std::lock_guard l(mu);
    ++stats.campaigns;
  }
  // Another candidate queued first makes this wait: bounded, then the key is withdrawn.
  auto key = client.campaign(election, lease_id, "", 3 * options.poll_interval, &cancel);
  if (!key.ok()) return;
  all = read_members();  // a member that caught up meanwhile, or published late
  if (!all || !most_complete(*all)) {
    (void)client.resign(*key, options.request_timeout);
    std::lock_guard l(mu);
    ++stats.campaigns_yielded;
    return;
  }
  std::lock_guard l(mu);
  auto lease = std::make_shared<WriteLease>();
  lease->extend_until(valid_until);
  won = Won{ElectionLeader{key->key, key->rev, key->lease, ""}, std::move(lease)};
  stats.term = static_cast<std::uint64_t>(key->rev);
}

// A member that won holds the leadership only while etcd shows its key as the leader's.
void Elector::Impl::check_leadership(const std::optional<ElectionLeader>& seen) {
  std::string held;
  {
    std::lock_guard l(mu);
    if (!won) return;
    held = won->key.key;
  }
  if (!seen || seen->key != held) {
    lose("etcd shows " + (seen ? "another leader (" + seen->key + ")" : std::string("no leader")) +
         " instead of this member's key " + held);
  }
}

void Elector::Impl::run_watcher() {
  do {
    publish_progress();
    auto got = client.leader(election, options.request_timeout);
    if (!got.ok()) {
      std::lock_guard l(mu);
      ++stats.request_failures;
      continue;
    }
    std::optional<ElectionLeader> seen;
    if (*got) {
      seen = ElectionLeader{(*got)->key.key, (*got)->key.rev, (*got)->key.lease, (*got)->value};
    }
    bool campaign_now = false;
    {
      std::lock_guard l(mu);
      leader = seen;
      if (!seen) progress_published = false;  // republished each round while leaderless
      campaign_now = !seen && candidate && !won;
    }
    check_leadership(seen);
    if (campaign_now) campaign();
  } while (!is_lost() && wait_for(options.poll_interval));
}

Result<std::unique_ptr<Elector>> Elector::start(const ElectionOptions& options) {
  auto url = etcd::parse_url(options.url);
  if (!url.ok()) return url.status();
  if (options.name.empty() || options.name.find('/') != std::string::npos) {
    return Status::invalid_argument("election: the member name must be non-empty, without '/'");
  }
  if (options.ttl_s < 1 || options.ttl_s > 3600) {
    return Status::invalid_argument("election: the TTL must be 1 to 3600 s");
  }
  if (options.poll_interval.count() < 10 ||
      options.request_timeout.count() * 3 > options.ttl_s * 1000) {
    return Status::invalid_argument(
        "election: poll_interval must be at least 10 ms and request_timeout at most a third "
        "of the TTL");
  }
  auto impl = std::make_unique<Impl>(options, *url);
  const auto sent = SteadyClock::now();
  auto grant = impl->client.grant(options.ttl_s, options.request_timeout);
  if (!grant.ok()) {
    return Status(grant.status().code(),
                  "election: etcd did not grant a lease: " + grant.status().message());
  }
  impl->lease_id = grant->id;
  impl->stats.lease_id = grant->id;
  impl->stats.lease_ttl_s = grant->ttl_s;
  impl->valid_until = sent + std::chrono::seconds(grant->ttl_s) - margin_of(grant->ttl_s);
  Impl* p = impl.get();
  impl->keeper = std::thread([p] { p->run_keeper(); });
  impl->watcher = std::thread([p] { p->run_watcher(); });
  return std::unique_ptr<Elector>(new Elector(std::move(impl)));
}

Elector::Elector(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Elector::~Elector() { stop(); }

void Elector::set_progress(const MemberProgress& progress) {
  std::lock_guard l(impl_->mu);
  if (impl_->progress == progress) return;
  impl_->progress = progress;
  impl_->progress_published = false;
}

void Elector::set_candidate(bool candidate) {
  std::lock_guard l(impl_->mu);
  impl_->candidate = candidate;
}

std::optional<ElectionLeader> Elector::leader() const {
  std::lock_guard l(impl_->mu);
  return impl_->leader;
}

std::optional<Elector::Won> Elector::won() const {
  std::lock_guard l(impl_->mu);
  return impl_->won;
}

Status Elector::proclaim(const std::string& value) {
  std::optional<Won> w = won();
  if (!w) return Status::unavailable("election: this member is not the leader");
  etcd::LeaderKey key{impl_->election, w->key.key, w->key.rev, w->key.lease};
  return impl_->client.proclaim(key, value, impl_->options.request_timeout);
}

bool Elector::lost() const { return impl_->is_lost(); }

std::string Elector::lost_reason() const {
  std::lock_guard l(impl_->mu);
  return impl_->lost_reason;
}

ElectorStats Elector::stats() const {
  std::lock_guard l(impl_->mu);
  return impl_->stats;
}

void Elector::stop() {
  {
    std::lock_guard l(impl_->mu);
    if (impl_->stopping) return;
    impl_->stopping = true;
  }
  impl_->cancel = true;
  impl_->cv.notify_all();
  if (impl_->watcher.joinable()) impl_->watcher.join();
  if (impl_->keeper.joinable()) impl_->keeper.join();
  std::optional<Won> w = won();
  if (w) {
    w->lease->lose();  // before etcd lets another lead
    etcd::LeaderKey key{impl_->election, w->key.key, w->key.rev, w->key.lease};
    (void)impl_->client.resign(key, impl_->options.request_timeout);
  }
  (void)impl_->client.revoke(impl_->lease_id, impl_->options.request_timeout);
}

}  // namespace procreg
