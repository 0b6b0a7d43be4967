#include "plugin/election/etcd_client.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <stdexcept>
#include <system_error>
#include <utility>

#include <nlohmann/json.hpp>

#include "plugin/election/base64.h"
#include "plugin/election/etcd_http.h"

namespace procreg::etcd {
namespace {

using Json = nlohmann::json;
using std::chrono::milliseconds;

// An answer that is not the JSON expected; read() turns it into kInternal.
class BadAnswer : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A parsed 200 answer and the bytes it came from (quoted when it turns out to be bad).
struct Answer {
  Json json;
  std::string body;
  std::string method;  // "/v3/kv/put"
};

std::string head(const std::string& body) { return body.substr(0, 200); }

// 64-bit integers come as strings ("123"); numbers are accepted too. Absent: 0.
std::int64_t int_field(const Json& object, const char* name) {
  const auto it = object.find(name);
  if (it == object.end() || it->is_null()) return 0;
  if (it->is_number_integer()) return it->get<std::int64_t>();
  if (it->is_string()) {
    const auto& text = it->get_ref<const std::string&>();
    std::int64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec == std::errc() && end == text.data() + text.size() && !text.empty()) return value;
  }
  throw BadAnswer(std::string("\"") + name + "\" is not a 64-bit integer");
}

// Bytes fields are base64. Absent: "".
std::string bytes_field(const Json& object, const char* name) {
  const auto it = object.find(name);
  if (it == object.end() || it->is_null()) return "";
  if (it->is_string()) {
    if (auto bytes = base64_decode(it->get_ref<const std::string&>())) return std::move(*bytes);
  }
  throw BadAnswer(std::string("\"") + name + "\" is not base64");
}

const Json& object_field(const Json& object, const char* name) {
  const auto it = object.find(name);
  if (it == object.end() || !it->is_object()) {
    throw BadAnswer(std::string("no object \"") + name + "\"");
  }
  return *it;
}

Json int64(std::int64_t value) { return std::to_string(value); }

Code code_of_grpc(std::int64_t grpc_code, long http_status) {
  switch (grpc_code) {
    case 1:   // Canceled
    case 14:  // Unavailable
      return Code::kUnavailable;
    case 3:   // InvalidArgument
    case 11:  // OutOfRange (a compacted or future revision)
      return Code::kInvalidArgument;
    case 4:  // DeadlineExceeded
      return Code::kTimeout;
    case 5:  // NotFound
      return Code::kNotFound;
    case 6:   // AlreadyExists
    case 9:   // FailedPrecondition
    case 10:  // Aborted
      return Code::kConflict;
    case 7:   // PermissionDenied
    case 16:  // Unauthenticated
      return Code::kPermissionDenied;
    case 8:  // ResourceExhausted
      return Code::kResourceExhausted;
    case 12:  // Unimplemented
      return Code::kUnsupported;
    case 15:  // DataLoss
      return Code::kCorruption;
    case 2:   // Unknown
    case 13:  // Internal
      return Code::kInternal;
    default:
      break;
  }
  switch (http_status) {
    case 400:
      return Code::kInvalidArgument;
    case 401:
    case 403:
      return Code::kPermissionDenied;
    case 404:
      return Code::kNotFound;
    case 408:
    case 504:
      return Code::kTimeout;
    case 503:
      return Code::kUnavailable;
    default:
      return Code::kInternal;
  }
}

// answer[name] if it is a string, else "".
std::string string_member(const Json& answer, const char* name) {
  const auto it = answer.find(name);
  return it != answer.end() && it->is_string() ? it->get<std::string>() : "";
}

// answer[name] if it is an integer, else -1.
std::int64_t integer_member(const Json& answer, const char* name) {
  const auto it = answer.find(name);
  return it != answer.end() && it->is_number_integer() ? it->get<std::int64_t>() : -1;
}

// The error etcd answered: {"error": "msg", "message": "msg", "code": n}, or in a streaming
// call's 200 answer {"error": {"grpc_code": n, "http_code": n, "message": "msg", ...}}.
Status etcd_error(const std::string& method, const Json& answer, long http_status) {
  const auto error = answer.find("error");
  const bool nested = error != answer.end() && error->is_object();
  std::string message = nested ? string_member(*error, "message") : string_member(answer, "error");
  if (message.empty()) message = string_member(answer, "message");
  if (message.empty()) message = "HTTP " + std::to_string(http_status);
  const std::int64_t grpc_code =
      nested ? integer_member(*error, "grpc_code") : integer_member(answer, "code");
  // The election service answers every error with code 2 (Unknown): its messages name them.
  Code code = code_of_grpc(grpc_code, http_status);
  if (message.find("lease not found") != std::string::npos) code = Code::kNotFound;
  if (message == "election: no leader") code = Code::kNotFound;
  if (message == "election: not leader") code = Code::kConflict;
  return {code, "etcd " + method + ": " + message};
}

bool has_error(const Json& answer) {
  const auto error = answer.find("error");
  if (error == answer.end() || error->is_null()) return false;
  return !(error->is_string() && error->get_ref<const std::string&>().empty());
}

std::string where(const std::string& host, int port, const std::string& method) {
  return "etcd at " + host + ":" + std::to_string(port) + " " + method;
}

// A transport failure (kUnavailable), an error etcd answered, an unparseable body (kInternal),
// or the parsed answer.
Result<Answer> decode(const std::string& host, int port, const std::string& method,
                      milliseconds timeout, HttpReply reply) {
  switch (reply.outcome) {
    case HttpReply::Outcome::kAnswered:
      break;
    case HttpReply::Outcome::kTimedOut:
      return Status::unavailable(where(host, port, method) + ": no answer within " +
                                 std::to_string(timeout.count()) + " ms (" + reply.error + ")");
    case HttpReply::Outcome::kCancelled:
      return Status::unavailable(where(host, port, method) + ": cancelled");
    case HttpReply::Outcome::kFailed:
      return Status::unavailable(where(host, port, method) + ": " + reply.error);
  }
  Json json = Json::parse(reply.body, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) {
    return Status::internal("etcd answered " + method + " with HTTP " +
                            std::to_string(reply.status) +
                            " and no JSON object: " + head(reply.body));
  }
  if (reply.status != 200 || has_error(json)) return etcd_error(method, json, reply.status);
  return Answer{std::move(json), std::move(reply.body), method};
}

// One request to etcd: the parsed answer or the error, as decode() says.
Result<Answer> call(const std::string& host, int port, const std::string& method,
                    const Json& request, milliseconds timeout) {
  return decode(host, port, method, timeout,
                post(host, port, method, request.dump(), timeout, nullptr));
}

// f(answer's JSON), or kInternal when the answer does not have the shape f expects.
template <typename F>
auto read(const Answer& answer, F&& f) -> Result<decltype(f(answer.json))> {
  const auto bad = [&answer](const char* what) {
    return Status::internal("etcd answered " + answer.method + " with unexpected JSON (" + what +
                            "): " + head(answer.body));
  };
  try {
    return f(answer.json);
  } catch (const BadAnswer& e) {
    return bad(e.what());
  } catch (const Json::exception& e) {
    return bad(e.what());
  }
}

Json leader_json(const LeaderKey& leader) {
  return {{"name", base64_encode(leader.name)},
          {"key", base64_encode(leader.key)},
          {"rev", int64(leader.rev)},
          {"lease", int64(leader.lease)}};
}

KeyValue key_value(const Json& kv) {
  if (!kv.is_object()) throw BadAnswer("a key-value is not an object");
  return {bytes_field(kv, "key"), bytes_field(kv, "value"), int_field(kv, "create_revision"),
          int_field(kv, "mod_revision"), int_field(kv, "lease")};
}

// The smallest key above every key starting with `prefix` (etcd's GetPrefixRangeEnd): its last
// byte below 0xff incremented, the bytes after it dropped; "\0" (no end) when there is none.
std::string prefix_end(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    const auto last = static_cast<unsigned char>(end.back());
    if (last < 0xff) {
      end.back() = static_cast<char>(last + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');
}

}  // namespace

std::string candidate_key(const std::string& name, std::int64_t lease) {
  char hex[17] = {};
  std::snprintf(hex, sizeof hex, "%llx", static_cast<unsigned long long>(lease));
  return name + "/" + hex;
}

Client::Client(std::string host, int port) : host_(std::move(host)), port_(port) {}

Result<Grant> Client::grant(std::int64_t ttl_s, milliseconds timeout) {
  if (ttl_s <= 0) return Status::invalid_argument("lease TTL must be > 0 s");
  auto answer = call(host_, port_, "/v3/lease/grant", {{"TTL", ttl_s}}, timeout);
  if (!answer) return answer.status();
  return read(*answer, [](const Json& j) {
    const Grant grant{int_field(j, "ID"), int_field(j, "TTL")};
    if (grant.id <= 0) throw BadAnswer("no lease \"ID\"");
    return grant;
  });
}

Result<std::int64_t> Client::keepalive(std::int64_t lease, milliseconds timeout) {
  auto answer = call(host_, port_, "/v3/lease/keepalive", {{"ID", int64(lease)}}, timeout);
  if (!answer) return answer.status();
  // A streaming call: the answer is wrapped in "result"; no "TTL" when the lease is gone.
  return read(*answer, [](const Json& j) {
    return std::max<std::int64_t>(int_field(object_field(j, "result"), "TTL"), 0);
  });
}

Status Client::revoke(std::int64_t lease, milliseconds timeout) {
  return call(host_, port_, "/v3/lease/revoke", {{"ID", int64(lease)}}, timeout).status();
}

Result<LeaderKey> Client::campaign(const std::string& name, std::int64_t lease,
                                   const std::string& value, milliseconds timeout,
                                   const std::atomic<bool>* cancel) {
  if (lease <= 0) return Status::invalid_argument("a campaign needs a lease");
  const std::string method = "/v3/election/campaign";
  const Json request = {
      {"name", base64_encode(name)}, {"lease", int64(lease)}, {"value", base64_encode(value)}};
  HttpReply reply = post(host_, port_, method, request.dump(), timeout, cancel);
  Result<LeaderKey> result = Status::timeout("not the leader of \"" + name + "\" within " +
                                             std::to_string(timeout.count()) + " ms");
  if (reply.outcome == HttpReply::Outcome::kCancelled) {
    result = Status::timeout("campaign for \"" + name + "\" cancelled");
  } else if (reply.outcome != HttpReply::Outcome::kTimedOut) {
    auto answer = decode(host_, port_, method, timeout, std::move(reply));
    if (!answer) {
      result = answer.status();
    } else {
      result = read(*answer, [](const Json& j) {
        const Json& leader = object_field(j, "leader");
        return LeaderKey{bytes_field(leader, "name"), bytes_field(leader, "key"),
                         int_field(leader, "rev"), int_field(leader, "lease")};
      });
    }
  }
  if (result.ok()) return result;
  // etcd deletes the key itself when it sees the connection close, but only once it sees it,
  // and not after every error: deleting it here makes "no stale candidate" hold on return.
  const Status deleted = delete_key(candidate_key(name, lease), kCleanupTimeout);
  if (deleted.ok()) return result;
  return Status(
      result.status().code(),
      result.status().message() +
          "; deleting the candidate key failed too (it goes with the lease): " + deleted.message());
}

Result<std::optional<Leader>> Client::leader(const std::string& name, milliseconds timeout) {
  auto answer = call(host_, port_, "/v3/election/leader", {{"name", base64_encode(name)}}, timeout);
  if (!answer) {
    const Status& error = answer.status();
    const std::string_view none = "election: no leader";
    if (error.code() == Code::kNotFound && error.message().ends_with(none)) {
      return std::optional<Leader>();
    }
    return error;
  }
  return read(*answer, [&name](const Json& j) {
    const KeyValue kv = key_value(object_field(j, "kv"));
    return std::optional<Leader>(
        Leader{LeaderKey{name, kv.key, kv.create_revision, kv.lease}, kv.value});
  });
}

Status Client::proclaim(const LeaderKey& leader, const std::string& value, milliseconds timeout) {
  const Json request = {{"leader", leader_json(leader)}, {"value", base64_encode(value)}};
  return call(host_, port_, "/v3/election/proclaim", request, timeout).status();
}

Status Client::resign(const LeaderKey& leader, milliseconds timeout) {
  return call(host_, port_, "/v3/election/resign", {{"leader", leader_json(leader)}}, timeout)
      .status();
}

Status Client::put(const std::string& key, const std::string& value, std::int64_t lease,
                   milliseconds timeout) {
  Json request = {{"key", base64_encode(key)}, {"value", base64_encode(value)}};
  if (lease != 0) request["lease"] = int64(lease);
  return call(host_, port_, "/v3/kv/put", request, timeout).status();
}

Result<std::vector<KeyValue>> Client::range_prefix(const std::string& prefix,
                                                   milliseconds timeout) {
  // etcd refuses an empty key: "\0" up to "\0" (no end) is every key.
  const std::string key = prefix.empty() ? std::string(1, '\0') : prefix;
  const Json request = {{"key", base64_encode(key)},
                        {"range_end", base64_encode(prefix_end(prefix))},
                        {"sort_order", "ASCEND"},
                        {"sort_target", "KEY"}};
  auto answer = call(host_, port_, "/v3/kv/range", request, timeout);
  if (!answer) return answer.status();
  return read(*answer, [](const Json& j) {
    std::vector<KeyValue> kvs;
    const auto it = j.find("kvs");
    if (it == j.end() || it->is_null()) return kvs;
    if (!it->is_array()) throw BadAnswer("\"kvs\" is not an array");
    kvs.reserve(it->size());
    for (const Json& kv : *it) kvs.push_back(key_value(kv));
    return kvs;
  });
}

Status Client::delete_key(const std::string& key, milliseconds timeout) {
  return call(host_, port_, "/v3/kv/deleterange", {{"key", base64_encode(key)}}, timeout).status();
}

}  // namespace procreg::etcd
