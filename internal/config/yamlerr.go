package config

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"gopkg.in/yaml.v3"
)

var (
	yamlLine      = regexp.MustCompile(`(?s)^\s*(?:yaml: )?line (\d+): (.*)$`)
	yamlUnmarshal = regexp.MustCompile("(?s)^cannot unmarshal !!(\\w+)(?: `(.*?)`)? into (.+)$")
	yamlNotFound  = regexp.MustCompile(`^field (\S+) not found in type (\S+)$`)
)

// typeWords says in words what a Go type of the configuration expects.
var typeWords = map[string]string{
	"time.Duration":               "a duration such as 30s, 5m or 1h",
	"*time.Duration":              "a duration such as 30s, 5m or 1h",
	"bool":                        "true or false",
	"*bool":                       "true or false",
	"int":                         "a whole number",
	"int64":                       "a whole number",
	"float64":                     "a number",
	"string":                      "text",
	"[]string":                    "a list of text items, such as [a, b]",
	"map[string]string":           "a mapping of names to text, such as {a: b}",
	"config.ByteSize":             "a size such as 64MiB or 1048576",
	"config.Locker":               "a locker block, such as {provider: store, prefix: demo}",
	"*config.Locker":              "a locker block, such as {provider: store, prefix: demo}",
	"map[string]*config.Locker":   "a mapping of locker names to locker blocks",
	"map[string]*config.Provider": "a mapping of provider names to provider blocks",
	"config.Provider":             "a provider block with one kind (embedded, aws, azure, hashicorp or cyberark)",
	"*config.Provider":            "a provider block with one kind (embedded, aws, azure, hashicorp or cyberark)",
	"[]config.Place":              "a list of places, such as [{provider: a, prefix: p}]",
	"[]config.Token":              "a list of tokens, such as [{identity: bot, sha256: \"sha256:...\"}]",
	"[]policy.Client":             "a list of client rules",
	"*policy.RateLimit":           "a rate limit block, such as {rps: 50, burst: 100}",
}

var yamlKinds = map[string]string{"str": "text", "int": "a number", "bool": "true/false", "map": "a mapping", "seq": "a list",
	"float": "a number", "null": "nothing"}

// words returns the words for Go type t, or a readable fallback.
func words(t string) string {
	if w, ok := typeWords[t]; ok {
		return w
	}
	t = strings.TrimPrefix(t, "*")
	if i := strings.LastIndex(t, "."); i >= 0 {
		t = t[i+1:]
	}
	return "a " + strings.ToLower(t) + " block (see configs/ for its fields)"
}

// yamlError turns yaml.v3's errors into Errors with a hint for each.
func yamlError(file string, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			n, _ := strconv.Atoi(m[1])
			return Errors{{File: file, Line: n, Msg: oneLine(m[2]) + " (fix the YAML syntax at this line or the one before it)"}}
		}
		return Errors{{File: file, Msg: oneLine(msg) + " (fix the YAML syntax)"}}
	}
	var errs Errors
	for _, s := range te.Errors {
		e := &Error{File: file, Msg: s}
		if m := yamlLine.FindStringSubmatch(s); m != nil {
			e.Line, _ = strconv.Atoi(m[1])
			e.Msg = m[2]
		}
		if m := yamlNotFound.FindStringSubmatch(e.Msg); m != nil {
			e.Msg = fmt.Sprintf("unknown field %s (remove it or correct its spelling; configs/ documents every field)", m[1])
			if hint, ok := renamed[m[1]]; ok {
				e.Msg = fmt.Sprintf("field %s is no longer accepted: %s", m[1], hint)
			}
		} else if m := yamlUnmarshal.FindStringSubmatch(e.Msg); m != nil {
			got := yamlKinds[m[1]]
			if got == "" {
				got = m[1]
			}
			val := m[2]
			if len(val) > 40 {
				val = val[:40] + "…"
			}
			if m[1] == "str" || m[1] == "int" || m[1] == "bool" || m[1] == "float" {
				e.Msg = fmt.Sprintf("%q is %s, but %s is expected here", val, got, words(m[3]))
			} else {
				e.Msg = fmt.Sprintf("found %s, but %s is expected here", got, words(m[3]))
			}
		}
		e.Msg = oneLine(e.Msg)
		errs = append(errs, e)
	}
	return errs
}

// oneLine keeps an error on one line whatever value it quotes: line breaks
// and other control characters are escaped.
func oneLine(s string) string {
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) {
			fmt.Fprintf(&b, "%+q", string(r))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// renamed lists old spellings of settings and what to write instead. The
// same setting has one name and shape in every provider block.
var renamed = map[string]string{
	"request_timeout":                     "write timeout: 30s (the SDK's bound per request; protection: {timeout} bounds the daemon's whole call; only server.request_timeout keeps this name)",
	"max_retries":                         "write max_attempts: N+1 (attempts count the first try: max_retries: 2 is max_attempts: 3); protection: {max_attempts} adds the daemon's retries",
	"retries":                             "write max_attempts, backoff and serve_during_change directly in the block (retries.attempts is now max_attempts)",
	"client_certificate_file":             "write tls: {client_cert_file: ...}",
	"client_key_file":                     "write tls: {client_key_file: ...}",
	"server_name":                         "write tls: {server_name: ...}",
	"insecure_skip_verify_this_is_unsafe": "write tls: {insecure_skip_verify_this_is_unsafe: ...}",
	"ca_file":                             "write tls: {ca_file: ...}",
	"read_only":                           "write writable: false",
}
