#define BOOST_TEST_MODULE procreg_crash
#include <boost/test/unit_test.hpp>
