package ccp

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Bounds on what a request may hold, checked before anything else.
const (
	maxQuery      = 16 << 10 // the whole URL query, in bytes
	maxValue      = 1024     // one parameter value, in bytes
	maxAppID      = 128      // CyberArk's AppID limit, in characters
	maxReason     = 256      // characters of Reason kept for the audit
	maxTimeout    = 600      // ConnectionTimeout, in seconds
	defaultFolder = "Root"
	reasonFolded  = ' '
)

// request is a parsed GetPassword request.
type request struct {
	appID, safe, folder, object string
	// criteria are the further properties the object must have, by
	// lower-cased CCP property name (username, address, database, ...),
	// with the name as the caller spelled it.
	criteria     map[string]criterion
	reason       string
	timeout      time.Duration
	failOnChange bool
}

type criterion struct{ name, value string }

// parseRequest reads the request's query. The query is taken from
// RequestURI, split on '&' only (a Query value holds raw ';'), each name and
// value percent-decoded; names are matched without regard to case.
func parseRequest(r *http.Request) (*request, *answer) {
	raw := r.URL.RawQuery
	if r.RequestURI != "" {
		_, raw, _ = strings.Cut(r.RequestURI, "?")
	}
	bad := func(format string, args ...any) *answer {
		return (&answer{}).fail(http.StatusBadRequest, codeBadQuery, "Invalid query format: "+fmt.Sprintf(format, args...), nil)
	}
	if len(raw) > maxQuery {
		return nil, bad("the query is %d bytes long; at most %d are allowed", len(raw), maxQuery)
	}
	params := map[string]string{}
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		name, err1 := url.QueryUnescape(k)
		value, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			return nil, bad("parameter [%s] is not valid percent-encoding", clip(k))
		}
		if len(value) > maxValue {
			return nil, bad("parameter %s is %d bytes long; at most %d are allowed", clip(name), len(value), maxValue)
		}
		if !utf8.ValidString(name) || !utf8.ValidString(value) {
			return nil, bad("parameter [%s] is not valid UTF-8", clip(name))
		}
		key := strings.ToLower(name)
		if _, dup := params[key]; dup {
			return nil, bad("parameter %s is given more than once", clip(name))
		}
		params[key] = value
	}
	q := &request{appID: params["appid"]}
	if q.appID == "" {
		return nil, (&answer{}).fail(http.StatusBadRequest, codeNoAppID, "Invalid request. The AppID parameter is required.", nil)
	}
	if utf8.RuneCountInString(q.appID) > maxAppID || strings.IndexFunc(q.appID, isControl) >= 0 {
		return nil, bad("AppID must be 1 to %d characters without control characters", maxAppID)
	}
	if strings.ContainsRune(q.appID, '@') {
		// It would blur the alias ccp:APPID@IDENTITY: AppID "a@b" with
		// identity "c" and AppID "a" with identity "b@c" read alike.
		return nil, bad("AppID may not contain '@'")
	}
	switch f := params["queryformat"]; {
	case f == "" || strings.EqualFold(f, "Exact"):
	case strings.EqualFold(f, "Regexp"):
		return nil, bad("QueryFormat Regexp is not supported: secretbroker answers exact object names only (use QueryFormat Exact)")
	default:
		return nil, bad("QueryFormat [%s] is not Exact or Regexp", clip(f))
	}
	q.criteria = map[string]criterion{}
	if query, ok := params["query"]; ok && query != "" {
		if a := q.parseFreeQuery(query); a != nil {
			return nil, a
		}
	} else {
		q.safe, q.folder, q.object = params["safe"], params["folder"], params["object"]
		for _, name := range []string{"UserName", "Address", "Database"} {
			if v, ok := params[strings.ToLower(name)]; ok && v != "" {
				q.criteria[strings.ToLower(name)] = criterion{name: name, value: v}
			}
		}
	}
	if q.object == "" {
		return nil, bad("secretbroker needs the Object (a search by UserName, Address or other properties alone is not supported)")
	}
	if q.safe == "" {
		return nil, bad("secretbroker needs the Safe of the Object")
	}
	if strings.IndexFunc(q.safe, isControl) >= 0 || strings.IndexFunc(q.object, isControl) >= 0 || strings.IndexFunc(q.folder, isControl) >= 0 {
		return nil, bad("Safe, Folder and Object may not contain control characters")
	}
	if q.folder == "" {
		q.folder = defaultFolder
	}
	q.reason = cleanReason(params["reason"])
	if v := params["connectiontimeout"]; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxTimeout {
			return nil, bad("ConnectionTimeout [%s] must be a number of seconds from 1 to %d", clip(v), maxTimeout)
		}
		q.timeout = time.Duration(n) * time.Second
	}
	switch v := params["failrequestonpasswordchange"]; {
	case v == "" || strings.EqualFold(v, "false"):
	case strings.EqualFold(v, "true"):
		q.failOnChange = true
	default:
		return nil, bad("FailRequestOnPasswordChange [%s] must be true or false", clip(v))
	}
	return q, nil
}

// parseFreeQuery reads a Query parameter, "Safe=x;Folder=y;Object=z" with
// any further account properties as criteria.
func (q *request) parseFreeQuery(query string) *answer {
	bad := func(format string, args ...any) *answer {
		return (&answer{}).fail(http.StatusBadRequest, codeBadQuery, "Invalid query format: "+fmt.Sprintf(format, args...), nil)
	}
	seen := map[string]bool{}
	for part := range strings.SplitSeq(query, ";") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		name := strings.TrimSpace(k)
		if !ok || name == "" {
			return bad("Query part [%s] is not Property=Value", clip(part))
		}
		key := strings.ToLower(name)
		if seen[key] {
			return bad("Query names %s more than once", clip(name))
		}
		seen[key] = true
		switch key {
		case "safe":
			q.safe = v
		case "folder":
			q.folder = v
		case "object":
			q.object = v
		case "content", "password":
			return bad("the password (%s) cannot be a search criterion", clip(name))
		default:
			if strings.IndexFunc(name, isControl) >= 0 {
				return bad("Query property names may not contain control characters")
			}
			q.criteria[key] = criterion{name: name, value: v}
		}
	}
	return nil
}

// cleanReason keeps Reason for the audit: control characters become
// spaces, and it is cut to maxReason characters.
func cleanReason(s string) string {
	s = strings.Map(func(r rune) rune {
		if isControl(r) {
			return reasonFolded
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) > maxReason {
		s = string([]rune(s)[:maxReason])
	}
	return s
}

func isControl(r rune) bool { return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' }

// clip repeats a value the caller sent in a message: control characters
// replaced, cut to 64 characters.
func clip(s string) string {
	s = strings.Map(func(r rune) rune {
		if isControl(r) || r == utf8.RuneError {
			return '?'
		}
		return r
	}, s)
	if utf8.RuneCountInString(s) > 64 {
		return string([]rune(s)[:64]) + "…"
	}
	return s
}
