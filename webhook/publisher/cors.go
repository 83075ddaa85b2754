package publisher

import (
	"net/http"
	"slices"
	"strings"
)

// CORS lets browsers call a handler from the origins in ALLOW_ORIGIN. It is safe for
// concurrent use.
type CORS struct {
	anyOrigin bool
	origins   []string
}

// NewCORS returns the policy for allowed, the entries of ALLOW_ORIGIN. An entry "*", or no
// entry at all, allows every origin; otherwise only the listed origins (compared exactly,
// e.g. https://ops.example.com) get an Access-Control-Allow-Origin header.
func NewCORS(allowed []string) *CORS {
	c := &CORS{}
	for _, o := range allowed {
		o = strings.TrimSpace(o)
		switch o {
		case "":
		case "*":
			c.anyOrigin = true
		default:
			c.origins = append(c.origins, o)
		}
	}
	if len(c.origins) == 0 {
		c.anyOrigin = true
	}
	return c
}

// ParseOrigins splits an ALLOW_ORIGIN value, a comma list, into its entries.
func ParseOrigins(value string) []string {
	var out []string
	for o := range strings.SplitSeq(value, ",") {
		if o = strings.TrimSpace(o); o != "" {
			out = append(out, o)
		}
	}
	return out
}

// SetHeaders adds the CORS answer headers for r's Origin to h. With a list of origins it
// echoes the request's Origin only when listed, and always adds Vary: Origin so caches
// keep one answer per origin.
func (c *CORS) SetHeaders(h http.Header, r *http.Request) {
	if c.anyOrigin {
		h.Set("Access-Control-Allow-Origin", "*")
		return
	}

	h.Add("Vary", "Origin")
	if origin := r.Header.Get("Origin"); origin != "" && slices.Contains(c.origins, origin) {
		h.Set("Access-Control-Allow-Origin", origin)
	}
}

// Wrap answers preflight requests (OPTIONS) with 204 and the allowed methods and headers,
// and adds the CORS headers to every other answer of next.
func (c *CORS) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.SetHeaders(w.Header(), r)
		if r.Method == http.MethodOptions {
			w.Header().Set("Access-Control-Allow-Methods", "POST, OPTIONS")
			w.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}
