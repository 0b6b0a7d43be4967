#define BOOST_TEST_MODULE procreg_registry
#include <boost/test/unit_test.hpp>
