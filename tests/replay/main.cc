#define BOOST_TEST_MODULE procreg_replay
#include <boost/test/unit_test.hpp>
