// Package worker delivers queued sale decisions to Pusher.
//
// A [Pool] shares one durable JetStream consumer with every other salerelay instance. For
// each message it consults the [Ledger] (was this decision delivered already? is a newer
// one?), sends the event, and then acks; or it retries later with a growing, jittered
// delay; or it stores a dead-letter record and terminates the message. When Pusher fails
// every call, delivery pauses and probes instead of spending attempts.
//
// One place sends to Pusher ([Pusher.Send]), one place classifies what came back
// ([classify]), and one place decides between retry and dead-letter ([Pool.settle]).
package worker
