package webhook_test

import (
	"testing"

	"github.com/salerelay/salerelay/webhook"
)

func TestParseAction(t *testing.T) {
	tests := []struct {
		name   string
		header string
		want   webhook.Action
	}{
		{"collections update", "databases.shop.collections.sales.documents.69c9.update", webhook.ActionUpdate},
		{"collections create", "databases.shop.collections.sales.documents.69c9.create", webhook.ActionCreate},
		{"collections upsert", "databases.shop.collections.sales.documents.69c9.upsert", webhook.ActionUpsert},
		{"collections delete", "databases.shop.collections.sales.documents.69c9.delete", webhook.ActionDelete},
		{"tables under databases.", "databases.shop.tables.sales.rows.69c9.update", webhook.ActionUpdate},
		{"tablesdb. rows create", "tablesdb.shop.tables.sales.rows.69c9.create", webhook.ActionCreate},
		{"tablesdb. rows upsert", "tablesdb.shop.tables.sales.rows.69c9.upsert", webhook.ActionUpsert},
		{"tablesdb. rows delete", "tablesdb.shop.tables.sales.rows.69c9.delete", webhook.ActionDelete},
		{"ids holding dots", "databases.shop.collections.sales.v2.documents.a.b.update", webhook.ActionUpdate},
		{"spaces around the entry", "  databases.shop.collections.sales.documents.69c9.update ,x", webhook.ActionUpdate},

		{"only the first entry counts", "databases.shop.collections.sales.documents.69c9.delete," +
			"databases.shop.collections.sales.documents.69c9.update", webhook.ActionDelete},
		{"a wildcard later does not help", "users.42.update," +
			"databases.*.collections.*.documents.*.update", webhook.ActionUnknown},
		{"the first entry decides over later rows", "databases.shop.collections.sales.documents.1.create," +
			"databases.shop.tables.sales.rows.1.update", webhook.ActionCreate},

		{"empty", "", webhook.ActionUnknown},
		{"blank", "   ", webhook.ActionUnknown},
		{"empty first entry", ",databases.shop.collections.sales.documents.1.update", webhook.ActionUnknown},
		{"junk", "not-an-event", webhook.ActionUnknown},
		{"unknown action", "databases.shop.collections.sales.documents.69c9.archive", webhook.ActionUnknown},
		{"action in upper case", "databases.shop.collections.sales.documents.69c9.UPDATE", webhook.ActionUnknown},
		{"no action", "databases.shop.collections.sales.documents.69c9", webhook.ActionUnknown},
		{"collection event", "databases.shop.collections.sales.update", webhook.ActionUnknown},
		{"attribute event", "databases.shop.collections.sales.attributes.price.create", webhook.ActionUnknown},
		{"another service", "users.42.sessions.7.create", webhook.ActionUnknown},
		{"storage files", "buckets.b1.files.f1.create", webhook.ActionUnknown},
		{"prefix without dot", "databasesX.shop.collections.sales.documents.1.update", webhook.ActionUnknown},
		{"trailing dot", "databases.shop.collections.sales.documents.1.", webhook.ActionUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := webhook.ParseAction(tt.header); got != tt.want {
				t.Errorf("ParseAction(%q) = %q, want %q", tt.header, got, tt.want)
			}
		})
	}
}
