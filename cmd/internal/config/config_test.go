package config_test

import (
	"errors"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/salerelay/salerelay/cmd/internal/config"
	"github.com/salerelay/salerelay/events"
)

// unsetConfigEnv removes every variable the configuration reads for the rest of the test,
// so that the machine's environment cannot leak in.
func unsetConfigEnv(t *testing.T) {
	t.Helper()
	for _, name := range config.Names() {
		t.Setenv(name, "") // restores the original value when the test ends
		os.Unsetenv(name)
	}
}

// setEnv sets each NAME=value of vars for the rest of the test.
func setEnv(t *testing.T, vars map[string]string) {
	t.Helper()
	for name, value := range vars {
		t.Setenv(name, value)
	}
}

// load runs Load and Validate the way cmd/salerelay does and returns both results.
func load(t *testing.T, need config.Need) (config.Config, error) {
	t.Helper()
	cfg, err := config.Load()
	return cfg, errors.Join(err, cfg.Validate(need))
}

func mustLoad(t *testing.T) config.Config {
	t.Helper()
	cfg, err := config.Load()
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return cfg
}

// defaultConfig is what Load returns with no variable set (SPEC §6).
func defaultConfig() config.Config {
	return config.Config{
		Port:              3000,
		PusherCluster:     "mt1",
		PusherTLS:         true,
		PusherSaleChannel: "sale-verification-",
		AllowOrigin:       "*",
		StateField:        "buy_state",
		UserField:         "user_id",
		AmountField:       "amount",
		ProductsField:     "products",
		ConfirmedStates:   []string{"VERIFIED"},
		RejectedStates:    []string{"DELETED"},
		RejectedCause:     "rejected_by_operator",
		DataDir:           "./data",
		NATSListen:        "127.0.0.1:4222",
		StreamReplicas:    1,
		Workers:           16,
		MaxAttempts:       10,
		RetryBackoff: []time.Duration{time.Second, 5 * time.Second, 30 * time.Second,
			2 * time.Minute, 5 * time.Minute},
		MaxBodyBytes:   1 << 20,
		EnqueueTimeout: 10 * time.Second,
		LogLevel:       "info",
		LogFormat:      "json",
	}
}

func TestLoadDefaults(t *testing.T) {
	unsetConfigEnv(t)
	got := mustLoad(t)
	if want := defaultConfig(); !reflect.DeepEqual(got, want) {
		t.Errorf("Load with nothing set:\n got %+v\nwant %+v", got, want)
	}
	if err := got.Validate(config.Need{}); err != nil {
		t.Errorf("Validate(defaults) = %v, want nil", err)
	}
}

func TestLoadEmptyVariableTakesItsDefault(t *testing.T) {
	unsetConfigEnv(t)
	for _, name := range config.Names() {
		t.Setenv(name, "")
	}
	t.Setenv("PUSHER_CLUSTER", "   ")
	t.Setenv("WORKERS", " ")

	got := mustLoad(t)
	if want := defaultConfig(); !reflect.DeepEqual(got, want) {
		t.Errorf("Load with every variable empty:\n got %+v\nwant %+v", got, want)
	}
	if value, ok := os.LookupEnv("PORT"); !ok || value != "" {
		t.Errorf("after Load, PORT = %q (set %v), want it restored to \"\"", value, ok)
	}
	if value := os.Getenv("WORKERS"); value != " " {
		t.Errorf("after Load, WORKERS = %q, want it restored to \" \"", value)
	}
}

