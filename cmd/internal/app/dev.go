package app

import (
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/salerelay/salerelay/cmd/internal/config"
	"github.com/salerelay/salerelay/webhook"
	"github.com/salerelay/salerelay/worker/pusherlocal"
)

// Fixed credentials of `salerelay dev`. They only ever reach the local stand-in.
const (
	DevPusherAppID  = "dev-app"
	DevPusherKey    = "dev-key"
	DevPusherSecret = "dev-secret"
	DevSigningKey   = "dev-signing-key"
	DevPublisherKey = "dev-publisher-key"
	DevAdminToken   = "dev-admin-token"
)

// DevConfig turns cfg into the all-local configuration of `salerelay dev`: embedded
// JetStream, the Pusher stand-in at pusherHost and the fixed dev credentials.
func DevConfig(cfg config.Config, pusherHost string) config.Config {
	cfg.NATSURL = ""
	cfg.StreamReplicas = 1
	cfg.PusherAppID, cfg.PusherKey, cfg.PusherSecret = DevPusherAppID, DevPusherKey, DevPusherSecret
	cfg.PusherHost, cfg.PusherTLS = pusherHost, false
	cfg.WebhookURL = fmt.Sprintf("http://localhost:%d/webhooks/appwrite", cfg.Port)
	cfg.WebhookSignatureKey = DevSigningKey
	cfg.WebhookUser, cfg.WebhookPassword = "", ""
	cfg.PublisherAPIKey = DevPublisherKey
	cfg.AdminToken = DevAdminToken
	cfg.RetryBackoff = []time.Duration{time.Second, 2 * time.Second, 5 * time.Second}
	if cfg.LogFormat == "json" {
		cfg.LogFormat = "text"
	}
	return cfg
}

// StartDevPusher starts the local Pusher stand-in, printing each event it accepts to out.
func StartDevPusher(out io.Writer) (*pusherlocal.Server, string, error) {
	srv := pusherlocal.New(pusherlocal.Config{
		AppID: DevPusherAppID, Key: DevPusherKey, Secret: DevPusherSecret, Out: out,
	})
	host, err := srv.Start("127.0.0.1:0")
	if err != nil {
		return nil, "", fmt.Errorf("start local pusher: %w", err)
	}
	return srv, host, nil
}

// PrintDevBanner tells a new user what runs and gives a signed sample webhook to paste.
func PrintDevBanner(w io.Writer, cfg config.Config) {
	now := time.Now().UTC()
	saleID := "devsale" + strconv.FormatInt(now.Unix(), 36)
	body := fmt.Sprintf(`{"$id":"%s","buy_state":"VERIFIED","user_id":"devuser1",`+
		`"amount":20.5,"products":"[{\"productId\":\"p-1\",\"quantity\":3,\"price\":5}]",`+
		`"$updatedAt":"%s","$databaseId":"shop","$collectionId":"sales"}`,
		saleID, now.Format("2006-01-02T15:04:05.000+00:00"))
	sig := webhook.NewSigner(cfg.WebhookURL, cfg.WebhookSignatureKey).Sign([]byte(body))

	fmt.Fprintf(w, `
salerelay dev: embedded JetStream in %s, local Pusher stand-in at %s
  Pusher app / key / secret:   %s / %s / %s
  webhook URL / signature key: %s / %s
  publisher API key:           %s
  admin token:                 %s

Paste this in another terminal; the sale:confirmed event is printed here:

curl -sS -X POST %s \
  -H 'Content-Type: application/json' \
  -H 'X-Appwrite-Webhook-Events: databases.shop.collections.sales.documents.%s.update' \
  -H 'X-Appwrite-Webhook-Signature: %s' \
  --data '%s'

`, cfg.DataDir, cfg.PusherHost, cfg.PusherAppID, cfg.PusherKey, cfg.PusherSecret,
		cfg.WebhookURL, cfg.WebhookSignatureKey, cfg.PublisherAPIKey, cfg.AdminToken,
		cfg.WebhookURL, saleID, sig, body)
}
