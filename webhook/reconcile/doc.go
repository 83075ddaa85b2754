// Package reconcile finds sale decisions whose Appwrite webhooks never arrived and puts
// them on the work queue.
//
// Appwrite never retries a failed webhook, drops events while a webhook is disabled (after
// ten failures in a row), and some writes send no event at all. A [Scanner] lists the sales
// table's rows changed since a given time through the Appwrite API, maps each row exactly
// as the webhook maps a body, and enqueues the decided ones with source reconcile. The
// queue's message id and the worker's ledger make a decision that was already reported
// harmless, and an [events.DeliveryLookup] tells the decisions no webhook delivered
// ("found") from the ones already delivered: a rising salerelay_reconcile_found_total
// means webhooks are being lost.
//
// A scan fetches every page before it enqueues anything, so an Appwrite failure leaves the
// queue untouched. The [Runner] repeats the scan on a schedule inside salerelay serve. It
// keeps a watermark in the JetStream key-value bucket events.StateBucket, so a restart
// neither rescans everything nor skips a window, and takes a lease in the same bucket so
// that one instance scans at a time.
package reconcile
