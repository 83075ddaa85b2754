// Package app assembles salerelay from its configuration: the JetStream connection, the
// streams, the HTTP endpoints and the worker pool, and runs them until a stop signal.
// cmd/salerelay only parses the command line and calls into it.
package app
