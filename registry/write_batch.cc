// WriteBatch (include/procreg/registry.h): the writes of one Registry::write call.
#include "procreg/registry.h"

namespace procreg {

WriteBatch::Op& WriteBatch::add(Kind kind, WriteOptions options) {
  Op& op = ops_.emplace_back();
  op.kind = kind;
  static_cast<WriteOptions&>(op.options) = std::move(options);
  return op;
}

WriteBatch& WriteBatch::insert(ChildSpec spec, NodePids node_pids, InsertOptions options) {
  Op& op = add(Kind::kInsert, {});
  op.options = std::move(options);
  op.spec = std::move(spec);
  op.node_pids = std::move(node_pids);
  return *this;
}

WriteBatch& WriteBatch::bulk_insert(std::vector<Entry> children, WriteOptions options) {
  add(Kind::kBulkInsert, std::move(options)).children = std::move(children);
  return *this;
}

WriteBatch& WriteBatch::erase(std::string_view child_id, WriteOptions options) {
  add(Kind::kErase, std::move(options)).child_id = ChildId(child_id);
  return *this;
}

WriteBatch& WriteBatch::bulk_delete(std::vector<std::pair<ChildId, std::vector<NodeName>>> children,
                                    WriteOptions options) {
  add(Kind::kBulkDelete, std::move(options)).nodes = std::move(children);
  return *this;
}

WriteBatch& WriteBatch::update(std::string_view child_id, UpdateFn fn, WriteOptions options) {
  options.hooks = false;  // update never fires hooks (docs/SEMANTICS.md, "update")
  Op& op = add(Kind::kUpdate, std::move(options));
  op.child_id = ChildId(child_id);
  op.fn = std::move(fn);
  return *this;
}

WriteBatch& WriteBatch::clear_all(WriteOptions options) {
  options.hooks = false;  // clear_all fires no hooks (docs/SEMANTICS.md, "clear_all")
  add(Kind::kClearAll, std::move(options));
  return *this;
}

}  // namespace procreg
