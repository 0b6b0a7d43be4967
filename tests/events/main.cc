#define BOOST_TEST_MODULE procreg_events
#include <boost/test/unit_test.hpp>