func TestLoadTrimsListsAndNumbers(t *testing.T) {
	unsetConfigEnv(t)
	setEnv(t, map[string]string{
		"SALE_CONFIRMED_STATES": " VERIFIED , PAID,",
		"SALE_REJECTED_STATES":  "DELETED,  CANCELLED ",
		"RETRY_BACKOFF":         "1s, 5s ,30s, 2m,",
		"ALLOW_ORIGIN":          "https://a.example, https://b.example ,",
		"PORT":                  " 8080 ",
		"WORKERS":               "4 ",
		"PUSHER_TLS":            " false",
		"RECONCILE_INTERVAL":    " 10m",
		"PUSHER_SECRET":         " spaced secret ",
	})

	got := mustLoad(t)
	checks := []struct {
		name      string
		got, want any
	}{
		{"SALE_CONFIRMED_STATES", got.ConfirmedStates, []string{"VERIFIED", "PAID"}},
		{"SALE_REJECTED_STATES", got.RejectedStates, []string{"DELETED", "CANCELLED"}},
		{"RETRY_BACKOFF", got.RetryBackoff, []time.Duration{time.Second, 5 * time.Second,
			30 * time.Second, 2 * time.Minute}},
		{"ALLOW_ORIGIN", got.AllowOrigins(), []string{"https://a.example", "https://b.example"}},
		{"PORT", got.Port, 8080},
		{"WORKERS", got.Workers, 4},
		{"PUSHER_TLS", got.PusherTLS, false},
		{"RECONCILE_INTERVAL", got.ReconcileInterval, 10 * time.Minute},
		// Strings are kept byte for byte: a secret is never altered.
		{"PUSHER_SECRET", got.PusherSecret, " spaced secret "},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
		}
	}
	if v := os.Getenv("RETRY_BACKOFF"); v != "1s, 5s ,30s, 2m," {
		t.Errorf("after Load, RETRY_BACKOFF = %q, want the original value restored", v)
	}
}

