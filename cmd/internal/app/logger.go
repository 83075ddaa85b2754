package app

import (
	"io"
	"log/slog"
	"strings"
)

// NewLogger returns the process logger for LOG_LEVEL and LOG_FORMAT: JSON lines by
// default, key=value text for LOG_FORMAT=text (either spelling case-insensitive). A level
// it cannot read means info; config.Validate refuses such values before this is called.
//
// Every component logs with the same snake_case keys (sale_id, decision, attempt, reason,
// err, source, dlq_id, class) and never logs secrets, signatures or whole payloads.
func NewLogger(w io.Writer, level, format string) *slog.Logger {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		lvl = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lvl}
	if strings.EqualFold(format, "text") {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
