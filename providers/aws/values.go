package aws

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/secretbroker/secretbroker/providers"
)

// attributesFromString turns a SecretString into attributes: a JSON object
// gives one attribute per member, anything else is the password.
func attributesFromString(s string) map[string]string {
	if attrs, ok := jsonObject([]byte(s)); ok {
		return attrs
	}
	return map[string]string{"password": s}
}

// attributesFromBinary turns a SecretBinary into attributes: valid UTF-8
// holding a JSON object gives one attribute per member, any other bytes are
// the password, unchanged.
func attributesFromBinary(b []byte) map[string]string {
	if utf8.Valid(b) {
		if attrs, ok := jsonObject(b); ok {
			return attrs
		}
	}
	return map[string]string{"password": string(b)}
}

// jsonObject decodes b as one JSON object. String members are attributes
// as they are; numbers, booleans, arrays and nested objects become their
// compact JSON text ("42", "true", `{"a":"b"}`); null members are left out.
// ok is false when b is not exactly one JSON object.
func jsonObject(b []byte) (attrs map[string]string, ok bool) {
	t := bytes.TrimSpace(b)
	if len(t) < 2 || t[0] != '{' {
		return nil, false
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(t, &raw); err != nil {
		// The error is dropped on purpose: it can quote the value.
		return nil, false
	}
	attrs = make(map[string]string, len(raw))
	for k, v := range raw {
		switch v[0] {
		case 'n': // null
			continue
		case '"':
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return nil, false
			}
			attrs[k] = s
		default:
			var buf bytes.Buffer
			if err := json.Compact(&buf, v); err != nil {
				return nil, false
			}
			attrs[k] = buf.String()
		}
	}
	return attrs, true
}

// encodeAttributes turns attributes into the value Put stores. Attributes
// whose keys and values are all valid UTF-8 become a SecretString holding a
// JSON object (HTML characters not escaped), which is what the AWS console
// and other tools read and write. A secret whose only attribute is a
// password that is not valid UTF-8 becomes a SecretBinary of the raw
// password bytes, which Get reads back unchanged. Other non-UTF-8 values
// cannot be stored: JSON text has no way to carry them.
func encodeAttributes(attrs map[string]string) (str *string, bin []byte, err error) {
	for k, v := range attrs {
		if utf8.ValidString(k) && utf8.ValidString(v) {
			continue
		}
		if len(attrs) == 1 && k == "password" {
			return nil, []byte(v), nil
		}
		return nil, nil, providers.Errorf(providers.InvalidArgument, nil,
			"attribute %q is not valid UTF-8: AWS Secrets Manager stores attributes as JSON text (only a lone password may be binary)",
			safeKey(k))
	}
	if attrs == nil {
		attrs = map[string]string{}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(attrs); err != nil {
		return nil, nil, providers.Errorf(providers.Internal, nil, "cannot encode the attributes as JSON")
	}
	s := strings.TrimSuffix(buf.String(), "\n")
	return &s, nil, nil
}

// safeKey returns an attribute name fit for a message: valid UTF-8, short.
func safeKey(k string) string {
	k = strings.ToValidUTF8(k, "\uFFFD")
	if len(k) > 40 {
		k = k[:40] + "..."
	}
	return k
}

// uuidRE matches the form of the version ids AWS and the SDKs make up.
var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// versionSelector turns Ref.Version into GetSecretValue's VersionId or
// VersionStage (exactly one is set):
//
//   - "" reads the configured stage (default AWSCURRENT);
//   - "id:X" reads version id X and "stage:X" staging label X, explicitly;
//   - a UUID ("8-4-4-4-12" hex digits, the form of the version ids AWS and
//     the SDKs generate) is a version id;
//   - anything else ("AWSPREVIOUS", "AWSPENDING", a custom label) is a
//     staging label.
func versionSelector(v, defaultStage string) (id, stage string) {
	switch {
	case v == "":
		return "", defaultStage
	case strings.HasPrefix(v, "id:"):
		return strings.TrimPrefix(v, "id:"), ""
	case strings.HasPrefix(v, "stage:"):
		return "", strings.TrimPrefix(v, "stage:")
	case uuidRE.MatchString(v):
		return v, ""
	}
	return "", v
}
