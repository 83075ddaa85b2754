// Package config loads salerelay's configuration from the environment (SPEC §6) and
// validates it once, reporting every problem together.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/kelseyhightower/envconfig"

	"github.com/salerelay/salerelay/events"
)

// Config is every setting salerelay reads. Field tags name the environment variables.
type Config struct {
	Port int `envconfig:"PORT" default:"3000"`

	PusherAppID       string `envconfig:"PUSHER_APP_ID"`
	PusherKey         string `envconfig:"PUSHER_KEY"`
	PusherSecret      string `envconfig:"PUSHER_SECRET"`
	PusherCluster     string `envconfig:"PUSHER_CLUSTER" default:"mt1"`
	PusherHost        string `envconfig:"PUSHER_HOST"`
	PusherTLS         bool   `envconfig:"PUSHER_TLS" default:"true"`
	PusherSaleChannel string `envconfig:"PUSHER_SALE_CHANNEL" default:"sale-verification-"`

	PublisherAPIKey string `envconfig:"PUBLISHER_API_KEY"`
	AllowOrigin     string `envconfig:"ALLOW_ORIGIN" default:"*"`

	WebhookURL          string `envconfig:"APPWRITE_WEBHOOK_URL"`
	WebhookSignatureKey string `envconfig:"APPWRITE_WEBHOOK_SIGNATURE_KEY"`
	WebhookUser         string `envconfig:"APPWRITE_WEBHOOK_USER"`
	WebhookPassword     string `envconfig:"APPWRITE_WEBHOOK_PASSWORD"`
	DatabaseID          string `envconfig:"APPWRITE_DATABASE_ID"`
	SalesCollectionID   string `envconfig:"APPWRITE_SALES_COLLECTION_ID"`

	AppwriteEndpoint  string        `envconfig:"APPWRITE_ENDPOINT"`
	AppwriteProjectID string        `envconfig:"APPWRITE_PROJECT_ID"`
	AppwriteAPIKey    string        `envconfig:"APPWRITE_API_KEY"`
	ReconcileInterval time.Duration `envconfig:"RECONCILE_INTERVAL" default:"0"`

	StateField      string   `envconfig:"SALE_STATE_FIELD" default:"buy_state"`
	UserField       string   `envconfig:"SALE_USER_FIELD" default:"user_id"`
	AmountField     string   `envconfig:"SALE_AMOUNT_FIELD" default:"amount"`
	ProductsField   string   `envconfig:"SALE_PRODUCTS_FIELD" default:"products"`
	ConfirmedStates []string `envconfig:"SALE_CONFIRMED_STATES" default:"VERIFIED"`
	RejectedStates  []string `envconfig:"SALE_REJECTED_STATES" default:"DELETED"`
	CauseField      string   `envconfig:"SALE_CAUSE_FIELD"`
	RejectedCause   string   `envconfig:"SALE_REJECTED_CAUSE" default:"rejected_by_operator"`

	NATSURL        string `envconfig:"NATS_URL"`
	NATSCreds      string `envconfig:"NATS_CREDS"`
	DataDir        string `envconfig:"DATA_DIR" default:"./data"`
	NATSListen     string `envconfig:"NATS_LISTEN" default:"127.0.0.1:4222"`
	StreamReplicas int    `envconfig:"STREAM_REPLICAS" default:"1"`

	Workers int `envconfig:"WORKERS" default:"16"`
	// MaxAttempts counts failed Pusher attempts of one decision (outage time excluded)
	// before it is dead-lettered.
	MaxAttempts  int             `envconfig:"MAX_ATTEMPTS" default:"10"`
	RetryBackoff []time.Duration `envconfig:"RETRY_BACKOFF" default:"1s,5s,30s,2m,5m"`

	MaxBodyBytes   int64         `envconfig:"MAX_BODY_BYTES" default:"1048576"`
	EnqueueTimeout time.Duration `envconfig:"ENQUEUE_TIMEOUT" default:"10s"`

	AdminToken string `envconfig:"ADMIN_TOKEN"`
	LogLevel   string `envconfig:"LOG_LEVEL" default:"info"`
	LogFormat  string `envconfig:"LOG_FORMAT" default:"json"`
}

