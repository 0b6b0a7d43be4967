// The API's writes as resolvers (registry/writer.h).
#include "registry/writer.h"

#include <algorithm>
#include <mutex>

#include "state/commands.h"

namespace procreg::replay {

Result<std::uint64_t> Writer::commit(const WriteOptions& o, const Resolver& resolve,
                                     Grouping grouping) {
  const Write write{&o, &resolve};
  Result<std::uint64_t> result = unset_result();
  commit_many(std::span<const Write>(&write, 1), std::span<Result<std::uint64_t>>(&result, 1),
              grouping);
  return result;
}

Result<std::uint64_t> Writer::insert(ChildSpec spec, NodePids node_pids, const InsertOptions& o) {
  return commit(o, [&](const CommandContext& ctx) {
    return resolve_insert(ctx, std::move(spec), std::move(node_pids), o);
  });
}

Result<std::uint64_t> Writer::bulk_insert(std::vector<Entry> children, const WriteOptions& o) {
  return commit(
      o, [&](const CommandContext& ctx) { return resolve_bulk_insert(ctx, std::move(children)); });
}

Result<std::uint64_t> Writer::erase(std::string_view child_id, const WriteOptions& o) {
  return commit(o, [&](const CommandContext& ctx) { return resolve_delete(ctx, child_id); });
}

Result<std::uint64_t> Writer::bulk_delete(
    std::vector<std::pair<ChildId, std::vector<NodeName>>> children, const WriteOptions& o) {
  return commit(o, [&](const CommandContext& ctx) { return resolve_bulk_delete(ctx, children); });
}

Result<std::uint64_t> Writer::update(std::string_view child_id, const UpdateFn& fn,
                                     const WriteOptions& o) {
  return commit(
      o, [&](const CommandContext& ctx) { return resolve_update(ctx, child_id, fn); },
      Grouping::kAlone);  // fn is user code: it holds no other call up
}

Result<std::uint64_t> Writer::clear_all(const WriteOptions& o) {
  return commit(o, [&](const CommandContext& ctx) { return resolve_clear(ctx); });
}

Result<std::uint64_t> Writer::node_down(std::string_view node, const WriteOptions& o) {
  return commit(
      o,
      [&](const CommandContext& ctx) {
        // Quiesced: the overlay is empty, so the projection is the writer's whole state.
        std::vector<std::pair<ChildId, std::vector<NodeName>>> affected;
        {
          std::shared_lock lock(proj_mu_);
          if (const Table* t = proj_.table(ctx.table)) {
            t->for_each([&](const StoredRow& row) {
              if (!row.bound()) return;
              if (row.pid_on(node)) affected.emplace_back(row.id(), std::vector{NodeName(node)});
            });
          }
        }
        std::sort(affected.begin(), affected.end());  // a stable order for hooks and replays
        if (affected.empty()) return Resolved(std::optional<EventBody>());
        return resolve_bulk_delete(ctx, affected);
      },
      Grouping::kQuiesce);
}

namespace {
Resolver resolver_of(Writer::Op* o) {
  using Kind = decltype(o->kind);
  switch (o->kind) {
    case Kind::kInsert:
      return [o](const CommandContext& ctx) {
        return resolve_insert(ctx, std::move(o->spec), std::move(o->node_pids), o->options);
      };
    case Kind::kBulkInsert:
      return [o](const CommandContext& ctx) {
        return resolve_bulk_insert(ctx, std::move(o->children));
      };
    case Kind::kErase:
      return [o](const CommandContext& ctx) { return resolve_delete(ctx, o->child_id); };
    case Kind::kBulkDelete:
      return [o](const CommandContext& ctx) { return resolve_bulk_delete(ctx, o->nodes); };
    case Kind::kUpdate:
      return [o](const CommandContext& ctx) { return resolve_update(ctx, o->child_id, o->fn); };
    case Kind::kClearAll:
      break;
  }
  return [](const CommandContext& ctx) { return resolve_clear(ctx); };
}
}  // namespace

std::vector<Result<std::uint64_t>> Writer::write(std::vector<Op>& ops) {
  std::vector<Result<std::uint64_t>> out;
  if (ops.empty()) return out;
  std::vector<Resolver> resolvers;
  std::vector<Write> writes;
  out.reserve(ops.size());
  resolvers.reserve(ops.size());
  writes.reserve(ops.size());
  for (Op& op : ops) {
    resolvers.push_back(resolver_of(&op));
    writes.push_back(Write{&op.options, &resolvers.back()});
    out.emplace_back(unset_result());
  }
  // A batch with an update function (user code) holds no other call up: it goes alone.
  const bool has_user_code = std::any_of(
      ops.begin(), ops.end(), [](const Op& op) { return op.kind == decltype(op.kind)::kUpdate; });
  commit_many(writes, out, has_user_code ? Grouping::kAlone : Grouping::kAny);
  return out;
}

void ReadOnlyWriter::commit_many(std::span<const Write>, std::span<Result<std::uint64_t>> out,
                                 Grouping) {
  for (auto& r : out) r = Status::unavailable("registry is a read-only replay");
}

}  // namespace procreg::replay
