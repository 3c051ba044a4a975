// Package lookouttest runs the built lookout binary for the tests that use
// it as a user would (test/e2e, test/brokers, test/browser): it builds the
// binary once per test package, starts it on a free loopback port, waits
// until it is ready, and stops or kills it when the test ends, printing its
// log when the test failed.
package lookouttest
