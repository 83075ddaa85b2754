// Package webhook receives Appwrite database webhooks. It authenticates each request by its
// signature, keeps the sale changes that carry a decision, and answers Appwrite only after
// JetStream has stored the decision.
//
// Appwrite never retries a webhook and disables one after ten failed answers in a row, so
// the handler answers 4xx only for requests that are really wrong, and 503 when the queue
// cannot take the change in time.
package webhook
