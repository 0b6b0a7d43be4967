#include "plugin/election/etcd_http.h"

#include <curl/curl.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <mutex>

namespace procreg::etcd {
namespace {

// How often a transfer wakes up to run the progress callback (the cancel check).
constexpr int kPollSliceMs = 50;

// curl_global_init is not thread-safe and must run once before any handle is made.
CURLcode global_init() {
  static std::once_flag once;
  static CURLcode result = CURLE_OK;
  std::call_once(once, [] { result = curl_global_init(CURL_GLOBAL_DEFAULT); });
  return result;
}

struct EasyDeleter {
  void operator()(CURL* h) const { curl_easy_cleanup(h); }
};
struct MultiDeleter {
  void operator()(CURLM* m) const { curl_multi_cleanup(m); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

struct Sink {
  std::string body;
  bool oversized = false;
};

size_t write_body(char* data, size_t size, size_t count, void* user) {
  auto* sink = static_cast<Sink*>(user);
  const size_t n = size * count;
  if (sink->body.size() + n > kMaxReplyBytes) {
    sink->oversized = true;
    return 0;  // makes libcurl end the transfer with CURLE_WRITE_ERROR
  }
  sink->body.append(data, n);
  return n;
}

int check_cancel(void* user, curl_off_t /*dltotal*/, curl_off_t /*dlnow*/, curl_off_t /*ultotal*/,
                 curl_off_t /*ulnow*/) {
  const auto* cancel = static_cast<const std::atomic<bool>*>(user);
  return cancel != nullptr && cancel->load() ? 1 : 0;  // non-zero aborts the transfer
}

// Drives one easy handle to its end, waking every kPollSliceMs; its CURLcode.
CURLcode drive(CURLM* multi, CURL* easy) {
  if (curl_multi_add_handle(multi, easy) != CURLM_OK) return CURLE_OUT_OF_MEMORY;
  int running = 1;
  CURLMcode mc = CURLM_OK;
  while (mc == CURLM_OK) {
    mc = curl_multi_perform(multi, &running);
    if (mc != CURLM_OK || running == 0) break;
    mc = curl_multi_poll(multi, nullptr, 0, kPollSliceMs, nullptr);
  }
  CURLcode result = CURLE_FAILED_INIT;  // unless a DONE message says otherwise
  int queued = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi, &queued)) {
    if (msg->msg == CURLMSG_DONE && msg->easy_handle == easy) result = msg->data.result;
  }
  curl_multi_remove_handle(multi, easy);
  return result;
}

}  // namespace

HttpReply post(const std::string& host, int port, std::string_view path, const std::string& json,
               std::chrono::milliseconds timeout, const std::atomic<bool>* cancel) {
  HttpReply reply;
  if (const CURLcode init = global_init(); init != CURLE_OK) {
    reply.error = std::string("curl_global_init failed: ") + curl_easy_strerror(init);
    return reply;
  }
  const std::unique_ptr<CURL, EasyDeleter> easy(curl_easy_init());
  const std::unique_ptr<CURLM, MultiDeleter> multi(curl_multi_init());
  std::unique_ptr<curl_slist, SlistDeleter> headers(
      curl_slist_append(nullptr, "Content-Type: application/json"));
  // No "Expect: 100-continue" round trip before a large body.
  if (headers) headers.reset(curl_slist_append(headers.release(), "Expect:"));
  if (!easy || !multi || !headers) {
    reply.error = "out of memory for a libcurl handle";
    return reply;
  }
  const std::string url = "http://" + host + ":" + std::to_string(port) + std::string(path);
  // A timeout of 0 would mean "none" to libcurl.
  const long timeout_ms = static_cast<long>(std::max<std::int64_t>(timeout.count(), 1));
  Sink sink;
  char error_buffer[CURL_ERROR_SIZE] = {};
  CURL* h = easy.get();
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_PROXY, "");
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(h, CURLOPT_POST, 1L);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, json.data());
  curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(json.size()));
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, check_cancel);
  curl_easy_setopt(h, CURLOPT_XFERINFODATA, const_cast<std::atomic<bool>*>(cancel));
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error_buffer);

  const CURLcode result = drive(multi.get(), h);
  if (result == CURLE_OK) {
    reply.outcome = HttpReply::Outcome::kAnswered;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &reply.status);
    reply.body = std::move(sink.body);
    return reply;
  }
  if (result == CURLE_OPERATION_TIMEDOUT) {
    reply.outcome = HttpReply::Outcome::kTimedOut;
  } else if (result == CURLE_ABORTED_BY_CALLBACK) {
    reply.outcome = HttpReply::Outcome::kCancelled;
  }
  if (sink.oversized) {
    reply.error = "answer larger than " + std::to_string(kMaxReplyBytes) + " bytes";
  } else {
    reply.error = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(result);
  }
  return reply;
}

}  // namespace procreg::etcd
