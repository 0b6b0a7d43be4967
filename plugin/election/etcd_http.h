// procreg::etcd internal: one HTTP POST of a JSON body to etcd's gateway, over libcurl.
//
// Each call makes its own easy handle (and a multi handle to drive it), so calls from several
// threads share nothing but libcurl's global state, initialised once (std::call_once) by the
// first call. The transfer runs curl_multi_poll in 50 ms slices, so the progress callback
// (CURLOPT_XFERINFOFUNCTION), which reads the cancel flag, runs at least every 50 ms even while
// no byte arrives: curl_easy_perform calls it only about once a second on an idle connection.
//
// Proxies from the environment (http_proxy, ...) are ignored: etcd is reached directly.
//
// Thread safety: post() may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

namespace procreg::etcd {

struct HttpReply {
  enum class Outcome {
    kAnswered,   // a complete HTTP answer: status and body are set
    kTimedOut,   // connect + transfer took longer than the timeout
    kCancelled,  // *cancel became true
    kFailed,     // refused, reset, unresolvable host, oversized answer...: error says which
  };
  Outcome outcome = Outcome::kFailed;
  long status = 0;    // the HTTP status, when answered
  std::string body;   // the answer's body, when answered
  std::string error;  // what went wrong otherwise (libcurl's words)
};

// The largest answer body accepted (a range over many keys is the only large one).
inline constexpr std::size_t kMaxReplyBytes = std::size_t{64} << 20;

// POSTs `json` to http://HOST:PORT<path> with Content-Type application/json, and waits at most
// `timeout` (at least 1 ms) for the whole answer. `cancel` may be null.
HttpReply post(const std::string& host, int port, std::string_view path, const std::string& json,
               std::chrono::milliseconds timeout, const std::atomic<bool>* cancel);

}  // namespace procreg::etcd
