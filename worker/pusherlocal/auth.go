package pusherlocal

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	// authVersion is the only signing scheme Pusher knows.
	authVersion = "1.0"
	// maxClockSkew is how far auth_timestamp may be from the server's clock.
	maxClockSkew = 600 * time.Second
	// maxBodyBytes bounds a request body: ten events of 10 KB, each escaped in JSON,
	// fit well within it.
	maxBodyBytes = 1 << 20
)

// readBody reads a request body of at most maxBodyBytes.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, *rejection) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if maxErr := (*http.MaxBytesError)(nil); errors.As(err, &maxErr) {
		return nil, reject(http.StatusRequestEntityTooLarge,
			"request body exceeds %d bytes", maxBodyBytes)
	}
	if err != nil {
		return nil, reject(http.StatusBadRequest, "read request body: %v", err)
	}
	return body, nil
}

// authorize checks that the request is for this app (404 if not) and signed with
// its key and secret (401 if not).
func (s *Server) authorize(r *http.Request, body []byte) *rejection {
	if r.PathValue("appID") != s.cfg.AppID {
		return reject(http.StatusNotFound, "unknown app id %q", r.PathValue("appID"))
	}
	return s.authenticate(r, body)
}

// authenticate checks the auth_* query parameters and body_md5 of a request.
func (s *Server) authenticate(r *http.Request, body []byte) *rejection {
	query := r.URL.Query()
	if query.Get("auth_key") != s.cfg.Key {
		return reject(http.StatusUnauthorized, "unknown auth_key %q", query.Get("auth_key"))
	}
	if v := query.Get("auth_version"); v != authVersion {
		return reject(http.StatusUnauthorized, "auth_version must be %s, got %q", authVersion, v)
	}

	if rej := s.checkTimestamp(query.Get("auth_timestamp")); rej != nil {
		return rej
	}
	if rej := checkBodyMD5(query, body); rej != nil {
		return rej
	}
	return s.checkSignature(r.Method, r.URL.Path, query)
}

// checkTimestamp rejects a missing timestamp or one too far from the server's clock.
func (s *Server) checkTimestamp(raw string) *rejection {
	sec, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		return reject(http.StatusUnauthorized, "auth_timestamp %q is not Unix seconds", raw)
	}

	skew := s.cfg.Clock().Sub(time.Unix(sec, 0)).Abs()
	if skew > maxClockSkew {
		return reject(http.StatusUnauthorized,
			"timestamp expired: auth_timestamp %d is %s away from server time, limit %s",
			sec, skew.Round(time.Second), maxClockSkew)
	}
	return nil
}

// checkBodyMD5 requires body_md5 for a request with a body and checks it when present.
func checkBodyMD5(query url.Values, body []byte) *rejection {
	if len(body) == 0 && !query.Has("body_md5") {
		return nil
	}

	sum := md5.Sum(body)
	if query.Get("body_md5") != hex.EncodeToString(sum[:]) {
		return reject(http.StatusUnauthorized, "body_md5 does not match the request body")
	}
	return nil
}

// checkSignature compares auth_signature, in constant time, with the HMAC-SHA256 of
// "METHOD\nPATH\nQUERY", QUERY being the other parameters sorted by name, unescaped.
func (s *Server) checkSignature(method, path string, query url.Values) *rejection {
	got, err := hex.DecodeString(query.Get("auth_signature"))
	if err != nil || len(got) == 0 {
		return reject(http.StatusUnauthorized, "auth_signature is missing or not hex")
	}

	toSign := stringToSign(method, path, query)
	mac := hmac.New(sha256.New, []byte(s.cfg.Secret))
	mac.Write([]byte(toSign))
	if !hmac.Equal(got, mac.Sum(nil)) {
		// Like Pusher, name what was to be signed (never the secret) to ease debugging.
		return reject(http.StatusUnauthorized,
			"invalid signature: expected HMAC-SHA256 hex of %q", toSign)
	}
	return nil
}

// stringToSign builds the text Pusher's request signature covers.
func stringToSign(method, path string, query url.Values) string {
	names := make([]string, 0, len(query))
	for name := range query {
		if name != "auth_signature" {
			names = append(names, name)
		}
	}
	slices.Sort(names)

	pairs := make([]string, 0, len(names))
	for _, name := range names {
		for _, value := range query[name] {
			pairs = append(pairs, name+"="+value)
		}
	}
	return method + "\n" + path + "\n" + strings.Join(pairs, "&")
}
