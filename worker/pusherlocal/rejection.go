package pusherlocal

import (
	"fmt"
	"net/http"
)

// rejection is a refusal of a request: the status Pusher would answer and a short
// plain-text reason. It never carries the secret.
type rejection struct {
	status int
	reason string
}

func reject(status int, format string, args ...any) *rejection {
	return &rejection{status: status, reason: fmt.Sprintf(format, args...)}
}

// injected is the answer to a request failed on purpose by a test.
func injected(status int) *rejection {
	return reject(status, "pusherlocal: injected failure (%d %s)",
		status, http.StatusText(status))
}

func (r *rejection) write(w http.ResponseWriter) {
	http.Error(w, r.reason, r.status)
}