// Load reads the environment. Its error lists every variable that could not be parsed.
func Load() (Config, error) {
	var c Config
	var errs []error

	// A variable set to "" means "not set" here (compose env files write NAME= for the
	// unset ones), but envconfig only applies defaults to absent variables. envconfig also
	// parses list items and numbers untrimmed ("1s, 5s" fails on " 5s"), so those are
	// cleaned first. Every variable changed here is restored before Load returns.
	for f := range reflect.TypeFor[Config]().Fields() {
		name := f.Tag.Get("envconfig")
		value, ok := os.LookupEnv(name)
		if name == "" || !ok {
			continue
		}
		switch clean := cleanValue(f.Type.Kind(), value); {
		case strings.TrimSpace(value) == "":
			os.Unsetenv(name)
		case clean != value:
			os.Setenv(name, clean)
		default:
			continue
		}
		defer os.Setenv(name, value)
	}

	// envconfig stops at the first value it cannot parse. To report every bad variable at
	// once, each bad one is hidden in turn and the rest parsed again; all are restored.
	for range 64 {
		err := envconfig.Process("", &c)
		var perr *envconfig.ParseError
		if !errors.As(err, &perr) {
			if err != nil {
				errs = append(errs, fmt.Errorf("read environment: %w", err))
			}
			break
		}

		errs = append(errs, fmt.Errorf("%s: cannot parse %q as %s", perr.KeyName, perr.Value,
			perr.TypeName))
		value, _ := os.LookupEnv(perr.KeyName)
		if os.Unsetenv(perr.KeyName) != nil {
			break
		}
		defer os.Setenv(perr.KeyName, value)
	}

	c.ConfirmedStates = trimList(c.ConfirmedStates)
	c.RejectedStates = trimList(c.RejectedStates)
	return c, errors.Join(errs...)
}

// cleanValue is value as envconfig should parse it for a field of kind: list items and
// non-string values lose surrounding spaces, and empty list items are dropped. Plain
// strings (secrets among them) are kept byte for byte.
func cleanValue(kind reflect.Kind, value string) string {
	switch kind {
	case reflect.String:
		return value
	case reflect.Slice:
		return strings.Join(trimList(strings.Split(value, ",")), ",")
	default:
		return strings.TrimSpace(value)
	}
}

var clusterName = regexp.MustCompile(`^[a-z0-9-]+$`)

// Names lists every environment variable the configuration reads.
func Names() []string {
	t := reflect.TypeFor[Config]()
	names := make([]string, 0, t.NumField())
	for f := range t.Fields() {
		if name := f.Tag.Get("envconfig"); name != "" {
			names = append(names, name)
		}
	}
	return names
}

// Need says which parts of the configuration a command uses; only those are validated.
type Need struct {
	Pusher    bool // serve
	Reconcile bool // the reconcile command, or serve with RECONCILE_INTERVAL
}

// Validate reports every problem at once, each naming its variable.
func (c Config) Validate(need Need) error {
	var p problems
	if c.Port < 1 || c.Port > 65535 {
		p.add("PORT", "must be between 1 and 65535, got %d", c.Port)
	}
	c.validatePusher(&p, need.Pusher)
	c.validateAppwrite(&p, need.Reconcile || c.ReconcileInterval > 0)
	c.validateMapping(&p)
	c.validateQueue(&p)
	c.validateDelivery(&p)
	c.validateLogging(&p)
	return errors.Join(p...)
}

// problems collects what Validate finds, each naming its variable.
type problems []error

