// procreg::events internal: the map keys of the event layout (events/codec.cc,
// docs/EVENT_FORMAT.md), shared by its writer and its reader.
#pragma once

#include <string_view>

namespace procreg::events {

// Envelope, in the order written.
inline constexpr std::string_view kVersion = "v";
inline constexpr std::string_view kKind = "k";
inline constexpr std::string_view kHub = "hub";
inline constexpr std::string_view kTable = "tbl";
inline constexpr std::string_view kSeq = "seq";
inline constexpr std::string_view kEpoch = "ep";
inline constexpr std::string_view kTime = "t";
inline constexpr std::string_view kHooks = "hk";
inline constexpr std::string_view kBody = "b";

// Bodies and their items.
inline constexpr std::string_view kRow = "row";
inline constexpr std::string_view kItems = "items";
inline constexpr std::string_view kDiff = "diff";
inline constexpr std::string_view kId = "id";
inline constexpr std::string_view kChanged = "chg";
inline constexpr std::string_view kRowSeq = "rs";

// Rows and specs ("np" and "exp" also appear in bulk_delete items, "id" in specs).
inline constexpr std::string_view kSpec = "spec";
inline constexpr std::string_view kNodePids = "np";
inline constexpr std::string_view kMetadata = "md";
inline constexpr std::string_view kExpires = "exp";
inline constexpr std::string_view kStart = "start";

}  // namespace procreg::events
