#include "events/snapshot_row.h"

#include <cassert>

#include "events/decoder.h"
#include "events/encoder.h"
#include "events/row_codec.h"

namespace procreg::events {
namespace {

constexpr std::string_view kV = "v";
constexpr std::string_view kTable = "tbl";
constexpr std::string_view kRow = "row";
constexpr std::string_view kRevision = "rev";
// The noun of version errors: the row's "v" is the wire version of protocol 1.
constexpr std::string_view kVersionNoun = "wire version";

}  // namespace

namespace {

template <typename RowT>
void encode_snapshot_row_of(std::string_view table, const RowT& entry,
                            const std::optional<std::int64_t>& expires_at_ms,
                            std::uint64_t revision, std::string* out) {
  assert(!table.empty() && "a row's table is never empty");
  Encoder enc(out);
  enc.map(4);
  enc.str(kV);
  enc.uint(kSnapshotRowVersion);
  enc.str(kTable);
  enc.str(table);
  enc.str(kRow);
  write_row(enc, entry, expires_at_ms);
  enc.str(kRevision);
  enc.uint(revision);
}

}  // namespace

void encode_snapshot_row(std::string_view table, const Entry& entry,
                         const std::optional<std::int64_t>& expires_at_ms, std::uint64_t revision,
                         std::string* out) {
  encode_snapshot_row_of(table, entry, expires_at_ms, revision, out);
}

void encode_snapshot_row(std::string_view table, const EncodedEntry& entry,
                         const std::optional<std::int64_t>& expires_at_ms, std::uint64_t revision,
                         std::string* out) {
  encode_snapshot_row_of(table, entry, expires_at_ms, revision, out);
}

Result<SnapshotRow> decode_snapshot_row(std::string_view bytes, const DecodeLimits& limits) {
  enum : std::size_t { kFv, kFtable, kFrow, kFrev };
  static constexpr Fields<4> kFields{{kV, kTable, kRow, kRevision},
                                     bits(kFv, kFtable, kFrow, kFrev)};
  return decode_without_throwing<SnapshotRow>([&]() -> Result<SnapshotRow> {
    Decoder d(bytes, limits, "snapshot_row");
    Result<SnapshotRow> result = SnapshotRow();
    SnapshotRow* m = &*result;
    const bool ok =
        d.check_size(bytes.size()) && d.check_version(kV, kVersionNoun, kSnapshotRowVersion) &&
        d.read_fields(kFields,
                      [&](std::size_t index) {
                        switch (index) {
                          case kFv: {
                            std::uint32_t version = 0;
                            return d.read_version(kVersionNoun, kSnapshotRowVersion, &version);
                          }
                          case kFtable:
                            return d.read_non_empty_string(&m->table);
                          case kFrow:
                            return read_row(d, &m->row);
                          default:  // kFrev
                            return d.read_uint(&m->revision);
                        }
                      }) &&
        d.finish();
    if (!ok) result = std::move(d).error();
    return result;
  });
}

}  // namespace procreg::events