func (p *problems) add(name, format string, args ...any) {
	*p = append(*p, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
}

func (p *problems) require(reason string, vars ...[2]string) {
	for _, v := range vars {
		if strings.TrimSpace(v[1]) == "" {
			p.add(v[0], "%s", reason)
		}
	}
}

func (c Config) validatePusher(p *problems, required bool) {
	if required {
		p.require("is required", [2]string{"PUSHER_APP_ID", c.PusherAppID},
			[2]string{"PUSHER_KEY", c.PusherKey}, [2]string{"PUSHER_SECRET", c.PusherSecret})
		if c.PusherHost == "" && c.PusherCluster == "" {
			p.add("PUSHER_CLUSTER", "is required when PUSHER_HOST is empty")
		}
	}

	// Checked here because pusher-http-go only fails on them when it builds each request,
	// which would dead-letter every event as if each were at fault.
	if c.PusherCluster != "" && !clusterName.MatchString(c.PusherCluster) {
		p.add("PUSHER_CLUSTER", "must be a cluster name such as mt1 or eu, got %q", c.PusherCluster)
	}
	if c.PusherHost != "" {
		if u, err := url.Parse("https://" + c.PusherHost); err != nil || u.Host != c.PusherHost {
			p.add("PUSHER_HOST", "must be host or host:port, got %q", c.PusherHost)
		}
	}
}

func (c Config) validateAppwrite(p *problems, reconcile bool) {
	if (c.WebhookURL == "") != (c.WebhookSignatureKey == "") {
		p.add("APPWRITE_WEBHOOK_URL", "and APPWRITE_WEBHOOK_SIGNATURE_KEY must be set together")
	}
	if c.WebhookURL != "" {
		if u, err := url.Parse(c.WebhookURL); err != nil || u.Scheme == "" || u.Host == "" {
			p.add("APPWRITE_WEBHOOK_URL", "must be an absolute URL, as configured in Appwrite")
		}
	}
	if (c.WebhookUser == "") != (c.WebhookPassword == "") {
		p.add("APPWRITE_WEBHOOK_USER", "and APPWRITE_WEBHOOK_PASSWORD must be set together")
	}

	if reconcile {
		p.require("is required for reconcile",
			[2]string{"APPWRITE_ENDPOINT", c.AppwriteEndpoint},
			[2]string{"APPWRITE_PROJECT_ID", c.AppwriteProjectID},
			[2]string{"APPWRITE_API_KEY", c.AppwriteAPIKey},
			[2]string{"APPWRITE_DATABASE_ID", c.DatabaseID},
			[2]string{"APPWRITE_SALES_COLLECTION_ID", c.SalesCollectionID})
	}
	if c.ReconcileInterval < 0 {
		p.add("RECONCILE_INTERVAL", "must not be negative")
	}
}

func (c Config) validateMapping(p *problems) {
	if len(c.ConfirmedStates) == 0 {
		p.add("SALE_CONFIRMED_STATES", "must list at least one state")
	}
	if len(c.RejectedStates) == 0 {
		p.add("SALE_REJECTED_STATES", "must list at least one state")
	}
	for _, s := range c.ConfirmedStates {
		if slices.Contains(c.RejectedStates, s) {
			p.add("SALE_REJECTED_STATES", "state %q is also in SALE_CONFIRMED_STATES", s)
		}
	}
}

func (c Config) validateQueue(p *problems) {
	if c.NATSURL == "" {
		if _, _, err := net.SplitHostPort(c.NATSListen); err != nil {
			p.add("NATS_LISTEN", "must be host:port, got %q", c.NATSListen)
		}
		if c.StreamReplicas > 1 {
			p.add("STREAM_REPLICAS", "must be 1 with the embedded server (NATS_URL empty)")
		}
	}
	if c.StreamReplicas < 1 || c.StreamReplicas > 5 {
		p.add("STREAM_REPLICAS", "must be between 1 and 5, got %d", c.StreamReplicas)
	}
	if c.MaxBodyBytes < 1024 {
		p.add("MAX_BODY_BYTES", "must be at least 1024, got %d", c.MaxBodyBytes)
	}
	if c.EnqueueTimeout <= 0 || c.EnqueueTimeout >= 15*time.Second {
		p.add("ENQUEUE_TIMEOUT", "must be above 0 and below Appwrite's 15s, got %s",
			c.EnqueueTimeout)
	}
}

func (c Config) validateDelivery(p *problems) {
	if c.Workers < 1 || c.Workers > 1024 {
		p.add("WORKERS", "must be between 1 and 1024, got %d", c.Workers)
	}
	if c.MaxAttempts < 1 {
		p.add("MAX_ATTEMPTS", "must be at least 1, got %d", c.MaxAttempts)
	}
	if len(c.RetryBackoff) == 0 {
		p.add("RETRY_BACKOFF", "must list at least one duration")
	}
	for _, d := range c.RetryBackoff {
		if d <= 0 {
			p.add("RETRY_BACKOFF", "durations must be positive, got %s", d)
		}
	}
}

func (c Config) validateLogging(p *problems) {
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, strings.ToLower(c.LogLevel)) {
		p.add("LOG_LEVEL", "must be debug, info, warn or error, got %q", c.LogLevel)
	}
	if !slices.Contains([]string{"json", "text"}, strings.ToLower(c.LogFormat)) {
		p.add("LOG_FORMAT", "must be json or text, got %q", c.LogFormat)
	}
}

// Mapping is the document mapping the SALE_* variables describe.
func (c Config) Mapping() events.Mapping {
	return events.Mapping{
		StateField:    c.StateField,
		UserField:     c.UserField,
		AmountField:   c.AmountField,
		ProductsField: c.ProductsField,
		CauseField:    c.CauseField,
		Confirmed:     c.ConfirmedStates,
		Rejected:      c.RejectedStates,
		RejectedCause: c.RejectedCause,
	}
}

// AllowOrigins splits ALLOW_ORIGIN.
func (c Config) AllowOrigins() []string { return trimList(strings.Split(c.AllowOrigin, ",")) }

func trimList(in []string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
