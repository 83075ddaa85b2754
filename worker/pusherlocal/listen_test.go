package pusherlocal

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/pusher/pusher-http-go/v5"
)

func TestStartServesUntilClose(t *testing.T) {
	srv := New(Config{AppID: testAppID, Key: testKey, Secret: testSecret})
	addr, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	client := &pusher.Client{AppID: testAppID, Key: testKey, Secret: testSecret,
		Host: addr, HTTPClient: &http.Client{Timeout: 5 * time.Second}}

	if err := client.Trigger("c", "e", "{}"); err != nil {
		t.Fatalf("Trigger on %s: %v", addr, err)
	}
	if _, err := srv.Start("127.0.0.1:0"); !errors.Is(err, ErrAlreadyStarted) {
		t.Errorf("second Start error = %v, want ErrAlreadyStarted", err)
	}

	if err := srv.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := client.Trigger("c", "e", "{}"); err == nil {
		t.Errorf("Trigger after Close succeeded, want a connection error")
	}
	if err := srv.Close(); err != nil {
		t.Errorf("second Close: %v, want nil", err)
	}
}
