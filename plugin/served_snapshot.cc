#include "plugin/served_snapshot.h"

#include <sys/mman.h>
#include <sys/stat.h>

#include "plugin/wire.h"

namespace procreg::plugin {

std::shared_ptr<const MappedFile> MappedFile::map(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0 || st.st_size <= 0) return nullptr;
  const auto size = static_cast<std::size_t>(st.st_size);
  // The owner first, so that nothing below can leak the mapping.
  std::unique_ptr<MappedFile> owner(new MappedFile());
  // MAP_POPULATE: the pages are in the page cache (the file was just read): map them all
  // in one call instead of one fault per page while serving.
  void* p = ::mmap(nullptr, size, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0);
  if (p == MAP_FAILED) return nullptr;
  owner->data_ = static_cast<const char*>(p);
  owner->size_ = size;
  return std::shared_ptr<const MappedFile>(std::move(owner));
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(const_cast<char*>(data_), size_);
}

std::size_t ServedSnapshot::take(std::size_t first, std::size_t max_rows, std::size_t max_bytes,
                                 std::string* scratch,
                                 std::vector<std::string_view>* payload) const {
  std::size_t bytes = 0;
  std::size_t i = first;
  if (file) {
    for (; i < rows() && payload->size() < max_rows && (payload->empty() || bytes < max_bytes);
         ++i) {
      const std::string_view row(file->data() + offsets[i],
                                 offsets[i + 1] - replay::kSnapshotRecordHeaderBytes - offsets[i]);
      bytes += row.size();
      payload->push_back(row);
    }
    return i;
  }
  scratch->clear();
  std::vector<std::size_t> ends;
  for (; i < rows() && ends.size() < max_rows && (ends.empty() || scratch->size() < max_bytes);
       ++i) {
    const Captured& c = captured[i];
    wire::encode_snapshot_row(tables[c.table], c.row.encoded(), c.row.expires_at_ms(), c.row.seq,
                              scratch);
    ends.push_back(scratch->size());
  }
  std::size_t at = 0;
  for (std::size_t end : ends) {
    payload->emplace_back(scratch->data() + at, end - at);
    at = end;
  }
  return i;
}

std::optional<ServedSnapshot> ServedSnapshot::from_file(replay::SnapshotReader& reader,
                                                        std::uint64_t file_seq) {
  ServedSnapshot snap;
  snap.file_seq = file_seq;
  snap.seq = reader.meta().seq;
  snap.epoch = reader.meta().epoch;
  snap.offsets.clear();
  snap.offsets.reserve(reader.meta().rows + 1);
  std::string row;
  for (;;) {
    auto more = reader.next(&row);
    if (!more.ok()) return std::nullopt;
    snap.offsets.push_back(static_cast<std::size_t>(reader.payload_offset()));
    if (!*more) break;
  }
  snap.file = MappedFile::map(reader.fd());
  // The end record's payload (8 bytes) is the file's last byte: anything else is not the file
  // just checked.
  if (snap.file == nullptr || snap.offsets.back() + 8 != snap.file->size()) return std::nullopt;
  return snap;
}

ServedSnapshot ServedSnapshot::capture(const replay::Projection& p) {
  ServedSnapshot snap;
  snap.seq = p.last_seq();
  std::size_t rows = 0;
  p.for_each_table([&](const std::string&, const replay::Table& t) { rows += t.size(); });
  snap.captured.reserve(rows);
  p.for_each_table([&](const std::string& table, const replay::Table& t) {
    const auto index = static_cast<std::uint32_t>(snap.tables.size());
    snap.tables.push_back(table);
    t.for_each([&](const replay::StoredRow& row) { snap.captured.push_back({index, row}); });
  });
  return snap;
}

}  // namespace procreg::plugin
