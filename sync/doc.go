// Package sync will carry everything that crosses the network: the MQTT wire
// format, the gate's outbox uplink and roster/config downlink, and the school
// server's ingest. See the sync issue.
package sync
