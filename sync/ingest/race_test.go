//go:build race

package ingest

// raceEnabled: the race detector makes the 70,000-entry test take minutes;
// make test runs it once more without -race.
const raceEnabled = true
