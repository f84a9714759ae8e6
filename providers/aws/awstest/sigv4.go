package awstest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// This file holds the server's own Signature Version 4 verifier. It is
// written from the published algorithm with crypto/hmac and crypto/sha256
// only, and deliberately shares no code with the SDK's signer: a test that
// passes through it shows that the SDK signed the request the way AWS checks
// it, with the credentials the test expects.

const (
	sigv4Algorithm  = "AWS4-HMAC-SHA256"
	amzDateFormat   = "20060102T150405Z"
	scopeTerminator = "aws4_request"
	// maxClockSkew is how far X-Amz-Date may be from the server's clock, as
	// on AWS.
	maxClockSkew = 15 * time.Minute
)

// authFailure says why a request failed authentication. Each protocol turns
// it into its own error code (see secretsAuthError and stsAuthError).
type authFailure int

const (
	authMissing      authFailure = iota + 1 // no Authorization header
	authIncomplete                          // malformed Authorization or missing signed parts
	authUnknownKey                          // access key id not known
	authBadSignature                        // signature does not match
	authSkewed                              // X-Amz-Date too far from now
	authBadToken                            // session token missing, unexpected or wrong
	authExpiredToken                        // temporary credentials expired
)

// authError is a failed verification: what failed and a message in AWS's
// style. The message never contains the secret key or the expected
// signature.
type authError struct {
	failure authFailure
	message string
}

func (e *authError) Error() string { return e.message }

func authErr(f authFailure, format string, args ...any) *authError {
	return &authError{failure: f, message: fmt.Sprintf(format, args...)}
}

// credential is a key pair the server accepts.
type credential struct {
	keyID   string
	secret  string
	token   string    // session token; "" for long-term keys
	role    string    // role ARN for credentials issued by AssumeRole
	expires time.Time // zero for long-term keys
}

// verifier checks SigV4 Authorization headers.
type verifier struct {
	region string
	now    func() time.Time
	lookup func(keyID string) (credential, bool)
}

// verify checks that r, whose body is body, is signed for service by a known
// credential, and returns that credential.
func (v *verifier) verify(r *http.Request, body []byte, service string) (credential, *authError) {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return credential{}, authErr(authMissing, "Request is missing Authentication Token")
	}
	algo, rest, ok := strings.Cut(auth, " ")
	if !ok || algo != sigv4Algorithm {
		return credential{}, authErr(authIncomplete, "Authorization header requires the %s algorithm", sigv4Algorithm)
	}
	parts := map[string]string{}
	for _, p := range strings.Split(rest, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok {
			return credential{}, authErr(authIncomplete, "Authorization header has a malformed component")
		}
		if _, dup := parts[k]; dup {
			return credential{}, authErr(authIncomplete, "Authorization header repeats %s", k)
		}
		parts[k] = val
	}
	credStr, signedStr, sig := parts["Credential"], parts["SignedHeaders"], parts["Signature"]
	if credStr == "" || signedStr == "" || sig == "" || len(parts) != 3 {
		return credential{}, authErr(authIncomplete, "Authorization header requires Credential, SignedHeaders and Signature")
	}

	// Credential=KEYID/yyyymmdd/region/service/aws4_request
	scopeParts := strings.Split(credStr, "/")
	if len(scopeParts) != 5 || scopeParts[4] != scopeTerminator {
		return credential{}, authErr(authIncomplete, "Credential should be scoped to a valid region and service")
	}
	keyID, date, region, svc := scopeParts[0], scopeParts[1], scopeParts[2], scopeParts[3]
	if svc != service {
		return credential{}, authErr(authBadSignature, "Credential should be scoped to correct service: '%s'", service)
	}
	if region != v.region {
		return credential{}, authErr(authBadSignature, "Credential should be scoped to a valid region, not '%s'", region)
	}

	amzDate := r.Header.Get("X-Amz-Date")
	t, err := time.Parse(amzDateFormat, amzDate)
	if err != nil {
		return credential{}, authErr(authIncomplete, "X-Amz-Date header is missing or malformed")
	}
	if date != amzDate[:8] {
		return credential{}, authErr(authBadSignature, "Credential date does not match X-Amz-Date")
	}
	now := v.now()
	if d := now.Sub(t); d > maxClockSkew || d < -maxClockSkew {
		return credential{}, authErr(authSkewed, "Signature expired: %s is now earlier or later than %s by more than %s",
			amzDate, now.UTC().Format(amzDateFormat), maxClockSkew)
	}

	cred, ok := v.lookup(keyID)
	if !ok {
		return credential{}, authErr(authUnknownKey, "The security token included in the request is invalid.")
	}

	signed := strings.Split(signedStr, ";")
	if !sort.StringsAreSorted(signed) {
		return credential{}, authErr(authBadSignature, "SignedHeaders must be sorted")
	}
	signedSet := map[string]bool{}
	for _, h := range signed {
		if h == "" || h != strings.ToLower(h) || signedSet[h] {
			return credential{}, authErr(authBadSignature, "SignedHeaders must be distinct lower-case names")
		}
		signedSet[h] = true
	}
	for _, must := range []string{"host", "x-amz-date"} {
		if !signedSet[must] {
			return credential{}, authErr(authBadSignature, "'%s' must be a signed header", must)
		}
	}
	// Every header that changes what the request means must be signed, so
	// that a signature cannot be replayed for another operation.
	for name := range r.Header {
		l := strings.ToLower(name)
		if (strings.HasPrefix(l, "x-amz-") || l == "content-type") && !signedSet[l] {
			return credential{}, authErr(authBadSignature, "header '%s' must be signed", l)
		}
	}

	payloadHash := hexSHA256(body)
	if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" && h != payloadHash {
		return credential{}, authErr(authBadSignature, "The provided 'x-amz-content-sha256' header does not match what was computed.")
	}

	canonical, err := canonicalRequest(r, signed, payloadHash)
	if err != nil {
		return credential{}, authErr(authBadSignature, "%v", err)
	}
	scope := strings.Join(scopeParts[1:], "/")
	want := signature(cred.secret, date, region, service, stringToSign(amzDate, scope, canonical))
	if !hmac.Equal([]byte(want), []byte(sig)) {
		return credential{}, authErr(authBadSignature, "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.")
	}

	// The session token is checked after the signature, as AWS does: it is
	// a signed header, so a wrong one has already failed above unless the
	// client signed a wrong value.
	tok := r.Header.Get("X-Amz-Security-Token")
	switch {
	case cred.token == "" && tok != "":
		return credential{}, authErr(authBadToken, "The security token included in the request is invalid.")
	case cred.token != "" && !hmac.Equal([]byte(tok), []byte(cred.token)):
		return credential{}, authErr(authBadToken, "The security token included in the request is invalid.")
	case !cred.expires.IsZero() && now.After(cred.expires):
		return credential{}, authErr(authExpiredToken, "The security token included in the request is expired")
	}
	return cred, nil
}

