#define BOOST_TEST_MODULE procreg_plugin
#include <boost/test/unit_test.hpp>
