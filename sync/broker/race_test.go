//go:build race

package broker

// The race detector makes bcrypt about 25 times slower (28 ms at the minimum
// cost on the 2-core CI machine): tests that log hundreds of accounts in
// use fewer.
const raceEnabled = true
