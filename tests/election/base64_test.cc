// base64 (plugin/election/base64.h), the encoding of every bytes field etcd's gateway speaks.
#include "plugin/election/base64.h"

#include <string>

#include <boost/test/unit_test.hpp>

namespace procreg::etcd {
namespace {

BOOST_AUTO_TEST_SUITE(base64)

// RFC 4648, section 10.
BOOST_AUTO_TEST_CASE(encodes_the_rfc_4648_test_vectors) {
  BOOST_TEST(base64_encode("") == "");
  BOOST_TEST(base64_encode("f") == "Zg==");
  BOOST_TEST(base64_encode("fo") == "Zm8=");
  BOOST_TEST(base64_encode("foo") == "Zm9v");
  BOOST_TEST(base64_encode("foob") == "Zm9vYg==");
  BOOST_TEST(base64_encode("fooba") == "Zm9vYmE=");
  BOOST_TEST(base64_encode("foobar") == "Zm9vYmFy");
  BOOST_TEST(base64_encode(std::string("\0\xff\xfe", 3)) == "AP/+");
}

BOOST_AUTO_TEST_CASE(decodes_what_it_encodes_for_every_byte_and_length) {
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  for (std::size_t len = 0; len <= all.size(); len += 1 + len / 16) {
    const std::string bytes = all.substr(all.size() - len);
    const auto back = base64_decode(base64_encode(bytes));
    BOOST_REQUIRE(back.has_value());
    BOOST_TEST(*back == bytes, "length " << len);
  }
}

BOOST_AUTO_TEST_CASE(decodes_unpadded_text) {
  BOOST_TEST(base64_decode("Zm8").value_or("?") == "fo");
  BOOST_TEST(base64_decode("Zg").value_or("?") == "f");
}

BOOST_AUTO_TEST_CASE(rejects_what_no_encoder_writes) {
  for (const char* bad : {"Zg=", "Z", "Zm9vY", "Zg===", "Z===", "=Zg=", "Zg=v",
                          "Zm9v!A==", "Zh==", "Zm9=", "Zm 9v"}) {
    BOOST_TEST(!base64_decode(bad).has_value(), bad);
  }
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace procreg::etcd
