package webhook_test

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/salerelay/salerelay/webhook"
)

// The test vector of SPEC §9.
const (
	vectorKey       = "test-signing-key"
	vectorURL       = "https://hooks.example.com/appwrite"
	vectorBody      = `{"$id":"sale123","status":"confirmed","$updatedAt":"2025-11-03T10:16:05.112+00:00"}`
	vectorSignature = "slnDsJ4DrI1lak3lbBFy+fuSFIs="
)

// appwriteSignature computes what Appwrite sends, independently of the code under test:
// base64(HMAC-SHA1(key, url + body)).
func appwriteSignature(key, url string, body []byte) string {
	mac := hmac.New(sha1.New, []byte(key))
	mac.Write([]byte(url))
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func TestSignatureTestVector(t *testing.T) {
	s := webhook.NewSigner(vectorURL, vectorKey)
	if got := s.Sign([]byte(vectorBody)); got != vectorSignature {
		t.Errorf("Sign = %q, want %q", got, vectorSignature)
	}
	if err := s.Verify(vectorSignature, []byte(vectorBody)); err != nil {
		t.Errorf("Verify(test vector) = %v, want nil", err)
	}
	if got := appwriteSignature(vectorKey, vectorURL, []byte(vectorBody)); got != vectorSignature {
		t.Fatalf("the test's own signer gives %q, want %q", got, vectorSignature)
	}
}

// TestSignatureRefusesChangedBytes proves the signature covers the raw bytes: a body that
// decodes to the same JSON but is encoded differently is refused.
func TestSignatureRefusesChangedBytes(t *testing.T) {
	const key = "fixture-signing-key"
	const url = "https://relay.example.com/webhooks/appwrite"
	// PHP's json_encode writes / as \/ and non-ASCII as \uXXXX.
	signed := []byte(`{"$id":"s1","note":"a\/b","name":"Buj\u00eda","buy_state":"VERIFIED"}`)
	sig := appwriteSignature(key, url, signed)
	s := webhook.NewSigner(url, key)

	if err := s.Verify(sig, signed); err != nil {
		t.Fatalf("Verify(signed body) = %v, want nil", err)
	}

	var decoded map[string]any
	if err := json.Unmarshal(signed, &decoded); err != nil {
		t.Fatal(err)
	}
	reencoded, _ := json.Marshal(decoded)

	tests := []struct {
		name string
		body string
	}{
		{"\\/ re-encoded as /", `{"$id":"s1","note":"a/b","name":"Buj\u00eda","buy_state":"VERIFIED"}`},
		{"\\u00ed re-encoded as UTF-8", `{"$id":"s1","note":"a\/b","name":"Bujía","buy_state":"VERIFIED"}`},
		{"whitespace added", `{"$id": "s1","note":"a\/b","name":"Buj\u00eda","buy_state":"VERIFIED"}`},
		{"trailing newline", string(signed) + "\n"},
		{"keys reordered", `{"note":"a\/b","$id":"s1","name":"Buj\u00eda","buy_state":"VERIFIED"}`},
		{"re-encoded by encoding/json", string(reencoded)},
		{"one value changed", `{"$id":"s1","note":"a\/b","name":"Buj\u00eda","buy_state":"DELETED"}`},
		{"empty body", ``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.Verify(sig, []byte(tt.body)); !errors.Is(err, webhook.ErrBadSignature) {
				t.Errorf("Verify = %v, want ErrBadSignature", err)
			}
		})
	}
}

func TestSignatureRefusesWrongSignatures(t *testing.T) {
	body := []byte(vectorBody)
	s := webhook.NewSigner(vectorURL, vectorKey)

	tests := []struct {
		name string
		sig  string
	}{
		{"empty", ""},
		{"another key", appwriteSignature("other-key", vectorURL, body)},
		{"another URL", appwriteSignature(vectorKey, vectorURL+"/", body)},
		{"http instead of https", appwriteSignature(vectorKey, "http://hooks.example.com/appwrite", body)},
		{"body only", appwriteSignature(vectorKey, "", body)},
		{"URL-safe base64", base64URLSafe(vectorSignature)},
		{"no padding", vectorSignature[:len(vectorSignature)-1]},
		{"surrounding spaces", " " + vectorSignature + " "},
		{"hex", "9679c3b09e03ac8d656a4de5701632f9fb92148b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.Verify(tt.sig, body); !errors.Is(err, webhook.ErrBadSignature) {
				t.Errorf("Verify(%q) = %v, want ErrBadSignature", tt.sig, err)
			}
		})
	}
}

