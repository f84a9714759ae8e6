package awstest

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Published vectors: get-vanilla and get-vanilla-query-order-key-case from
// AWS's Signature Version 4 test suite, and the GET Object example of the
// Amazon S3 API reference ("Examples: Signature Calculations").
func TestVerifierKnownVectors(t *testing.T) {
	const suiteKey, suiteSecret = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	cases := []struct {
		name, url, service, region, keyID, secret, amzDate string
		headers                                            map[string]string
		signedHeaders, sig                                 string
	}{
		{
			name: "get-vanilla", url: "https://example.amazonaws.com/", service: "service", region: "us-east-1",
			keyID: suiteKey, secret: suiteSecret, amzDate: "20150830T123600Z",
			signedHeaders: "host;x-amz-date",
			sig:           "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
		},
		{
			name: "get-vanilla-query-order-key-case", url: "https://example.amazonaws.com/?Param2=value2&Param1=value1",
			service: "service", region: "us-east-1",
			keyID: suiteKey, secret: suiteSecret, amzDate: "20150830T123600Z",
			signedHeaders: "host;x-amz-date",
			sig:           "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
		},
		{
			name: "s3-get-object", url: "https://examplebucket.s3.amazonaws.com/test.txt", service: "s3", region: "us-east-1",
			keyID: "AKIAIOSFODNN7EXAMPLE", secret: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", amzDate: "20130524T000000Z",
			headers: map[string]string{
				"Range":                "bytes=0-9",
				"X-Amz-Content-Sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
			},
			signedHeaders: "host;range;x-amz-content-sha256;x-amz-date",
			sig:           "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			at, err := time.Parse(amzDateFormat, c.amzDate)
			if err != nil {
				t.Fatal(err)
			}
			v := &verifier{region: c.region, now: func() time.Time { return at }, lookup: func(id string) (credential, bool) {
				return credential{keyID: c.keyID, secret: c.secret}, id == c.keyID
			}}
			build := func(sig string) *http.Request {
				r, err := http.NewRequest(http.MethodGet, c.url, nil)
				if err != nil {
					t.Fatal(err)
				}
				r.Header.Set("X-Amz-Date", c.amzDate)
				for k, val := range c.headers {
					r.Header.Set(k, val)
				}
				r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+c.keyID+"/"+c.amzDate[:8]+"/"+c.region+"/"+c.service+
					"/aws4_request, SignedHeaders="+c.signedHeaders+", Signature="+sig)
				return r
			}
			if _, err := v.verify(build(c.sig), nil, c.service); err != nil {
				t.Fatalf("published signature rejected: %v", err)
			}
			bad := []byte(c.sig)
			bad[0] ^= 1
			if _, err := v.verify(build(string(bad)), nil, c.service); err == nil || err.failure != authBadSignature {
				t.Fatalf("altered signature: got %v, want a bad-signature failure", err)
			}
		})
	}
}

