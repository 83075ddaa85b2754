package webhook

import "strings"

// Action is the kind of change an Appwrite database event reports.
type Action string

// Actions Appwrite sends for documents (rows).
const (
	ActionCreate  Action = "create"
	ActionUpdate  Action = "update"
	ActionUpsert  Action = "upsert"
	ActionDelete  Action = "delete"
	ActionUnknown Action = ""
)

// ParseAction reads the action from X-Appwrite-Webhook-Events. Its first entry is the
// fully resolved event, such as databases.shop.collections.sales.documents.ID.update or
// tablesdb.shop.tables.sales.rows.ID.update; its last segment is the action. Entries
// that are not document or row events give ActionUnknown.
func ParseAction(header string) Action {
	first, _, _ := strings.Cut(header, ",")
	first = strings.TrimSpace(first)
	if !strings.HasPrefix(first, "databases.") && !strings.HasPrefix(first, "tablesdb.") {
		return ActionUnknown
	}
	if !strings.Contains(first, ".documents.") && !strings.Contains(first, ".rows.") {
		return ActionUnknown
	}

	switch a := Action(first[strings.LastIndexByte(first, '.')+1:]); a {
	case ActionCreate, ActionUpdate, ActionUpsert, ActionDelete:
		return a
	default:
		return ActionUnknown
	}
}
