package events

import "context"

// Delivery is what the ledger remembers about the last decision delivered for a sale.
type Delivery struct {
	Decision    Decision `json:"decision"`
	Timestamp   int64    `json:"timestamp"`   // the decision's time, Unix milliseconds
	DeliveredAt int64    `json:"deliveredAt"` // when Pusher accepted it, Unix milliseconds
}

// DeliveryLookup answers what was last delivered for a sale. ok is false when nothing was.
// The worker's ledger implements it; reconcile uses it to tell found decisions from ones a
// webhook already delivered.
type DeliveryLookup interface {
	LastDelivered(ctx context.Context, saleID string) (d Delivery, ok bool, err error)
}
