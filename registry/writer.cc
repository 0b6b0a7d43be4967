// The API's writes as resolvers (registry/writer.h).
#include "registry/writer.h"

#include <algorithm>
#include <mutex>

#include "state/commands.h"

namespace procreg::replay {

Result<std::uint64_t> Writer::commit(const WriteOptions& o, Resolver resolve, Grouping grouping) {
  const Write write{&o, resolve};
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
// A batch's op, resolved (the Resolver's object is the op).
Resolved resolve_op(void* object, const CommandContext& ctx) {
  auto* o = static_cast<Writer::Op*>(object);
  using Kind = decltype(o->kind);
  switch (o->kind) {
    case Kind::kInsert:
      return resolve_insert(ctx, std::move(o->spec), std::move(o->node_pids), o->options);
    case Kind::kBulkInsert:
      return resolve_bulk_insert(ctx, std::move(o->children));
    case Kind::kErase:
      return resolve_delete(ctx, o->child_id);
    case Kind::kBulkDelete:
      return resolve_bulk_delete(ctx, o->nodes);
    case Kind::kUpdate:
      return resolve_update(ctx, o->child_id, o->fn);
    case Kind::kClearAll:
      break;
  }
  return resolve_clear(ctx);
}

Resolved refused_user_code(void*, const CommandContext&) {
  return Status::invalid_argument(
      "an update function in a submitted batch (it would run on the writer thread): use "
      "Registry::write or Registry::update; nothing written");
}
}  // namespace

void Writer::prepare(std::vector<Op>& ops, Prepared& p, bool refuse_user_code) {
  p.writes.reserve(ops.size());
  p.out.reserve(ops.size());
  for (Op& op : ops) {
    const bool user_code = op.kind == decltype(op.kind)::kUpdate;
    if (user_code && refuse_user_code) {
      p.writes.push_back(Write{&op.options, Resolver(&refused_user_code, nullptr)});
    } else {
      p.writes.push_back(Write{&op.options, Resolver(&resolve_op, &op)});
      p.has_user_code = p.has_user_code || user_code;
    }
    p.out.emplace_back(unset_result());
  }
}

std::vector<Result<std::uint64_t>> Writer::write(std::vector<Op>& ops) {
  if (ops.empty()) return {};
  Prepared p;
  prepare(ops, p, /*refuse_user_code=*/false);
  // A batch with an update function (user code) holds no other call up: it goes alone.
  commit_many(p.writes, p.out, p.has_user_code ? Grouping::kAlone : Grouping::kAny);
  return std::move(p.out);
}

// NOLINTNEXTLINE(performance-unnecessary-value-param): the overrides keep `done` for later
void Writer::submit(std::vector<Op> ops, WriteDone done) { done(write(ops)); }

void ReadOnlyWriter::commit_many(std::span<const Write>, std::span<Result<std::uint64_t>> out,
                                 Grouping) {
  for (auto& r : out) r = Status::unavailable("registry is a read-only replay");
}

}  // namespace procreg::replay
