// The bus topics (plugin/wire_topics.h, docs/PROTOCOL.md).

#include "plugin/wire_topics.h"

#include <string>

#include "events/decoder.h"

namespace procreg::plugin::wire {

namespace {

constexpr std::string_view kEventsPart = "e/";
constexpr std::string_view kHooksPart = "h/";
constexpr std::string_view kHeartbeatPart = "hb";

class TopicParser {
 public:
  explicit TopicParser(std::string_view topic) : topic_(topic), rest_(topic) {}

  bool literal(std::string_view s) {
    if (rest_.substr(0, s.size()) != s) return false;
    rest_.remove_prefix(s.size());
    return true;
  }

  // A netstring holding a non-empty name: digits without leading zeros, ':', the bytes.
  // Returns false (and sets error_) if the input is not one.
  bool netstring(std::string_view what, std::string* out) {
    std::size_t digits = 0;
    std::size_t length = 0;
    while (digits < rest_.size() && rest_[digits] >= '0' && rest_[digits] <= '9') {
      if (digits == 1 && rest_[0] == '0') return fail(what, "length with a leading zero");
      length = length * 10 + static_cast<std::size_t>(rest_[digits] - '0');
      ++digits;
      // The name must fit in what is left, which also keeps `length` from overflowing.
      if (length > rest_.size() - digits) return fail(what, "length exceeds the topic");
    }
    if (digits == 0) return fail(what, "expected a decimal length");
    if (digits == rest_.size() || rest_[digits] != ':') return fail(what, "expected ':'");
    rest_.remove_prefix(digits + 1);
    if (length > rest_.size()) return fail(what, "length exceeds the topic");
    if (length == 0) return fail(what, "empty name");
    out->assign(rest_.substr(0, length));
    rest_.remove_prefix(length);
    return true;
  }

  bool at_end() const { return rest_.empty(); }
  std::size_t position() const { return topic_.size() - rest_.size(); }

  bool fail(std::string_view what, std::string_view detail) {
    error_ = "topic " + events::quote(topic_) + ": " + std::string(what) + ": " +
             std::string(detail) + " at byte " + std::to_string(position());
    return false;
  }
  Status error() const { return Status::corruption(error_); }

 private:
  std::string_view topic_;
  std::string_view rest_;
  std::string error_;
};

}  // namespace

// ---- topics -------------------------------------------------------------------------------

std::string netstring(std::string_view s) {
  std::string out = std::to_string(s.size());
  out += ':';
  out += s;
  return out;
}

std::string hub_prefix(std::string_view hub) {
  std::string out(kTopicRoot);
  out += netstring(hub);
  out += '/';
  return out;
}

std::string events_prefix(std::string_view hub) { return hub_prefix(hub) += kEventsPart; }

std::string event_topic(std::string_view hub, std::string_view table) {
  return events_prefix(hub) += netstring(table);
}

std::string hooks_prefix(std::string_view hub) { return hub_prefix(hub) += kHooksPart; }

std::string hook_kind_prefix(std::string_view hub, HookTopic kind) {
  std::string out = hooks_prefix(hub);
  out += hook_topic_name(kind);
  out += '/';
  return out;
}

std::string hook_topic(std::string_view hub, HookTopic kind, std::string_view child_id) {
  return hook_kind_prefix(hub, kind) += netstring(child_id);
}

std::string heartbeat_topic(std::string_view hub) { return hub_prefix(hub) += kHeartbeatPart; }

Result<ParsedTopic> parse_topic(std::string_view topic) {
  TopicParser p(topic);
  ParsedTopic out;
  if (!p.literal(kTopicRoot)) {
    p.fail("root", "expected " + events::quote(kTopicRoot));
    return p.error();
  }
  if (!p.netstring("hub", &out.hub)) return p.error();
  if (!p.literal("/")) {
    p.fail("hub", "expected '/'");
    return p.error();
  }
  if (p.literal(kEventsPart)) {
    out.kind = TopicKind::kEvent;
    if (!p.netstring("table", &out.table)) return p.error();
  } else if (p.literal(kHooksPart)) {
    out.kind = TopicKind::kHook;
    if (p.literal(hook_topic_name(HookTopic::kChildRegistered))) {
      out.hook = HookTopic::kChildRegistered;
    } else if (p.literal(hook_topic_name(HookTopic::kChildUnregistered))) {
      out.hook = HookTopic::kChildUnregistered;
    } else {
      p.fail("hook kind", "expected child_registered or child_unregistered");
      return p.error();
    }
    if (!p.literal("/")) {
      p.fail("hook kind", "expected '/'");
      return p.error();
    }
    if (!p.netstring("child id", &out.child_id)) return p.error();
  } else if (p.literal(kHeartbeatPart)) {
    out.kind = TopicKind::kHeartbeat;
  } else {
    p.fail("kind", "expected e/, h/ or hb");
    return p.error();
  }
  if (!p.at_end()) {
    p.fail("topic", "trailing bytes");
    return p.error();
  }
  return out;
}

}  // namespace procreg::plugin::wire