// signed returns a request to a Secrets Manager server signed by the SDK's
// signer (used only here, to produce requests; the verifier under test is
// independent of it).
func signed(t *testing.T, creds aws.Credentials, region string, at time.Time, body string, mutate func(*http.Request)) *http.Request {
	t.Helper()
	r, err := http.NewRequest(http.MethodPost, "http://127.0.0.1:1/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/x-amz-json-1.1")
	r.Header.Set("X-Amz-Target", "secretsmanager.GetSecretValue")
	if mutate != nil {
		mutate(r)
	}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, hexSHA256([]byte(body)), "secretsmanager", region, at); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestVerifierRejectsTampering(t *testing.T) {
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	long := credential{keyID: "AKIATESTTESTTESTTEST", secret: "long-term-secret"}
	temp := credential{keyID: "ASIATESTTESTTESTTEST", secret: "temp-secret", token: "the-token", role: "arn:aws:iam::1:role/r", expires: now.Add(time.Hour)}
	expired := credential{keyID: "ASIAEXPIREDEXPIRED00", secret: "old-secret", token: "old-token", expires: now.Add(-time.Minute)}
	known := map[string]credential{long.keyID: long, temp.keyID: temp, expired.keyID: expired}
	v := &verifier{region: "eu-west-1", now: func() time.Time { return now }, lookup: func(id string) (credential, bool) {
		c, ok := known[id]
		return c, ok
	}}
	awsCreds := func(c credential) aws.Credentials {
		return aws.Credentials{AccessKeyID: c.keyID, SecretAccessKey: c.secret, SessionToken: c.token}
	}
	const body = `{"SecretId":"rpa/finance_glaccess"}`

	type tc struct {
		name string
		req  func() (*http.Request, []byte)
		want authFailure // 0: accepted
	}
	cases := []tc{
		{"valid", func() (*http.Request, []byte) {
			return signed(t, awsCreds(long), "eu-west-1", now, body, nil), []byte(body)
		}, 0},
		{"valid session credentials", func() (*http.Request, []byte) {
			return signed(t, awsCreds(temp), "eu-west-1", now, body, nil), []byte(body)
		}, 0},
		{"valid at the edge of the clock window", func() (*http.Request, []byte) {
			return signed(t, awsCreds(long), "eu-west-1", now.Add(-14*time.Minute), body, nil), []byte(body)
		}, 0},
		{"changed body", func() (*http.Request, []byte) {
			return signed(t, awsCreds(long), "eu-west-1", now, body, nil), []byte(`{"SecretId":"rpa/hr_portal"}`)
		}, authBadSignature},
		{"changed signed header", func() (*http.Request, []byte) {
			r := signed(t, awsCreds(long), "eu-west-1", now, body, nil)
			r.Header.Set("X-Amz-Target", "secretsmanager.DeleteSecret")
			return r, []byte(body)
		}, authBadSignature},
		{"added unsigned x-amz header", func() (*http.Request, []byte) {
			r := signed(t, awsCreds(long), "eu-west-1", now, body, nil)
			r.Header.Set("X-Amz-Extra", "1")
			return r, []byte(body)
		}, authBadSignature},
		{"changed host", func() (*http.Request, []byte) {
			r := signed(t, awsCreds(long), "eu-west-1", now, body, nil)
			r.Host = "127.0.0.1:2"
			return r, []byte(body)
		}, authBadSignature},
		{"content sha256 header disagrees with body", func() (*http.Request, []byte) {
			r := signed(t, awsCreds(long), "eu-west-1", now, body, func(r *http.Request) {
				r.Header.Set("X-Amz-Content-Sha256", hexSHA256([]byte("other")))
			})
			return r, []byte(body)
		}, authBadSignature},
		{"wrong secret key", func() (*http.Request, []byte) {
			c := long
			c.secret = "not-the-secret"
			return signed(t, awsCreds(c), "eu-west-1", now, body, nil), []byte(body)
		}, authBadSignature},
		{"unknown access key", func() (*http.Request, []byte) {
			c := long
			c.keyID = "AKIAUNKNOWNUNKNOWN00"
			return signed(t, awsCreds(c), "eu-west-1", now, body, nil), []byte(body)
		}, authUnknownKey},
		{"wrong region", func() (*http.Request, []byte) {
			return signed(t, awsCreds(long), "us-east-1", now, body, nil), []byte(body)
		}, authBadSignature},
		{"clock too far behind", func() (*http.Request, []byte) {
			return signed(t, awsCreds(long), "eu-west-1", now.Add(-16*time.Minute), body, nil), []byte(body)
		}, authSkewed},
		{"clock too far ahead", func() (*http.Request, []byte) {
			return signed(t, awsCreds(long), "eu-west-1", now.Add(16*time.Minute), body, nil), []byte(body)
		}, authSkewed},
		{"session credentials without token", func() (*http.Request, []byte) {
			c := temp
			c.token = ""
			return signed(t, awsCreds(c), "eu-west-1", now, body, nil), []byte(body)
		}, authBadToken},
		{"session credentials with a wrong token", func() (*http.Request, []byte) {
			c := temp
			c.token = "another-token"
			return signed(t, awsCreds(c), "eu-west-1", now, body, nil), []byte(body)
		}, authBadToken},
		{"long-term key with a token", func() (*http.Request, []byte) {
			c := long
			c.token = "made-up"
			return signed(t, awsCreds(c), "eu-west-1", now, body, nil), []byte(body)
		}, authBadToken},
		{"expired session credentials", func() (*http.Request, []byte) {
			return signed(t, awsCreds(expired), "eu-west-1", now, body, nil), []byte(body)
		}, authExpiredToken},
		{"no authorization", func() (*http.Request, []byte) {
			r := signed(t, awsCreds(long), "eu-west-1", now, body, nil)
			r.Header.Del("Authorization")
			return r, []byte(body)
		}, authMissing},
		{"other algorithm", func() (*http.Request, []byte) {
			r := signed(t, awsCreds(long), "eu-west-1", now, body, nil)
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1", 1))
			return r, []byte(body)
		}, authIncomplete},
		{"x-amz-date not signed", func() (*http.Request, []byte) {
			r := signed(t, awsCreds(long), "eu-west-1", now, body, nil)
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), ";x-amz-date", "", 1))
			return r, []byte(body)
		}, authBadSignature},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, b := c.req()
			got, err := v.verify(r, b, "secretsmanager")
			switch {
			case c.want == 0 && err != nil:
				t.Fatalf("rejected: %v", err)
			case c.want == 0 && got.keyID == "":
				t.Fatal("accepted without a credential")
			case c.want != 0 && err == nil:
				t.Fatalf("accepted, want failure %d", c.want)
			case c.want != 0 && err.failure != c.want:
				t.Fatalf("failure %d (%v), want %d", err.failure, err, c.want)
			}
			if err != nil && (strings.Contains(err.message, "long-term-secret") || strings.Contains(err.message, "temp-secret")) {
				t.Fatalf("error message carries a secret key: %v", err)
			}
		})
	}
	// The same request signed for another service is refused.
	r := signed(t, awsCreds(long), "eu-west-1", now, body, nil)
	if _, err := v.verify(r, []byte(body), "sts"); err == nil {
		t.Fatal("request signed for secretsmanager accepted as sts")
	}
}

