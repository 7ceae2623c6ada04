// Package gate will hold the admission flow at the gate box: verify identity, scan
// the health code, take the temperature, log the entry, admit or deny; the
// policy, pass verification and the bbolt journal. See ../shared/DESIGN.md and
// the gate issue; the device layer it builds on is in ../device.
package gate
