// The janitor's thread (registry/janitor.h) and TTL expiry (Registry::scan_expired, expire and
// run_janitor; docs/SEMANTICS.md, "TTL rows").
#include "registry/janitor.h"

#include <map>
#include <mutex>

#include "procreg/registry.h"
#include "registry/registry_impl.h"

namespace procreg {
namespace replay {

void Janitor::start(std::chrono::milliseconds interval, std::function<void()> pass) {
  if (interval.count() <= 0) return;
  thread_ = std::thread([this, interval, pass = std::move(pass)] {
    std::unique_lock lock(mu_);
    while (!cv_.wait_for(lock, interval, [&] { return stop_; })) {
      lock.unlock();
      try {
        pass();
      } catch (const std::exception&) {  // out of memory: try again next period
      }
      lock.lock();
    }
  });
}

void Janitor::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace replay

std::vector<Registry::ExpiryCandidate> Registry::scan_expired() const {
  const std::int64_t now = impl_->clock();
  std::vector<ExpiryCandidate> out;
  std::shared_lock lock(impl_->proj_mu);
  for (const auto& name : impl_->proj.table_names()) {
    for (const replay::StoredRow* row : impl_->proj.table(name)->ttl_rows()) {
      if (*row->expires_at_ms() <= now)
        out.push_back(ExpiryCandidate{name, ChildId(row->id()), row->seq});
    }
  }
  return out;
}

Result<std::size_t> Registry::expire(const std::vector<ExpiryCandidate>& candidates) {
  std::map<std::string, std::vector<const ExpiryCandidate*>> by_table;
  for (const auto& c : candidates) by_table[c.table].push_back(&c);
  std::size_t expired = 0;
  for (const auto& table_list : by_table) {
    // Named, not a structured binding: the lambda below captures it (clang 14 cannot
    // capture structured bindings).
    const std::vector<const ExpiryCandidate*>& list = table_list.second;
    WriteOptions o;
    o.table = table_list.first;
    o.timeout = std::chrono::hours(24);  // the janitor waits for its turn
    std::size_t n = 0;
    auto seq = impl_->writer->commit(o, [&](const replay::CommandContext& ctx) -> replay::Resolved {
      events::Expire body;
      for (const ExpiryCandidate* c : list) {
        const replay::StoredRow* row = ctx.view.find(ctx.table, c->child_id);
        // Only the row that expired: one written again since the scan stays
        // (docs/SEMANTICS.md, "TTL and expiry").
        if (row != nullptr && row->seq == c->row_seq && row->has_ttl()) {
          body.items.push_back(events::ExpireItem{c->child_id, c->row_seq});
        }
      }
      n = body.items.size();
      if (n == 0) return std::optional<EventBody>();
      return std::optional<EventBody>(std::move(body));
    });
    if (!seq.ok()) return seq.status();
    expired += n;
  }
  impl_->counters.rows_expired.fetch_add(expired);
  return expired;
}

Result<std::size_t> Registry::run_janitor() { return expire(scan_expired()); }

}  // namespace procreg