// canonicalRequest builds the SigV4 canonical request of r for the signed
// header names.
func canonicalRequest(r *http.Request, signed []string, payloadHash string) (string, error) {
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	b.WriteString(canonicalURI(r.URL))
	b.WriteByte('\n')
	q, err := canonicalQuery(r.URL.RawQuery)
	if err != nil {
		return "", err
	}
	b.WriteString(q)
	b.WriteByte('\n')
	for _, name := range signed {
		val, ok := headerValue(r, name)
		if !ok {
			return "", fmt.Errorf("signed header '%s' is not in the request", name)
		}
		b.WriteString(name)
		b.WriteByte(':')
		b.WriteString(val)
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(signed, ";"))
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	return b.String(), nil
}

// headerValue returns the canonical value of the named (lower-case) header:
// values trimmed, inner runs of spaces collapsed, several values joined by
// commas. Go's server moves Host and Content-Length out of the header map, so
// those are read from the request.
func headerValue(r *http.Request, name string) (string, bool) {
	switch name {
	case "host":
		h := r.Host
		if h == "" {
			h = r.URL.Host
		}
		return h, h != ""
	case "content-length":
		if vs := r.Header.Values("Content-Length"); len(vs) > 0 {
			return trimAll(vs[0]), true
		}
		if r.ContentLength >= 0 {
			return strconv.FormatInt(r.ContentLength, 10), true
		}
		return "", false
	}
	vs := r.Header.Values(name)
	if len(vs) == 0 {
		return "", false
	}
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = trimAll(v)
	}
	return strings.Join(out, ","), true
}

// trimAll trims s and collapses every run of spaces inside it to one.
func trimAll(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// canonicalURI is the URI-encoded path. Services other than S3 encode the
// already-escaped path a second time, as the SDKs do, so "/" stays "/" and a
// "%2F" in the escaped path becomes "%252F".
func canonicalURI(u *url.URL) string {
	p := u.EscapedPath()
	if p == "" {
		return "/"
	}
	return uriEncode(p, false)
}

// canonicalQuery sorts the query by name, then value, with names and values
// URI-encoded.
func canonicalQuery(raw string) (string, error) {
	if raw == "" {
		return "", nil
	}
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return "", fmt.Errorf("malformed query string")
	}
	var pairs []string
	for k, vs := range vals {
		for _, v := range vs {
			pairs = append(pairs, uriEncode(k, true)+"="+uriEncode(v, true))
		}
	}
	sort.Strings(pairs)
	return strings.Join(pairs, "&"), nil
}

// uriEncode percent-encodes every byte except the RFC 3986 unreserved
// characters (and '/' unless encodeSlash), with upper-case hex digits.
func uriEncode(s string, encodeSlash bool) string {
	const hexdig = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9',
			c == '-', c == '_', c == '.', c == '~':
			b.WriteByte(c)
		case c == '/' && !encodeSlash:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexdig[c>>4])
			b.WriteByte(hexdig[c&15])
		}
	}
	return b.String()
}

// stringToSign is the SigV4 string to sign.
func stringToSign(amzDate, scope, canonical string) string {
	return sigv4Algorithm + "\n" + amzDate + "\n" + scope + "\n" + hexSHA256([]byte(canonical))
}

// signature derives the signing key from secret and the scope, and signs sts.
func signature(secret, date, region, service, sts string) string {
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	k = hmacSHA256(k, scopeTerminator)
	return hex.EncodeToString(hmacSHA256(k, sts))
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

func hexSHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
