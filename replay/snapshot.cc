#include "replay/snapshot.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <filesystem>

#include "events/decoder.h"
#include "events/encoder.h"
#include "events/row_scan.h"
#include "events/snapshot_row.h"
#include "log/crc32c.h"
#include "log/file_util.h"
#include "log/log_format.h"

namespace procreg::replay {
namespace {

constexpr std::string_view kPrefix = "snapshot-";
constexpr std::string_view kSuffix = ".snap";
constexpr std::string_view kTempSuffix = ".tmp";
constexpr std::size_t kDigits = 20;
constexpr std::size_t kWriteBuffer = 1u << 20;
constexpr std::size_t kReadBuffer = 1u << 20;
// A row record may exceed the event that wrote the row by its table name and revision.
constexpr std::uint32_t kRowSlack = 64u << 10;
constexpr std::uint64_t kMaxRowBytes = std::uint64_t{kMaxRecordBytesCap} + kRowSlack;

// Meta keys.
constexpr std::string_view kHub = "hub";
constexpr std::string_view kEpoch = "ep";
constexpr std::string_view kSeq = "seq";
constexpr std::string_view kTime = "t";
constexpr std::string_view kCreated = "created";
constexpr std::string_view kRegistered = "reg";
constexpr std::string_view kUnregistered = "unreg";
constexpr std::string_view kTables = "tables";
constexpr std::string_view kRows = "rows";

std::string corruption_at(const std::string& path, std::uint64_t offset, const std::string& what) {
  return "snapshot " + path + " at byte " + std::to_string(offset) + ": " + what;
}

// Appends one record (type, payload) with its CRC to *out.
void append_record(std::uint8_t type, std::string_view payload, std::string* out) {
  char head[kSnapshotRecordHeaderBytes];
  put_u32(head + 4, static_cast<std::uint32_t>(payload.size()));
  head[8] = static_cast<char>(type);
  std::uint32_t crc = crc32c::value(head + 4, 5);
  crc = crc32c::extend(crc, payload.data(), payload.size());
  put_u32(head, crc32c::mask(crc));
  out->append(head, sizeof head);
  out->append(payload);
}

Status sync_directory(const std::string& dir) {
  auto fd = open_file(dir, O_RDONLY | O_DIRECTORY);
  if (!fd.ok()) return fd.status();
  return sync_all(fd->get(), dir);
}

}  // namespace

std::string snapshot_file_name(std::uint64_t seq) {
  char digits[kDigits + 1];
  std::snprintf(digits, sizeof digits, "%020" PRIu64, seq);
  return std::string(kPrefix) + digits + std::string(kSuffix);
}

std::optional<std::uint64_t> parse_snapshot_file_name(std::string_view name) {
  if (name.size() != kPrefix.size() + kDigits + kSuffix.size() || !name.starts_with(kPrefix) ||
      !name.ends_with(kSuffix)) {
    return std::nullopt;
  }
  std::uint64_t seq = 0;
  for (char c : name.substr(kPrefix.size(), kDigits)) {
    if (c < '0' || c > '9') return std::nullopt;
    const auto digit = static_cast<std::uint64_t>(c - '0');
    if (seq > (UINT64_MAX - digit) / 10) return std::nullopt;
    seq = seq * 10 + digit;
  }
  return seq;
}

bool is_snapshot_temp_name(std::string_view name) {
  return name.ends_with(kTempSuffix) &&
         parse_snapshot_file_name(name.substr(0, name.size() - kTempSuffix.size())).has_value();
}

Result<std::vector<SnapshotFile>> list_snapshots(const std::string& dir) {
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec == std::errc::no_such_file_or_directory) return std::vector<SnapshotFile>();
  std::vector<SnapshotFile> files;
  for (; !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (auto seq = parse_snapshot_file_name(name)) {
      std::error_code size_ec;
      const auto bytes = it->file_size(size_ec);
      files.push_back({std::move(name), *seq, size_ec ? 0 : static_cast<std::uint64_t>(bytes)});
    }
  }
  if (ec) return Status::io_error("cannot list log directory " + dir + ": " + ec.message());
  std::sort(files.begin(), files.end(),
            [](const SnapshotFile& a, const SnapshotFile& b) { return a.seq < b.seq; });
  return files;
}

Status remove_snapshot_temps(const std::string& dir) {
  auto removed = remove_files(dir, is_snapshot_temp_name);
  return removed.ok() ? Status() : removed.status();
}