func base64URLSafe(std string) string {
	raw, _ := base64.StdEncoding.DecodeString(std)
	return base64.URLEncoding.EncodeToString(raw)
}

// TestSignaturePercentEscapedURL: released Appwrite servers sign rawurldecode(URL), so both
// forms are accepted, and nothing else.
func TestSignaturePercentEscapedURL(t *testing.T) {
	body := []byte(vectorBody)
	tests := []struct {
		name     string
		url      string   // as configured
		accepted []string // URL forms whose signature is accepted
		refused  []string // URL forms whose signature is refused
	}{{
		name:     "escaped space and plus",
		url:      "https://hooks.example.com/app%20write?token=a%2Bb+c",
		accepted: []string{"https://hooks.example.com/app%20write?token=a%2Bb+c", "https://hooks.example.com/app write?token=a+b+c"},
		// Form decoding turns + into a space; rawurldecode does not.
		refused: []string{"https://hooks.example.com/app write?token=a+b c"},
	}, {
		name:     "lower-case escapes",
		url:      "https://hooks.example.com/caf%c3%a9",
		accepted: []string{"https://hooks.example.com/caf%c3%a9", "https://hooks.example.com/café"},
		refused:  []string{"https://hooks.example.com/caf%C3%A9"},
	}, {
		name: "a stray % next to an escape",
		url:  "https://hooks.example.com/a%20b?discount=100%",
		accepted: []string{"https://hooks.example.com/a%20b?discount=100%",
			"https://hooks.example.com/a b?discount=100%"},
	}, {
		name: "an invalid escape next to a valid one",
		url:  "https://hooks.example.com/%zz/%41",
		accepted: []string{"https://hooks.example.com/%zz/%41",
			"https://hooks.example.com/%zz/A"},
	}, {
		name:     "no escapes",
		url:      vectorURL,
		accepted: []string{vectorURL},
		refused:  []string{"https://hooks.example.com/appwrite%20"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := webhook.NewSigner(tt.url, vectorKey)
			for _, u := range tt.accepted {
				if err := s.Verify(appwriteSignature(vectorKey, u, body), body); err != nil {
					t.Errorf("signature over %q: %v, want accepted", u, err)
				}
			}
			for _, u := range tt.refused {
				err := s.Verify(appwriteSignature(vectorKey, u, body), body)
				if !errors.Is(err, webhook.ErrBadSignature) {
					t.Errorf("signature over %q: %v, want ErrBadSignature", u, err)
				}
			}

			// Sign gives what a released Appwrite server sends: over the decoded form.
			decoded := tt.accepted[len(tt.accepted)-1]
			if got, want := s.Sign(body), appwriteSignature(vectorKey, decoded, body); got != want {
				t.Errorf("Sign = %q, want the signature over %q, %q", got, decoded, want)
			}
		})
	}
}

func TestSignatureFixtures(t *testing.T) {
	fx := loadHookFixtures(t)

	s := webhook.NewSigner(fx.WebhookURL, fx.SignatureKey)
	for _, c := range fx.Cases {
		t.Run(c.Name, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join(hookFixtureDir, c.BodyFile))
			if err != nil {
				t.Fatalf("read body: %v", err)
			}
			err = s.Verify(c.Headers["X-Appwrite-Webhook-Signature"], body)
			if wantOK := c.Expect.Status != 401; wantOK && err != nil {
				t.Errorf("Verify = %v, want the fixture's signature accepted", err)
			} else if !wantOK && !errors.Is(err, webhook.ErrBadSignature) {
				t.Errorf("Verify = %v, want ErrBadSignature", err)
			}
		})
	}
}
