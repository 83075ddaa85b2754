package main

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/salerelay/salerelay/webhook"
)

// The database and collection the bench's sales live in; salerelay is configured to
// accept only these, so the filter runs as in production.
const (
	benchDatabase   = "shop"
	benchCollection = "sales"
	benchUsers      = 1000 // distinct customers, so events spread over channels
)

// sampleBody is ../shared/fixtures/webhooks/v18-update-verified.json with its sale id,
// user id and $updatedAt as format verbs: an Appwrite 1.8 update that verifies a sale.
const sampleBody = `{"$id":"%[1]s","date":"2026-11-20","currency":"USD","buy_state":"VERIFIED",` +
	`"products":"[{\"productId\":\"p-1001\",\"productName\":\"Filtro de aceite\",` +
	`\"quantity\":2,\"price\":5.25},{\"productId\":\"p-2002\",\"productName\":\"Bujia\",` +
	`\"quantity\":1,\"price\":6.0},{\"productId\":\"p-3003\",\"productName\":\"Junta\",` +
	`\"quantity\":1,\"price\":4.0}]","user_id":"%[2]s","delivery_type":"PICKUP",` +
	`"delivery_address":null,"sale_type":"NORMAL","stock_hold_applied":true,"amount":20.5,` +
	`"$sequence":17,"$createdAt":"2026-11-20T14:58:41.902+00:00","$updatedAt":"%[3]s",` +
	`"$permissions":["read(\"user:%[2]s\")","update(\"user:%[2]s\")"],` +
	`"$databaseId":"shop","$collectionId":"sales"}`

// sale is one signed webhook, ready to send.
type sale struct {
	id        string
	body      []byte
	signature string
	events    string // X-Appwrite-Webhook-Events
}

// salesFactory makes signed webhooks whose sale ids are unique to one run and phase, so
// a salerelay that already delivered other runs' sales treats them as new.
type salesFactory struct {
	runTag string // 6 hex digits, random per run
	signer webhook.Signer
}

// make returns count webhooks for phase (one letter). Sale ids are 20 characters like
// Appwrite's: the run tag, the phase and the index in hex.
func (f salesFactory) make(phase byte, count int) []sale {
	updated := time.Now().UTC().Format("2006-01-02T15:04:05.000+00:00")
	out := make([]sale, count)
	for i := range out {
		id := fmt.Sprintf("%s%c%013x", f.runTag, phase, i)
		user := fmt.Sprintf("%s%014x", f.runTag, i%benchUsers)
		body := []byte(fmt.Sprintf(sampleBody, id, user, updated))
		out[i] = sale{id: id, body: body, signature: f.signer.Sign(body),
			events: eventsHeader(benchDatabase, benchCollection, id, "update")}
	}
	return out
}

// header returns the headers Appwrite 1.8 sends with a database webhook.
func (s sale) header() http.Header {
	return http.Header{
		"Content-Type":                  {"application/json"},
		"User-Agent":                    {"Appwrite-Server v1.8.1. Please report abuse at security@appwrite.io"},
		"X-Appwrite-Webhook-Id":         {"wh_sales_bench"},
		"X-Appwrite-Webhook-Events":     {s.events},
		"X-Appwrite-Webhook-Name":       {"sales to salerelay"},
		"X-Appwrite-Webhook-Project-Id": {"bench"},
		"X-Appwrite-Webhook-Signature":  {s.signature},
		"X-Appwrite-Webhook-User-Id":    {"66a1f0c2001d9be4e8a1"},
	}
}

// eventsHeader builds the 42-entry event list Appwrite 1.8 sends for one document change
// (documents and rows spellings, every wildcard combination), most specific first.
func eventsHeader(db, coll, id, action string) string {
	scopes := [][3]string{
		{db, coll, id}, {"*", "*", "*"}, {db, "*", id}, {"*", "*", id},
		{"*", coll, id}, {db, coll, "*"}, {"*", coll, "*"}, {db, "*", "*"},
	}
	var list []string
	for _, suffix := range []string{"." + action, ""} {
		for _, s := range scopes {
			list = append(list,
				fmt.Sprintf("databases.%s.collections.%s.documents.%s%s", s[0], s[1], s[2], suffix),
				fmt.Sprintf("databases.%s.tables.%s.rows.%s%s", s[0], s[1], s[2], suffix))
		}
	}
	for _, s := range [][2]string{{db, coll}, {"*", "*"}, {db, "*"}, {"*", coll}} {
		list = append(list, fmt.Sprintf("databases.%s.collections.%s", s[0], s[1]),
			fmt.Sprintf("databases.%s.tables.%s", s[0], s[1]))
	}
	list = append(list, "databases."+db, "databases.*")
	return strings.Join(list, ",")
}
