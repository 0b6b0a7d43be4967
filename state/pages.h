// procreg::replay: a table's rows a page at a time, for reads too large for one answer
// (docs/PROTOCOL.md, "Reads").
//
// Pages follow the table's page order (state/row_set.h): by a key mixed from the child id's
// hash and the table's seed, then by id. A position names the first row of the next page, so a
// read that pages through a table while it changes returns each row at most once and every row
// that existed throughout; rows added meanwhile may or may not be returned. The order is the
// table's own: a position is valid only for the table (the same RowSet) that gave it, which
// its token checks (a projection rebuilt from a snapshot has new tables, so old positions fail).
//
// Thread safety: callers hold the projection's read lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "procreg/status.h"
#include "state/table.h"

namespace procreg::replay {

// Where a page starts: the first row at or after (key, id) in page order of the table whose
// page token is `token`.
struct PagePosition {
  std::uint64_t token = 0;
  std::uint64_t key = 0;
  std::string id;
  bool operator==(const PagePosition&) const = default;
};

// Which rows a page reads.
enum class PageSource {
  kAll,     // every row (scans the table)
  kLocal,   // the local node's rows (its index)
  kTagged,  // the permanent rows tagged `tag` (its index)
};

struct PageLimits {
  std::size_t rows = 1000;           // at most this many rows
  std::size_t bytes = 1u << 20;      // stop once the rows' stored bytes reach this (>= 1 row)
  std::size_t scan_rows = 1u << 16;  // rows examined per page by a table scan (kAll)
};

struct TablePage {
  std::vector<const StoredRow*> rows;  // in page order
  bool more = false;                   // another page follows, from `next`
  PagePosition next;
};

// The page of `table` (nullptr: an empty table) from `from` (nullptr: the first page), of the
// rows of `source` that `keep` accepts (null: all). A page may hold fewer rows than the limit,
// even none, and still have more. kInvalidArgument if `from` is of another table.
Result<TablePage> table_page(const Table* table, PageSource source, std::string_view tag,
                             const PagePosition* from, const PageLimits& limits,
                             const std::function<bool(const StoredRow&)>& keep);

}  // namespace procreg::replay