bool snapshot_ahead_of_log(std::uint64_t snapshot_seq, std::uint64_t log_last_seq) {
  return snapshot_seq > log_last_seq;
}

std::string ahead_of_log_reason(std::uint64_t log_last_seq) {
  return "ahead of the log's last record " + std::to_string(log_last_seq);
}

Result<std::vector<std::string>> remove_snapshots_after(const std::string& dir,
                                                        std::uint64_t last_seq) {
  auto removed = remove_files(dir, [last_seq](std::string_view name) {
    const auto seq = parse_snapshot_file_name(name);
    return seq && snapshot_ahead_of_log(*seq, last_seq);
  });
  if (removed.ok()) std::sort(removed->begin(), removed->end());
  return removed;
}

// ---- meta -----------------------------------------------------------------------------------

std::string encode_meta(const SnapshotMeta& meta) {
  std::string out;
  events::Encoder enc(&out);
  enc.map(9);
  enc.str(kHub);
  enc.str(meta.hub);
  enc.str(kEpoch);
  enc.uint(meta.epoch);
  enc.str(kSeq);
  enc.uint(meta.seq);
  enc.str(kTime);
  enc.int64(meta.max_time_ms);
  enc.str(kCreated);
  enc.int64(meta.created_ms);
  enc.str(kRegistered);
  enc.uint(meta.registered_head);
  enc.str(kUnregistered);
  enc.uint(meta.unregistered_head);
  enc.str(kTables);
  enc.array(meta.tables.size());
  for (const SnapshotTable& t : meta.tables) {
    enc.array(3);
    enc.str(t.name);
    enc.uint(t.last_seq);
    enc.uint(t.rows);
  }
  enc.str(kRows);
  enc.uint(meta.rows);
  return out;
}

Result<SnapshotMeta> decode_meta(std::string_view bytes) {
  enum : std::size_t { kFhub, kFep, kFseq, kFt, kFcreated, kFreg, kFunreg, kFtables, kFrows };
  static constexpr events::Fields<9> kFields{
      {kHub, kEpoch, kSeq, kTime, kCreated, kRegistered, kUnregistered, kTables, kRows},
      events::bits(kFhub, kFep, kFseq, kFt, kFcreated, kFreg, kFunreg, kFtables, kFrows)};
  return events::decode_without_throwing<SnapshotMeta>([&]() -> Result<SnapshotMeta> {
    events::DecodeLimits limits;
    limits.max_bytes = kMaxSnapshotMetaBytes;
    limits.max_container = 1u << 20;
    events::Decoder d(bytes, limits, "snapshot_meta");
    Result<SnapshotMeta> result = SnapshotMeta();
    SnapshotMeta* m = &*result;
    auto read_tables = [&]() {
      std::uint32_t count = 0;
      if (!d.read_array_head(&count)) return false;
      for (std::uint32_t i = 0; i < count; ++i) {
        events::Decoder::Scope scope(&d, i);
        SnapshotTable t;
        if (!d.read_tuple_head(3) || !d.read_non_empty_string(&t.name) ||
            !d.read_uint(&t.last_seq) || !d.read_uint(&t.rows)) {
          return false;
        }
        m->tables.push_back(std::move(t));
      }
      return true;
    };
    const bool ok = d.check_size(bytes.size()) && d.read_fields(kFields, [&](std::size_t index) {
      switch (index) {
        case kFhub:
          return d.read_non_empty_string(&m->hub);
        case kFep:
          return d.read_uint(&m->epoch);
        case kFseq:
          return d.read_uint(&m->seq);
        case kFt:
          return d.read_int(&m->max_time_ms);
        case kFcreated:
          return d.read_int(&m->created_ms);
        case kFreg:
          return d.read_uint(&m->registered_head);
        case kFunreg:
          return d.read_uint(&m->unregistered_head);
        case kFtables:
          return read_tables();
        default:
          return d.read_uint(&m->rows);  // kFrows
      }
    }) && d.finish();
    if (!ok) result = std::move(d).error();
    return result;
  });
}

// ---- writing --------------------------------------------------------------------------------

