package reconcile

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/salerelay/salerelay/events"
)

// Config says which Appwrite table to scan and how patiently. Zero values take the
// defaults noted on each field.
type Config struct {
	// Endpoint is APPWRITE_ENDPOINT including /v1, e.g. https://cloud.appwrite.io/v1.
	Endpoint string
	// ProjectID is APPWRITE_PROJECT_ID.
	ProjectID string
	// APIKey is APPWRITE_API_KEY. It needs the rows.read scope (documents.read on servers
	// before 1.8). It is sent as a header and never logged or put in an error.
	APIKey string
	// DatabaseID and TableID are APPWRITE_DATABASE_ID and APPWRITE_SALES_COLLECTION_ID:
	// unlike the webhook, reconcile needs both.
	DatabaseID string
	TableID    string

	// Mapping turns rows into decisions; the zero value means events.DefaultMapping().
	Mapping events.Mapping

	// PageSize is the number of rows asked per request, default 100.
	PageSize int
	// MaxAttempts bounds the requests for one page when Appwrite answers 429 or 5xx or the
	// network fails, default 5. After the last failure the scan returns an error.
	MaxAttempts int
	// RetryDelay is the wait before the second attempt, default 1 s; it doubles for each
	// further attempt, up to 30 s, with ±20 % jitter.
	RetryDelay time.Duration
	// RequestTimeout bounds one HTTP request to Appwrite, default 30 s.
	RequestTimeout time.Duration
	// Transport carries the requests; nil gives the scanner its own, cloned from
	// http.DefaultTransport at construction. Certificate checks are never switched off.
	Transport http.RoundTripper
}

// Defaults applied by [NewScanner].
const (
	DefaultPageSize       = 100
	DefaultMaxAttempts    = 5
	DefaultRetryDelay     = time.Second
	DefaultRequestTimeout = 30 * time.Second
	maxRetryDelay         = 30 * time.Second
)

// withDefaults fills the zero fields.
func (c Config) withDefaults() Config {
	c.Endpoint = strings.TrimRight(c.Endpoint, "/")
	if c.Mapping.StateField == "" {
		c.Mapping = events.DefaultMapping()
	}
	if c.PageSize <= 0 {
		c.PageSize = DefaultPageSize
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.RetryDelay <= 0 {
		c.RetryDelay = DefaultRetryDelay
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	return c
}

// ErrConfig marks a configuration reconcile cannot run with.
var ErrConfig = errors.New("invalid reconcile configuration")

// validate reports every missing or malformed setting at once, each by its variable name.
func (c Config) validate() error {
	var problems []string
	required := []struct{ name, value string }{
		{"APPWRITE_ENDPOINT", c.Endpoint},
		{"APPWRITE_PROJECT_ID", c.ProjectID},
		{"APPWRITE_API_KEY", c.APIKey},
		{"APPWRITE_DATABASE_ID", c.DatabaseID},
		{"APPWRITE_SALES_COLLECTION_ID", c.TableID},
	}
	for _, r := range required {
		if strings.TrimSpace(r.value) == "" {
			problems = append(problems, r.name+" is required")
		}
	}
	if c.Endpoint != "" {
		u, err := url.Parse(c.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			problems = append(problems,
				"APPWRITE_ENDPOINT must be an http(s) URL ending in /v1")
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrConfig, strings.Join(problems, "; "))
	}
	return nil
}