// namedVariables returns the variable each line of err names, failing the test for a
// line that names none.
func namedVariables(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	known := config.Names()
	var names []string
	for line := range strings.SplitSeq(err.Error(), "\n") {
		name, _, ok := strings.Cut(line, ":")
		if !ok || !slices.Contains(known, name) {
			t.Errorf("error line %q does not start with a variable name", line)
			continue
		}
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

func TestLoadReportsEveryBadVariable(t *testing.T) {
	unsetConfigEnv(t)
	bad := map[string]string{
		"PORT":               "abc",
		"WORKERS":            "many",
		"PUSHER_TLS":         "maybe",
		"RETRY_BACKOFF":      "1s,soon",
		"RECONCILE_INTERVAL": "daily",
		"MAX_BODY_BYTES":     "1MB",
		"STREAM_REPLICAS":    "three",
		"ENQUEUE_TIMEOUT":    "10",
		"MAX_ATTEMPTS":       "-",
		"LOG_LEVEL":          "loud",
		"LOG_FORMAT":         "xml",
	}
	setEnv(t, bad)

	_, err := load(t, config.Need{Pusher: true})
	if err == nil {
		t.Fatal("Load+Validate = nil, want every bad variable reported")
	}
	want := []string{"PUSHER_APP_ID", "PUSHER_KEY", "PUSHER_SECRET"}
	for name := range bad {
		want = append(want, name)
	}
	slices.Sort(want)
	if got := namedVariables(t, err); !slices.Equal(got, want) {
		t.Errorf("variables named:\n got %v\nwant %v\nerror:\n%v", got, want, err)
	}

	for name, value := range bad {
		if got := os.Getenv(name); got != value {
			t.Errorf("after Load, %s = %q, want %q restored", name, got, value)
		}
	}
}

func TestValidate(t *testing.T) {
	unsetConfigEnv(t)
	base := mustLoad(t)

	withPusher := func(c *config.Config) {
		c.PusherAppID, c.PusherKey, c.PusherSecret = "123", "key", "secret"
	}
	withReconcile := func(c *config.Config) {
		c.AppwriteEndpoint = "https://cloud.appwrite.io/v1"
		c.AppwriteProjectID, c.AppwriteAPIKey = "proj", "api-key"
		c.DatabaseID, c.SalesCollectionID = "shop", "sales"
	}
	reconcileVars := []string{"APPWRITE_API_KEY", "APPWRITE_DATABASE_ID", "APPWRITE_ENDPOINT",
		"APPWRITE_PROJECT_ID", "APPWRITE_SALES_COLLECTION_ID"}

	tests := []struct {
		name   string
		need   config.Need
		change func(c *config.Config)
		want   []string // variables the error names, sorted; nil for no error
	}{
		{name: "defaults, nothing needed", change: func(*config.Config) {}},
		{name: "serve without Pusher credentials", need: config.Need{Pusher: true},
			change: func(*config.Config) {},
			want:   []string{"PUSHER_APP_ID", "PUSHER_KEY", "PUSHER_SECRET"}},
		{name: "serve with Pusher credentials", need: config.Need{Pusher: true},
			change: withPusher},
		{name: "blank Pusher secret", need: config.Need{Pusher: true},
			change: func(c *config.Config) { withPusher(c); c.PusherSecret = "  " },
			want:   []string{"PUSHER_SECRET"}},
		{name: "Pusher credentials not needed", change: func(c *config.Config) { c.PusherKey = "k" }},
		{name: "no cluster and no host", need: config.Need{Pusher: true},
			change: func(c *config.Config) { withPusher(c); c.PusherCluster = "" },
			want:   []string{"PUSHER_CLUSTER"}},
		{name: "host instead of cluster", need: config.Need{Pusher: true},
			change: func(c *config.Config) {
				withPusher(c)
				c.PusherCluster, c.PusherHost = "", "127.0.0.1:6001"
			}},

		{name: "webhook URL without key",
			change: func(c *config.Config) { c.WebhookURL = "https://relay.example.com/hook" },
			want:   []string{"APPWRITE_WEBHOOK_URL"}},
		{name: "webhook key without URL",
			change: func(c *config.Config) { c.WebhookSignatureKey = "k" },
			want:   []string{"APPWRITE_WEBHOOK_URL"}},
		{name: "webhook URL and key", change: func(c *config.Config) {
			c.WebhookURL, c.WebhookSignatureKey = "https://relay.example.com/hook", "k"
		}},
		{name: "webhook URL not absolute", change: func(c *config.Config) {
			c.WebhookURL, c.WebhookSignatureKey = "relay.example.com/hook", "k"
		}, want: []string{"APPWRITE_WEBHOOK_URL"}},
		{name: "webhook user without password",
			change: func(c *config.Config) { c.WebhookUser = "appwrite" },
			want:   []string{"APPWRITE_WEBHOOK_USER"}},
		{name: "webhook password without user",
			change: func(c *config.Config) { c.WebhookPassword = "pw" },
			want:   []string{"APPWRITE_WEBHOOK_USER"}},
		{name: "webhook user and password", change: func(c *config.Config) {
			c.WebhookUser, c.WebhookPassword = "appwrite", "pw"
		}},

		{name: "reconcile without Appwrite", need: config.Need{Reconcile: true},
			change: func(*config.Config) {}, want: reconcileVars},
		{name: "reconcile interval without Appwrite",
			change: func(c *config.Config) { c.ReconcileInterval = 5 * time.Minute },
			want:   reconcileVars},
		{name: "reconcile with Appwrite", need: config.Need{Reconcile: true}, change: withReconcile},
		{name: "reconcile without collection", need: config.Need{Reconcile: true},
			change: func(c *config.Config) { withReconcile(c); c.SalesCollectionID = "" },
			want:   []string{"APPWRITE_SALES_COLLECTION_ID"}},
		{name: "negative reconcile interval",
			change: func(c *config.Config) { c.ReconcileInterval = -time.Minute },
			want:   []string{"RECONCILE_INTERVAL"}},

		{name: "3 replicas on the embedded server",
			change: func(c *config.Config) { c.StreamReplicas = 3 },
			want:   []string{"STREAM_REPLICAS"}},
		{name: "3 replicas on a cluster", change: func(c *config.Config) {
			c.StreamReplicas, c.NATSURL = 3, "nats://n1:4222,nats://n2:4222,nats://n3:4222"
		}},
		{name: "0 replicas", change: func(c *config.Config) { c.StreamReplicas = 0 },
			want: []string{"STREAM_REPLICAS"}},
		{name: "7 replicas on a cluster", change: func(c *config.Config) {
			c.StreamReplicas, c.NATSURL = 7, "nats://n1:4222"
		}, want: []string{"STREAM_REPLICAS"}},
		{name: "NATS_LISTEN without port",
			change: func(c *config.Config) { c.NATSListen = "localhost" },
			want:   []string{"NATS_LISTEN"}},
		{name: "NATS_LISTEN unused with NATS_URL", change: func(c *config.Config) {
			c.NATSListen, c.NATSURL = "localhost", "nats://n1:4222"
		}},

		{name: "LOG_LEVEL unknown", change: func(c *config.Config) { c.LogLevel = "verbose" },
			want: []string{"LOG_LEVEL"}},
		{name: "LOG_LEVEL in capitals", change: func(c *config.Config) { c.LogLevel = "DEBUG" }},
		{name: "LOG_FORMAT unknown", change: func(c *config.Config) { c.LogFormat = "xml" },
			want: []string{"LOG_FORMAT"}},
		{name: "LOG_FORMAT text", change: func(c *config.Config) { c.LogFormat = "TEXT" }},

		{name: "PORT 0", change: func(c *config.Config) { c.Port = 0 }, want: []string{"PORT"}},
		{name: "PORT 70000", change: func(c *config.Config) { c.Port = 70000 }, want: []string{"PORT"}},
		{name: "WORKERS 0", change: func(c *config.Config) { c.Workers = 0 }, want: []string{"WORKERS"}},
		{name: "MAX_ATTEMPTS 0", change: func(c *config.Config) { c.MaxAttempts = 0 },
			want: []string{"MAX_ATTEMPTS"}},
		{name: "RETRY_BACKOFF empty", change: func(c *config.Config) { c.RetryBackoff = nil },
			want: []string{"RETRY_BACKOFF"}},
		{name: "RETRY_BACKOFF negative", change: func(c *config.Config) {
			c.RetryBackoff = []time.Duration{time.Second, -time.Second}
		}, want: []string{"RETRY_BACKOFF"}},
		{name: "MAX_BODY_BYTES tiny", change: func(c *config.Config) { c.MaxBodyBytes = 100 },
			want: []string{"MAX_BODY_BYTES"}},
		{name: "ENQUEUE_TIMEOUT at Appwrite's 15s",
			change: func(c *config.Config) { c.EnqueueTimeout = 15 * time.Second },
			want:   []string{"ENQUEUE_TIMEOUT"}},
		{name: "ENQUEUE_TIMEOUT 0", change: func(c *config.Config) { c.EnqueueTimeout = 0 },
			want: []string{"ENQUEUE_TIMEOUT"}},
		{name: "no confirmed state", change: func(c *config.Config) { c.ConfirmedStates = nil },
			want: []string{"SALE_CONFIRMED_STATES"}},
		{name: "a state both confirmed and rejected", change: func(c *config.Config) {
			c.RejectedStates = []string{"DELETED", "VERIFIED"}
		}, want: []string{"SALE_REJECTED_STATES"}},

		{name: "several problems at once", need: config.Need{Pusher: true},
			change: func(c *config.Config) {
				c.PusherKey = "k"
				c.Port, c.Workers, c.LogFormat, c.StreamReplicas = -1, 0, "yaml", 2
			},
			want: []string{"LOG_FORMAT", "PORT", "PUSHER_APP_ID", "PUSHER_SECRET",
				"STREAM_REPLICAS", "WORKERS"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			c.ConfirmedStates = slices.Clone(base.ConfirmedStates)
			c.RejectedStates = slices.Clone(base.RejectedStates)
			c.RetryBackoff = slices.Clone(base.RetryBackoff)
			tt.change(&c)

			err := c.Validate(tt.need)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if got := namedVariables(t, err); !slices.Equal(got, tt.want) {
				t.Errorf("variables named:\n got %v\nwant %v\nerror:\n%v", got, tt.want, err)
			}
		})
	}
}

func TestValidateListsProblemsInAStableOrder(t *testing.T) {
	unsetConfigEnv(t)
	c := mustLoad(t)
	c.ReconcileInterval = time.Minute

	first := c.Validate(config.Need{Pusher: true, Reconcile: true}).Error()
	for range 20 {
		if got := c.Validate(config.Need{Pusher: true, Reconcile: true}).Error(); got != first {
			t.Fatalf("Validate changed its order:\n%s\nthen\n%s", first, got)
		}
	}
}

// TestErrorsNeverShowSecrets sets every secret to a recognizable value next to problems
// that concern those very variables, and searches the error text for them.
func TestErrorsNeverShowSecrets(t *testing.T) {
	secrets := map[string]string{
		"PUSHER_KEY":                     "pusher-key-SENTINEL-1",
		"PUSHER_SECRET":                  "pusher-secret-SENTINEL-2",
		"APPWRITE_WEBHOOK_SIGNATURE_KEY": "signature-key-SENTINEL-3",
		"APPWRITE_WEBHOOK_PASSWORD":      "hook-password-SENTINEL-4",
		"APPWRITE_API_KEY":               "appwrite-api-key-SENTINEL-5",
		"PUBLISHER_API_KEY":              "publisher-key-SENTINEL-6",
		"ADMIN_TOKEN":                    "admin-token-SENTINEL-7",
	}
	tests := []struct {
		name  string
		other map[string]string
	}{{
		name: "secrets without their partners",
		other: map[string]string{
			"NATS_URL":        "nats://relay:nats-password-SENTINEL-8@nats.internal:4222",
			"STREAM_REPLICAS": "9",
			"PORT":            "not-a-port",
		},
	}, {
		name: "webhook URL holding a token",
		other: map[string]string{
			"APPWRITE_WEBHOOK_URL": "relay.example.com/hook?token=url-token-SENTINEL-9",
			"LOG_LEVEL":            "chatty",
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			unsetConfigEnv(t)
			setEnv(t, secrets)
			setEnv(t, tt.other)

			_, err := load(t, config.Need{Pusher: true, Reconcile: true})
			if err == nil {
				t.Fatal("Load+Validate = nil, want problems reported")
			}
			text := err.Error()
			if strings.Contains(text, "SENTINEL") {
				t.Errorf("error text shows a secret:\n%s", text)
			}
			namedVariables(t, err)
		})
	}
}

func TestMappingFromConfig(t *testing.T) {
	unsetConfigEnv(t)
	setEnv(t, map[string]string{
		"SALE_STATE_FIELD":      "estado",
		"SALE_USER_FIELD":       "cliente",
		"SALE_AMOUNT_FIELD":     "total",
		"SALE_PRODUCTS_FIELD":   "items",
		"SALE_CONFIRMED_STATES": "OK, PAID",
		"SALE_REJECTED_STATES":  "KO",
		"SALE_CAUSE_FIELD":      "motivo",
		"SALE_REJECTED_CAUSE":   "rechazada",
	})
	got := mustLoad(t).Mapping()
	want := events.Mapping{
		StateField: "estado", UserField: "cliente", AmountField: "total", ProductsField: "items",
		CauseField: "motivo", Confirmed: []string{"OK", "PAID"}, Rejected: []string{"KO"},
		RejectedCause: "rechazada",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Mapping() = %+v, want %+v", got, want)
	}

	unsetConfigEnv(t)
	if got, want := mustLoad(t).Mapping(), events.DefaultMapping(); !reflect.DeepEqual(got, want) {
		t.Errorf("Mapping() with defaults = %+v, want DefaultMapping %+v", got, want)
	}
}

// TestValidateRejectsUnusablePusherHost catches values pusher-http-go could not build a
// URL from: every event would otherwise be dead-lettered as if it were at fault.
func TestValidateRejectsUnusablePusherHost(t *testing.T) {
	tests := []struct {
		name, cluster, host, wantVar string
	}{
		{"cluster with a space", "eu ", "", "PUSHER_CLUSTER"},
		{"cluster with a dot", "eu.x", "", "PUSHER_CLUSTER"},
		{"host with a space", "mt1", "127.0.0.1 :6001", "PUSHER_HOST"},
		{"host with a path", "mt1", "example.com/x", "PUSHER_HOST"},
		{"host with a scheme", "mt1", "http://example.com", "PUSHER_HOST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("PUSHER_APP_ID", "1")
			t.Setenv("PUSHER_KEY", "k")
			t.Setenv("PUSHER_SECRET", "s")
			t.Setenv("PUSHER_CLUSTER", tt.cluster)
			t.Setenv("PUSHER_HOST", tt.host)
			cfg, err := config.Load()
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			err = cfg.Validate(config.Need{Pusher: true})
			if err == nil || !strings.Contains(err.Error(), tt.wantVar) {
				t.Errorf("Validate() = %v, want an error naming %s", err, tt.wantVar)
			}
		})
	}

	for _, host := range []string{"127.0.0.1:6001", "soketi:6001", "api-eu.pusher.com"} {
		t.Setenv("PUSHER_APP_ID", "1")
		t.Setenv("PUSHER_KEY", "k")
		t.Setenv("PUSHER_SECRET", "s")
		t.Setenv("PUSHER_HOST", host)
		cfg, _ := config.Load()
		if err := cfg.Validate(config.Need{Pusher: true}); err != nil {
			t.Errorf("PUSHER_HOST=%s: Validate() = %v, want nil", host, err)
		}
	}
}
