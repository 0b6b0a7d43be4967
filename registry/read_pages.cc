// RegistryAccess::read_page (registry/registry_access.h): a page of a read, from state/pages.
#include <mutex>
#include <shared_mutex>

#include "registry/registry_access.h"
#include "registry/registry_impl.h"

namespace procreg::replay {

namespace {

// The first table in name order after `name` that exists, or "".
std::string table_after(const Projection& proj, const std::string& name) {
  std::string next;
  proj.for_each_table([&](const std::string& t, const Table&) {
    if (next.empty() && t > name) next = t;
  });
  return next;
}

}  // namespace

Result<RowsPage> RegistryAccess::read_page(const Registry& r, const PageQuery& q) {
  const Registry::Impl& impl = *r.impl_;
  const std::string& local = impl.opts.local_node;
  std::function<bool(const StoredRow&)> keep;
  if (q.bound_only) keep = [](const StoredRow& row) { return row.bound(); };
  if (q.local_pid) {
    keep = [&local](const StoredRow& row) {
      std::optional<Pid> pid = row.pid_on(local);
      return pid.has_value() && !pid->empty();
    };
  }
  RowsPage out;
  std::shared_lock lock(impl.proj_mu);
  out.seq = impl.applier->applied_seq();
  out.epoch = impl.log ? impl.log->epoch() : impl.proj.epoch();
  out.table = impl.table_name(q.table);
  const Table* table = impl.proj.table(out.table);
  if (q.all_tables && q.table.empty()) {  // the first page: the first table in name order
    out.table = table_after(impl.proj, "");
    table = out.table.empty() ? nullptr : impl.proj.table(out.table);
  }
  const PagePosition* from = q.from ? &*q.from : nullptr;
  Result<TablePage> page = table_page(table, q.source, q.tag, from, q.limits, keep);
  if (!page.ok()) return page.status();
  out.rows.reserve(page->rows.size());
  for (const StoredRow* row : page->rows) out.rows.emplace_back(row->id(), row->entry());
  if (page->more) {
    out.more = true;
    out.next_table = out.table;
    out.next = std::move(page->next);
  } else if (q.all_tables) {
    out.next_table = table_after(impl.proj, out.table);
    out.more = !out.next_table.empty();
  }
  return out;
}

std::optional<RegistryAccess::RowAt> RegistryAccess::lookup_revision(const Registry& r,
                                                                     const std::string& table,
                                                                     std::string_view child_id) {
  const Registry::Impl& impl = *r.impl_;
  std::shared_lock lock(impl.proj_mu);
  const Table* t = impl.proj.table(impl.table_name(table));
  const StoredRow* row = t == nullptr ? nullptr : t->find(child_id);
  if (row == nullptr || !row->bound()) return std::nullopt;
  return RowAt{Lookup{row->spec(), row->node_pids(), row->metadata()}, row->seq};
}

}  // namespace procreg::replay
