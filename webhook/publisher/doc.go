// Package publisher serves POST /sale-verification/publish, the endpoint of the old Node
// publisher that the operator Android app calls right after it updates a sale in Appwrite.
//
// The request, the Bearer key, the validation and the JSON answers are the old service's,
// so the app keeps working once its base URL points at salerelay. One thing changed: the
// answer comes once JetStream has stored the decision, not after Pusher accepted it, so a
// Pusher outage no longer loses the operator's decision. The decision then travels the same
// queue as webhooks and reconcile; the worker's ledger makes the app's report and the
// webhook's report of one decision a single Pusher event.
//
// The payload's timestamp is the time salerelay received the request: the app sends none.
package publisher
