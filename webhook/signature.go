package webhook

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"net/url"
)

// ErrBadSignature is returned when X-Appwrite-Webhook-Signature does not match the body.
var ErrBadSignature = errors.New("webhook signature does not match")

// Signer computes and checks Appwrite webhook signatures: base64(HMAC-SHA1(key, URL+body)).
type Signer struct {
	key  []byte
	urls []string // the configured URL, and its percent-decoded form when that differs
}

// NewSigner returns a Signer for the webhook URL exactly as configured in Appwrite.
// Released Appwrite servers sign the percent-decoded URL, so a URL holding % escapes is
// accepted in both forms.
func NewSigner(webhookURL, key string) Signer {
	s := Signer{key: []byte(key), urls: []string{webhookURL}}
	if decoded, err := url.PathUnescape(webhookURL); err == nil && decoded != webhookURL {
		s.urls = append(s.urls, decoded)
	}
	return s
}

// Sign returns the signature Appwrite sends for body, over the configured URL.
func (s Signer) Sign(body []byte) string { return s.sign(s.urls[0], body) }

// Verify checks signature against body in constant time. It returns ErrBadSignature when
// no accepted URL form matches.
func (s Signer) Verify(signature string, body []byte) error {
	got := []byte(signature)
	ok := false
	for _, u := range s.urls {
		// Every form is checked, so the time taken does not tell which one matched.
		if hmac.Equal(got, []byte(s.sign(u, body))) {
			ok = true
		}
	}
	if !ok {
		return ErrBadSignature
	}
	return nil
}

func (s Signer) sign(webhookURL string, body []byte) string {
	mac := hmac.New(sha1.New, s.key)
	mac.Write([]byte(webhookURL))
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
