package publisher

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"

	"github.com/salerelay/salerelay/events"
)

// publishRequest is the old publisher's request body. The ids are kept raw so that a
// number or an object sent in their place is reported as a missing id, not as a JSON error.
type publishRequest struct {
	SaleID       json.RawMessage `json:"saleId"`
	UserID       json.RawMessage `json:"userId"`
	Decision     json.RawMessage `json:"decision"`
	Amount       json.RawMessage `json:"amount"`
	ProductCount json.RawMessage `json:"productCount"`
	Cause        json.RawMessage `json:"cause"`
}

// errBadRequest marks a request the operator app must fix; its text is sent back.
var errBadRequest = errors.New("bad request")

// parseRequest validates body and returns the decision it reports, without the times and
// source. The error's text says what is wrong, in the words of the 400 answer.
func parseRequest(body []byte) (events.SaleDecision, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return events.SaleDecision{}, badRequest("body must be a JSON object")
	}
	var req publishRequest
	if err := json.Unmarshal(trimmed, &req); err != nil {
		return events.SaleDecision{}, badRequest("body must be a JSON object")
	}

	saleID, ok := nonBlankString(req.SaleID)
	if !ok {
		return events.SaleDecision{}, badRequest("saleId is required")
	}
	userID, ok := nonBlankString(req.UserID)
	if !ok {
		return events.SaleDecision{}, badRequest("userId is required")
	}
	decision, _ := nonBlankString(req.Decision)
	if !events.Decision(decision).Valid() {
		return events.SaleDecision{}, badRequest("decision must be confirmed or rejected")
	}

	return events.SaleDecision{
		SaleID:       saleID,
		UserID:       userID,
		Decision:     events.Decision(decision),
		Amount:       passThrough(req.Amount),
		ProductCount: passThrough(req.ProductCount),
		Cause:        passThrough(req.Cause),
	}, nil
}

func badRequest(msg string) error { return &requestError{msg: msg} }

// requestError is a 400 answer's reason. It matches errBadRequest.
type requestError struct{ msg string }

func (e *requestError) Error() string        { return e.msg }
func (e *requestError) Is(target error) bool { return target == errBadRequest }

// nonBlankString reads raw as a JSON string holding more than white space. The string is
// returned as sent: the old service did not trim it either.
func nonBlankString(raw json.RawMessage) (string, bool) {
	var s string
	if len(raw) == 0 || json.Unmarshal(raw, &s) != nil || strings.TrimSpace(s) == "" {
		return "", false
	}
	return s, true
}

// passThrough keeps an optional value exactly as the app sent it; absent and null both
// become nil, which the payload encodes as null.
func passThrough(raw json.RawMessage) json.RawMessage {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil
	}
	return bytes.Clone(raw)
}
