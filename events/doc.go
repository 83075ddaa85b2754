// Package events holds salerelay's domain: the sale decision that travels through the queue,
// its mapping from an Appwrite sale document, the Pusher payload the apps expect, and the
// JetStream subjects, streams and buckets that carry it.
//
// Every source (the Appwrite webhook, the old publisher endpoint, reconcile and replay)
// turns its input into a [SaleDecision] and hands it to a [Queue]. The worker takes it from
// there. Nothing in this package talks to Pusher.
package events
