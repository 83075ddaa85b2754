// Package dlq keeps the dead-letter stream: decisions salerelay could not deliver, each
// with the reason, its failure class, attempts and times. Operators list, inspect, replay
// and purge records through the CLI and the admin API, both built on [Store].
//
// A record's id is its sequence in the dead-letter stream. Replay puts the original
// message back on the work stream and deletes the record only once JetStream stored it.
package dlq
