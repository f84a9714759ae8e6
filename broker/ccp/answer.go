package ccp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/secretbroker/secretbroker/broker"
	"github.com/secretbroker/secretbroker/providers"
)

// The ErrorCode values this endpoint answers (see the package comment).
const (
	codeBadQuery       = "AIMWS030E"
	codeNoAppID        = "AIMWS031E"
	codeAuthentication = "APPAP306E"
	codeNotAuthorized  = "APPAP008E"
	codeNotFound       = "APPAP004E"
	codeVaultDown      = "APPAP007E"
	codePasswordChange = "APPAP282E"
	codeRateLimited    = "SECBR429E"
	codeInternal       = "SECBR500E"
)

// The attributes that become CCP's standard properties.
var standard = map[string]string{
	"password": "Content",
	"username": "UserName",
	"address":  "Address",
	"domain":   "LogonDomain",
}

// reserved are the property names (lower-cased) an attribute may not take.
var reserved = map[string]bool{
	"content": true, "username": true, "address": true, "logondomain": true, "safe": true, "folder": true,
	"name": true, "passwordchangeinprocess": true, "errorcode": true, "errormsg": true,
}

// answer is what a request gets: a status with an account or a CCP error,
// and what the log line says about it.
type answer struct {
	status     int
	code, msg  string
	body       map[string]string
	retryAfter time.Duration
	inner      error // for the log, never the caller

	appID, identity, safe, object string
}

// fail makes a into a CCP error answer.
func (a *answer) fail(status int, code, msg string, inner error) *answer {
	a.status, a.code, a.msg, a.inner = status, code, msg, inner
	return a
}

// write sends a. Nothing of an answer is ever cached by an intermediary.
func (a *answer) write(w http.ResponseWriter) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	var err error
	if a.status == http.StatusOK {
		err = enc.Encode(a.body)
	} else {
		err = enc.Encode(struct {
			ErrorCode string `json:"ErrorCode"`
			ErrorMsg  string `json:"ErrorMsg"`
		}{a.code, a.msg})
	}
	if err != nil { // strings always encode; keep the contract anyway
		a.fail(http.StatusInternalServerError, codeInternal, "internal error", err)
		buf.Reset()
		buf.WriteString(`{"ErrorCode":"` + codeInternal + `","ErrorMsg":"internal error"}` + "\n")
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if a.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int(math.Ceil(a.retryAfter.Seconds()))))
	}
	w.WriteHeader(a.status)
	_, _ = w.Write(buf.Bytes())
}

// queryText is the request's search as CCP echoes it in messages.
func (q *request) queryText() string {
	return fmt.Sprintf("Safe=%s;Folder=%s;Object=%s", clip(q.safe), clip(q.folder), clip(q.object))
}

// notFound is the one answer for an object that does not exist, a Safe that
// is not configured and a locker the caller may not use.
func (a *answer) notFound(q *request) *answer {
	return a.fail(http.StatusNotFound, codeNotFound,
		"Password object matching query ["+q.queryText()+"] was not found. Check that the object exists and that this application may use it (AppID, client certificate and policy).", nil)
}

// beforeVault reports whether err stopped the request before any vault was
// asked: the policy's refusal, a rate limit, a name refused.
func beforeVault(err error) bool {
	var e *broker.Error
	return errors.As(err, &e) && len(e.Tried) == 0
}

// brokerError turns a broker error into CCP's answer. Its message is the
// broker's caller-safe one; an error of a locker the caller may not use at
// all never reaches here (it is notFound).
func (a *answer) brokerError(err error) *answer {
	var e *broker.Error
	if !errors.As(err, &e) {
		return a.fail(http.StatusInternalServerError, codeInternal, "internal error", err)
	}
	msg := e.Message()
	before := len(e.Tried) == 0 // failed before any vault was asked
	switch e.Code {
	case providers.NotFound:
		return a.fail(http.StatusNotFound, codeNotFound, msg, err)
	case providers.InvalidArgument:
		return a.fail(http.StatusBadRequest, codeBadQuery, "Invalid query format: "+msg, err)
	case providers.PermissionDenied:
		if before {
			return a.fail(http.StatusForbidden, codeNotAuthorized, msg, err)
		}
		// A vault refused the daemon: the daemon's configuration, not
		// the caller, is at fault.
		return a.fail(http.StatusInternalServerError, codeInternal, msg, err)
	case providers.ResourceExhausted:
		a.retryAfter = e.RetryAfter
		if before {
			return a.fail(http.StatusTooManyRequests, codeRateLimited, msg, err)
		}
		return a.fail(http.StatusServiceUnavailable, codeVaultDown, msg, err)
	case providers.Unavailable, providers.DeadlineExceeded, providers.Canceled:
		a.retryAfter = e.RetryAfter
		return a.fail(http.StatusServiceUnavailable, codeVaultDown, msg, err)
	}
	return a.fail(http.StatusInternalServerError, codeInternal, msg, err)
}

// found turns a served secret into CCP's account answer, after checking the
// request's further criteria and FailRequestOnPasswordChange.
func (a *answer) found(res *broker.Result, q *request) *answer {
	attrs := res.Secret.Attributes
	for attr := range standard {
		if v, ok := attrs[attr]; ok && !utf8.ValidString(v) {
			return a.fail(http.StatusInternalServerError, codeInternal,
				fmt.Sprintf("the %s attribute of the object is not UTF-8 text, which a CCP answer cannot carry", attr), nil)
		}
	}
	for key, c := range q.criteria {
		if v, ok := property(attrs, key); !ok || !strings.EqualFold(v, c.value) {
			return a.fail(http.StatusNotFound, codeNotFound,
				"Password object matching query ["+q.queryText()+"] was not found: the object's "+clip(c.name)+" property does not match the query", nil)
		}
	}
	if res.Secret.Rotating && q.failOnChange {
		return a.fail(http.StatusInternalServerError, codePasswordChange,
			"Password ["+clip(q.object)+"] is currently being changed.", nil)
	}
	body := make(map[string]string, len(attrs)+4)
	for k, v := range attrs {
		if p, ok := standard[k]; ok {
			body[p] = v
			continue
		}
		if reserved[strings.ToLower(k)] || !utf8.ValidString(v) {
			continue // it would shadow a CCP property, or cannot be sent
		}
		body[k] = v
	}
	body["Content"] = attrs["password"]
	body["UserName"] = attrs["username"]
	body["Address"] = attrs["address"]
	body["Safe"], body["Folder"], body["Name"] = q.safe, q.folder, q.object
	body["PasswordChangeInProcess"] = "False"
	if res.Secret.Rotating {
		body["PasswordChangeInProcess"] = "True"
	}
	a.status, a.code, a.body = http.StatusOK, "", body
	return a
}

// property returns the CCP property key (lower-cased) of attrs: a standard
// one from its attribute, any other from the attribute of that name
// without regard to case.
func property(attrs map[string]string, key string) (string, bool) {
	for attr, p := range standard {
		if strings.ToLower(p) == key {
			v, ok := attrs[attr]
			return v, ok
		}
	}
	for k, v := range attrs {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return "", false
}
