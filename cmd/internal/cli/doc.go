// Package cli implements the operator commands of salerelay (`dlq`, `reconcile`) on top of
// an open JetStream connection. Each command takes its arguments and writers and returns
// the process exit code, so tests run them without a process.
package cli
