// parse_url (plugin/election/etcd_client.h): etcd://HOST:PORT/PREFIX.
#include <string>

#include <boost/test/unit_test.hpp>

#include "plugin/election/etcd_client.h"

namespace procreg::etcd {
namespace {

BOOST_AUTO_TEST_SUITE(etcd_url)

BOOST_AUTO_TEST_CASE(parses_host_port_and_prefix) {
  const auto url = parse_url("etcd://127.0.0.1:2379/procreg");
  BOOST_REQUIRE_MESSAGE(url.ok(), url.status());
  BOOST_TEST(url->host == "127.0.0.1");
  BOOST_TEST(url->port == 2379);
  BOOST_TEST(url->prefix == "procreg");

  const auto named = parse_url("etcd://etcd-1.example.com:65535/procreg/hub-a");
  BOOST_REQUIRE_MESSAGE(named.ok(), named.status());
  BOOST_TEST(named->host == "etcd-1.example.com");
  BOOST_TEST(named->port == 65535);
  BOOST_TEST(named->prefix == "procreg/hub-a");

  const auto smallest = parse_url("etcd://localhost:1/p");
  BOOST_REQUIRE_MESSAGE(smallest.ok(), smallest.status());
  BOOST_TEST(smallest->port == 1);
}

// Each bad url is kInvalidArgument, and the message names the part that is wrong.
BOOST_AUTO_TEST_CASE(names_what_is_wrong_with_a_bad_url) {
  const std::pair<const char*, const char*> cases[] = {
      {"http://127.0.0.1:2379/p", "scheme"},
      {"etcd:/127.0.0.1:2379/p", "scheme"},
      {"", "scheme"},
      {"etcd://127.0.0.1:2379", "PREFIX"},
      {"etcd://127.0.0.1:2379/", "empty PREFIX"},
      {"etcd://127.0.0.1:2379/p/", "ends with '/'"},
      {"etcd://127.0.0.1:2379//p", "empty segment"},
      {"etcd://127.0.0.1:2379/a//b", "empty segment"},
      {"etcd://127.0.0.1:2379/a b", "space"},
      {"etcd://127.0.0.1/p", "PORT"},
      {"etcd://127.0.0.1:/p", "PORT"},
      {"etcd://127.0.0.1:0/p", "PORT"},
      {"etcd://127.0.0.1:65536/p", "PORT"},
      {"etcd://127.0.0.1:99999999/p", "PORT"},
      {"etcd://127.0.0.1:23a9/p", "PORT"},
      {"etcd://127.0.0.1:-1/p", "PORT"},
      {"etcd://:2379/p", "empty HOST"},
      {"etcd://256.0.0.1:2379/p", "HOST"},
      {"etcd://1.2.3:2379/p", "HOST"},
      {"etcd://1.2.3.4.5:2379/p", "HOST"},
      {"etcd://01.2.3.4:2379/p", "HOST"},
      {"etcd://bad_host:2379/p", "HOST"},
      {"etcd://-bad.example:2379/p", "HOST"},
      {"etcd://a..b:2379/p", "HOST"},
      {"etcd://user@host:2379/p", "HOST"},
      {"etcd://[::1]:2379/p", "IPv6"},
  };
  for (const auto& [text, part] : cases) {
    const auto url = parse_url(text);
    BOOST_TEST(!url.ok(), "accepted " << text);
    if (url.ok()) continue;
    BOOST_TEST(url.status().code() == Code::kInvalidArgument, text << ": " << url.status());
    BOOST_TEST(url.status().message().find(part) != std::string::npos,
               text << ": message '" << url.status().message() << "' does not name " << part);
  }
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace procreg::etcd
