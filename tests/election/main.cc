#define BOOST_TEST_MODULE procreg_election
#include <boost/test/unit_test.hpp>