func TestCanonicalURIAndQuery(t *testing.T) {
	if got := uriEncode("/a b/ü~", false); got != "/a%20b/%C3%BC~" {
		t.Errorf("uriEncode path: %q", got)
	}
	if got := uriEncode("a/b", true); got != "a%2Fb" {
		t.Errorf("uriEncode value: %q", got)
	}
	q, err := canonicalQuery("b=2&a=1&A=0&a=0&sp=x%20y")
	if err != nil || q != "A=0&a=0&a=1&b=2&sp=x%20y" {
		t.Errorf("canonicalQuery: %q, %v", q, err)
	}
}

func TestServerRejectsUnsignedRequest(t *testing.T) {
	s := NewServer(t, Options{})
	r, err := http.NewRequest(http.MethodPost, s.URL()+"/", bytes.NewReader([]byte(`{"SecretId":"x"}`)))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/x-amz-json-1.1")
	r.Header.Set("X-Amz-Target", "secretsmanager.GetSecretValue")
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(buf.String(), `"__type":"MissingAuthenticationTokenException"`) {
		t.Fatalf("got %d %s", resp.StatusCode, buf.String())
	}
	if s.Requests() != 1 || len(s.Calls()) != 0 {
		t.Fatalf("requests %d, calls %d; want 1 and 0", s.Requests(), len(s.Calls()))
	}
}
