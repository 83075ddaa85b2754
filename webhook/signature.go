package webhook

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
)

// ErrBadSignature is returned when X-Appwrite-Webhook-Signature does not match the body.
var ErrBadSignature = errors.New("webhook signature does not match")

// Signer computes and checks Appwrite webhook signatures: base64(HMAC-SHA1(key, URL+body)).
type Signer struct {
	key  []byte
	urls []string // the configured URL, and its percent-decoded form when that differs
}

// NewSigner returns a Signer for the webhook URL exactly as configured in Appwrite.
// Released Appwrite servers sign the percent-decoded URL (PHP rawurldecode), so a URL
// holding % escapes is accepted in both forms.
func NewSigner(webhookURL, key string) Signer {
	s := Signer{key: []byte(key), urls: []string{webhookURL}}
	if decoded := rawURLDecode(webhookURL); decoded != webhookURL {
		s.urls = append(s.urls, decoded)
	}
	return s
}

// Sign returns the signature a released Appwrite server sends for body: over the
// percent-decoded URL, which is the configured URL itself when it holds no % escapes.
func (s Signer) Sign(body []byte) string { return s.sign(s.urls[len(s.urls)-1], body) }

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

// rawURLDecode decodes %XX escapes the way PHP's rawurldecode does: a '+' stays a '+' and
// a '%' not followed by two hex digits is kept as it is. url.PathUnescape would instead
// refuse the whole URL over one stray '%', and Appwrite's signature would never match.
func rawURLDecode(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			hi, okHi := unhex(s[i+1])
			lo, okLo := unhex(s[i+2])
			if okHi && okLo {
				out = append(out, hi<<4|lo)
				i += 2
				continue
			}
		}
		out = append(out, s[i])
	}
	return string(out)
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