Result<SnapshotFile> write_snapshot(const std::string& dir, const Projection& projection,
                                    std::int64_t created_ms) {
  if (projection.last_seq() == 0) {
    return Status::invalid_argument("a snapshot of seq 0 holds nothing; write an event first");
  }
  SnapshotMeta meta;
  meta.hub = projection.hub();
  meta.epoch = projection.epoch();
  meta.seq = projection.last_seq();
  meta.max_time_ms = projection.max_time_ms();
  meta.created_ms = created_ms;
  meta.registered_head = projection.hook_head(HookTopic::kChildRegistered);
  meta.unregistered_head = projection.hook_head(HookTopic::kChildUnregistered);
  projection.for_each_table([&](const std::string& name, const Table& t) {
    meta.tables.push_back({name, t.last_seq(), t.size()});
    meta.rows += t.size();
  });

  const std::string name = snapshot_file_name(meta.seq);
  const std::string path = dir + "/" + name;
  const std::string temp = path + std::string(kTempSuffix);
  auto fd = open_file(temp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (!fd.ok()) return fd.status();
  std::uint64_t bytes = 0;
  std::string buffer;
  buffer.reserve(kWriteBuffer + 4096);
  auto flush = [&]() -> Status {
    Status s = write_fully(fd->get(), buffer.data(), buffer.size(), temp);
    bytes += buffer.size();
    buffer.clear();
    return s;
  };
  const std::string encoded_meta = encode_meta(meta);
  buffer.append(kSnapshotMagic);
  char field[8];
  put_u16(field, kSnapshotVersion);
  buffer.append(field, 2);
  put_u32(field, static_cast<std::uint32_t>(encoded_meta.size()));
  buffer.append(field, 4);
  buffer.append(encoded_meta);
  put_u32(field, crc32c::mask(crc32c::value(buffer.data(), buffer.size())));
  buffer.append(field, 4);

  Status s;
  std::string row;
  projection.for_each_table([&](const std::string& table, const Table& t) {
    t.for_each([&](const StoredRow& r) {
      if (!s.ok()) return;
      row.clear();
      events::encode_snapshot_row(table, r.encoded(), r.expires_at_ms(), r.seq, &row);
      append_record(kSnapshotRecordRow, row, &buffer);
      if (buffer.size() >= kWriteBuffer) s = flush();
    });
  });
  if (s.ok()) {
    put_u64(field, meta.rows);
    append_record(kSnapshotRecordEnd, std::string_view(field, 8), &buffer);
    s = flush();
  }
  if (s.ok()) s = sync_all(fd->get(), temp);
  fd->reset();
  if (s.ok() && ::rename(temp.c_str(), path.c_str()) != 0) s = io_error("rename", temp, errno);
  if (s.ok()) s = sync_directory(dir);
  if (!s.ok()) {
    (void)::unlink(temp.c_str());
    return s;
  }
  return SnapshotFile{name, meta.seq, bytes};
}

// ---- reading --------------------------------------------------------------------------------

struct SnapshotReader::Impl {
  std::string path;
  UniqueFd fd;
  std::uint64_t file_size = 0;    // the file is never modified after its rename
  std::uint64_t file_offset = 0;  // of buffer[0]
  std::string buffer;
  std::size_t pos = 0;  // read position in buffer
  bool eof = false;
  SnapshotMeta meta;
  std::uint64_t rows_read = 0;
  std::size_t table = 0;  // index into meta.tables of the current row's table
  std::uint64_t rows_in_table = 0;
  std::uint64_t payload_offset = 0;  // of the record read last
  bool done = false;
  Status failed;

  std::uint64_t offset() const { return file_offset + pos; }

  // Makes n bytes available at buffer[pos]; false at end of file before that.
  Result<bool> fill(std::size_t n) {
    if (buffer.size() - pos >= n) return true;
    buffer.erase(0, pos);
    file_offset += pos;
    pos = 0;
    while (buffer.size() < n && !eof) {
      const std::size_t want = std::max(n - buffer.size(), kReadBuffer);
      const std::size_t old = buffer.size();
      buffer.resize(old + want);
      auto got = read_fully_at(fd.get(), buffer.data() + old, want, file_offset + old, path);
      if (!got.ok()) return got.status();
      buffer.resize(old + *got);
      if (*got < want) eof = true;
    }
    return buffer.size() >= n;
  }

  Status corrupt(std::uint64_t at, const std::string& what) {
    failed = Status::corruption(corruption_at(path, at, what));
    return failed;
  }

  Status read_header() {
    auto have = fill(kSnapshotHeaderBytes);
    if (!have.ok()) return have.status();
    if (!*have)
      return corrupt(0, "shorter than a header (" + std::to_string(buffer.size()) + " bytes)");
    const char* p = buffer.data();
    if (std::string_view(p, 4) != kSnapshotMagic) return corrupt(0, "bad magic");
    const std::uint16_t version = get_u16(p + 4);
    const std::uint32_t meta_len = get_u32(p + 6);
    if (meta_len == 0 || meta_len > kMaxSnapshotMetaBytes) {
      return corrupt(6, "meta length " + std::to_string(meta_len) + " out of range");
    }
    have = fill(kSnapshotHeaderBytes + meta_len + 4);
    if (!have.ok()) return have.status();
    if (!*have) return corrupt(0, "header cut short");
    p = buffer.data();
    const std::uint32_t stored = get_u32(p + kSnapshotHeaderBytes + meta_len);
    if (crc32c::unmask(stored) != crc32c::value(p, kSnapshotHeaderBytes + meta_len)) {
      return corrupt(0, "header CRC mismatch");
    }
    if (version != kSnapshotVersion) {
      failed =
          Status::unsupported("snapshot " + path + ": format version " + std::to_string(version) +
                              ", this build reads " + std::to_string(kSnapshotVersion));
      return failed;
    }
    auto decoded = decode_meta(std::string_view(p + kSnapshotHeaderBytes, meta_len));
    if (!decoded.ok()) return corrupt(kSnapshotHeaderBytes, decoded.status().message());
    meta = std::move(*decoded);
    std::uint64_t sum = 0;
    for (const SnapshotTable& t : meta.tables) sum += t.rows;
    if (sum != meta.rows) return corrupt(kSnapshotHeaderBytes, "table rows do not add up to rows");
    pos = kSnapshotHeaderBytes + meta_len + 4;
    return Status();
  }
};

SnapshotReader::SnapshotReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SnapshotReader::~SnapshotReader() = default;
const SnapshotMeta& SnapshotReader::meta() const { return impl_->meta; }

Result<std::unique_ptr<SnapshotReader>> SnapshotReader::open(const std::string& path) {
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  auto fd = open_file(path, O_RDONLY);
  if (!fd.ok()) {
    if (errno == ENOENT) return Status::not_found("no snapshot " + path);
    return fd.status();
  }
  struct stat st;
  if (::fstat(fd->get(), &st) != 0) return io_error("fstat", path, errno);
  impl->file_size = static_cast<std::uint64_t>(st.st_size);
  impl->fd = std::move(*fd);
  Status s = impl->read_header();
  if (!s.ok()) return s;
  return std::unique_ptr<SnapshotReader>(new SnapshotReader(std::move(impl)));
}

Result<bool> SnapshotReader::next(std::string* payload) {
  Impl& d = *impl_;
  if (!d.failed.ok()) return d.failed;
  if (d.done) return false;
  const std::uint64_t at = d.offset();
  auto have = d.fill(kSnapshotRecordHeaderBytes);
  if (!have.ok()) return have.status();
  if (!*have) return d.corrupt(at, "cut short: no end record");
  const char* p = d.buffer.data() + d.pos;
  const std::uint32_t stored = get_u32(p);
  const std::uint32_t length = get_u32(p + 4);
  const auto type = static_cast<std::uint8_t>(p[8]);
  if (type == kSnapshotRecordRow) {
    // The file is complete: a length past its end is damage, found before it sizes a read.
    const std::uint64_t left = d.file_size - std::min(d.file_size, at + kSnapshotRecordHeaderBytes);
    if (length == 0 || length > left || length > kMaxRowBytes) {
      return d.corrupt(at, "row record length " + std::to_string(length) + " out of range (" +
                               std::to_string(left) + " bytes left in the file)");
    }
  } else if (type == kSnapshotRecordEnd) {
    if (length != 8) return d.corrupt(at, "end record length " + std::to_string(length));
  } else {
    return d.corrupt(at, "record type " + std::to_string(type));
  }
  have = d.fill(kSnapshotRecordHeaderBytes + length);
  if (!have.ok()) return have.status();
  if (!*have) return d.corrupt(at, "record cut short");
  p = d.buffer.data() + d.pos;
  std::uint32_t crc = crc32c::value(p + 4, 5);
  crc = crc32c::extend(crc, p + kSnapshotRecordHeaderBytes, length);
  if (crc32c::unmask(stored) != crc) return d.corrupt(at, "record CRC mismatch");
  const char* body = p + kSnapshotRecordHeaderBytes;
  d.payload_offset = at + kSnapshotRecordHeaderBytes;
  d.pos += kSnapshotRecordHeaderBytes + length;
  if (type == kSnapshotRecordEnd) {
    const std::uint64_t count = get_u64(body);
    if (count != d.rows_read || count != d.meta.rows) {
      return d.corrupt(at, "end record counts " + std::to_string(count) + " rows, read " +
                               std::to_string(d.rows_read) + ", meta says " +
                               std::to_string(d.meta.rows));
    }
    while (d.table < d.meta.tables.size() && d.meta.tables[d.table].rows == d.rows_in_table) {
      ++d.table;
      d.rows_in_table = 0;
    }
    if (d.table != d.meta.tables.size()) return d.corrupt(at, "rows missing from a table");
    have = d.fill(1);
    if (!have.ok()) return have.status();
    if (*have) return d.corrupt(d.offset(), "bytes after the end record");
    d.done = true;
    return false;
  }
  // A row: it belongs to the current table until that table's count is reached.
  while (d.table < d.meta.tables.size() && d.meta.tables[d.table].rows == d.rows_in_table) {
    ++d.table;
    d.rows_in_table = 0;
  }
  if (d.table == d.meta.tables.size()) return d.corrupt(at, "more rows than the meta counts");
  ++d.rows_in_table;
  ++d.rows_read;
  payload->assign(body, length);
  return true;
}

std::uint64_t SnapshotReader::payload_offset() const { return impl_->payload_offset; }
int SnapshotReader::fd() const { return impl_->fd.get(); }

Result<SnapshotMeta> load_snapshot(const std::string& path, Projection* projection) {
  auto reader = SnapshotReader::open(path);
  if (!reader.ok()) return reader.status();
  const SnapshotMeta& meta = (*reader)->meta();
  if (meta.hub != projection->hub()) {
    return Status::corruption("snapshot " + path + " is of hub '" + meta.hub + "', not '" +
                              projection->hub() + "'");
  }
  if (meta.seq == 0 || meta.epoch == 0) {
    return Status::corruption("snapshot " + path + ": seq and epoch must not be 0");
  }
  projection->reset_to(meta.epoch, meta.seq);
  for (const SnapshotTable& t : meta.tables) {
    projection->reserve_rows(t.name, t.rows);
    projection->restore_table_head(t.name, t.last_seq);
  }
  auto fail = [&](Status s) {
    projection->reset_to(0, 0);
    return s;
  };
  std::string payload;
  std::size_t table = 0;
  std::uint64_t in_table = 0;
  for (;;) {
    auto more = (*reader)->next(&payload);
    if (!more.ok()) return fail(more.status());
    if (!*more) break;
    // Rows as procreg writes them are loaded from their bytes; others are decoded (and
    // refused there if they are not rows). Nothing in a row is longer than the row.
    const events::DecodeLimits limits =
        events::record_limits(static_cast<std::uint32_t>(payload.size()));
    events::ScannedSnapshotRow scanned;
    std::optional<events::SnapshotRow> decoded;
    if (!events::scan_snapshot_row(payload, limits, &scanned)) {
      auto row = events::decode_snapshot_row(payload, limits);
      if (!row.ok()) {
        return fail(Status::corruption("snapshot " + path + ": " + row.status().message()));
      }
      decoded = std::move(*row);
    }
    const std::string_view row_table = decoded ? std::string_view(decoded->table) : scanned.table;
    const std::uint64_t revision = decoded ? decoded->revision : scanned.revision;
    while (table < meta.tables.size() && meta.tables[table].rows == in_table) {
      ++table;
      in_table = 0;
    }
    ++in_table;
    if (table == meta.tables.size() || row_table != meta.tables[table].name) {
      return fail(Status::corruption("snapshot " + path + ": a row of table '" +
                                     std::string(row_table) + "' out of the meta's table order"));
    }
    if (revision == 0 || revision > meta.seq) {
      const std::string_view id =
          decoded ? std::string_view(decoded->row.entry.spec.id) : scanned.row.id;
      return fail(Status::corruption("snapshot " + path + ": row '" + std::string(id) +
                                     "' has revision " + std::to_string(revision) + " outside 1.." +
                                     std::to_string(meta.seq)));
    }
    if (decoded) {
      projection->load_row(decoded->table, decoded->row, revision);
    } else {
      projection->load_row(scanned.table, scanned.row, revision);
    }
  }
  projection->restore_heads(meta.registered_head, meta.unregistered_head, meta.max_time_ms);
  return meta;
}

}  // namespace procreg::replay
