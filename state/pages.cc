#include "state/pages.h"

#include <algorithm>
#include <utility>

namespace procreg::replay {

namespace {

struct Candidate {
  std::uint64_t key;
  const StoredRow* row;
};

bool before(const Candidate& a, const Candidate& b) {
  if (a.key != b.key) return a.key < b.key;
  return a.row->id() < b.row->id();
}

bool at_or_after(std::uint64_t key, std::string_view id, const PagePosition& from) {
  return key > from.key || (key == from.key && id >= from.id);
}

// Takes the first rows of `found` (sorted) within the limits into `page`; the first row left
// out is where the next page starts.
void take(std::vector<Candidate>& found, const PageLimits& limits, std::uint64_t token,
          TablePage* page) {
  std::size_t bytes = 0;
  std::size_t n = 0;
  while (n < found.size() && n < limits.rows && (n == 0 || bytes < limits.bytes)) {
    bytes += found[n].row->id().size() + found[n].row->body_capacity();
    ++n;
  }
  page->rows.reserve(n);
  for (std::size_t i = 0; i < n; ++i) page->rows.push_back(found[i].row);
  if (n < found.size()) {
    page->more = true;
    page->next = PagePosition{token, found[n].key, std::string(found[n].row->id())};
  }
}

}  // namespace

Result<TablePage> table_page(const Table* table, PageSource source, std::string_view tag,
                             const PagePosition* from, const PageLimits& limits,
                             const std::function<bool(const StoredRow&)>& keep) {
  TablePage page;
  if (table == nullptr) {
    if (from != nullptr && from->token != 0) {
      return Status::invalid_argument("the cursor's table is gone; start the read again");
    }
    return page;
  }
  const RowSet& set = table->rows();
  const std::uint64_t token = set.page_token();
  if (from != nullptr && from->token != token) {
    return Status::invalid_argument(
        "the cursor is not valid here: it was issued by another node, or before this node "
        "rebuilt its state; start the read again");
  }
  const PagePosition start = from != nullptr ? *from : PagePosition{token, 0, {}};
  const std::size_t want = std::max<std::size_t>(1, limits.rows);
  std::vector<Candidate> found;
  auto consider = [&](const StoredRow& row, std::uint64_t key) {
    if (at_or_after(key, row.id(), start) && (!keep || keep(row))) found.push_back({key, &row});
  };
  if (source == PageSource::kAll) {
    std::uint64_t resume = 0;
    const bool done = set.scan_from(start.key, std::max(limits.scan_rows, want), consider, &resume);
    std::sort(found.begin(), found.end(), before);
    take(found, PageLimits{want, limits.bytes, limits.scan_rows}, token, &page);
    if (!page.more && !done) {
      page.more = true;
      page.next = PagePosition{token, resume, {}};
    }
    return page;
  }
  const auto& index = source == PageSource::kLocal ? table->local_rows() : table->tagged(tag);
  for (const StoredRow* row : index) consider(*row, set.page_key(row->id()));
  // Only the first `want + 1` rows in order matter: the page and where the next one starts.
  if (found.size() > want + 1) {
    std::nth_element(found.begin(), found.begin() + static_cast<std::ptrdiff_t>(want), found.end(),
                     before);
    found.resize(want + 1);
  }
  std::sort(found.begin(), found.end(), before);
  take(found, PageLimits{want, limits.bytes, limits.scan_rows}, token, &page);
  return page;
}

}  // namespace procreg::replay
