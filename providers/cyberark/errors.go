package cyberark

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/secretbroker/secretbroker/providers"
)

// APIError is an error answer from CCP: a non-200 HTTP status with, when CCP
// itself answered, its {"ErrorCode": "...", "ErrorMsg": "..."} body.
type APIError struct {
	// Status is the HTTP status code.
	Status int
	// Code is CCP's ErrorCode, such as "APPAP004E"; "" when the answer had
	// none (a proxy's or IIS's own error page).
	Code string
	// Message is CCP's ErrorMsg, trimmed to a few hundred characters and
	// cleaned of control characters. It names Safes, folders and objects,
	// never password values; it goes to logs through Error, never to the
	// caller (reasons never include it).
	Message string
}

// Error returns "cyberark: CCP answered HTTP <status> <code>: <message>".
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "cyberark: CCP answered HTTP %d", e.Status)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	return b.String()
}

// category groups CCP error codes by what the broker should do about them.
type category int

const (
	catNone category = iota
	catNotFound
	catDenied
	catAmbiguous
	catPasswordChange
	catVaultDown
	catBadRequest
)

// codeCategories classifies CCP's ErrorCode values.
//
// Primary source: CyberArk's documentation of the GetPassword REST web
// service ("Call the Web Service using REST", section "Return codes"), which
// lists:
//
//	400 AIMWS030E  Invalid query format, etc.
//	400 APPAP227E  1. Too many objects.
//	400 APPAP228E  2. Too many objects.
//	400 APPAP229E  3. Too many objects.
//	400 APPAP007E  Connection to the Vault has failed.
//	400 APPAP081E  Request message content is invalid.
//	400 CASVL010E  Invalid characters in User Name.
//	400 AIMWS031E  Invalid request. The AppID parameter is required.
//	403 APPAP306E  App failed on authentication check.
//	403 APPAP008E  "ITATS982E User app11 is not defined", etc.
//	404 APPAP004E  Safe not found, etc.
//	500 APPAP282E  Password [name] is currently being changed by the CPM.
//
// Secondary source (codes that table does not list): CyberArk's
// "Application Provider Messages" reference as categorised by public
// integrations of the Credential Provider; not checked against CyberArk's
// own page. APPAP133E also appears inside APPAP306E messages in field reports
// ("Reason: APPAP133E Failed to verify application authentication data").
var codeCategories = map[string]category{
	// Not found.
	"APPAP004E": catNotFound,
	"APPAP249E": catNotFound, // secondary source
	"APPAP324E": catNotFound, // secondary source

	// The application is not authenticated or not authorised.
	"APPAP306E": catDenied,
	"APPAP008E": catDenied,
	"APPAP087E": catDenied, // secondary source
	"APPAP132E": catDenied, // secondary source
	"APPAP133E": catDenied, // secondary source

	// Several password objects match the query.
	"APPAP227E": catAmbiguous,
	"APPAP228E": catAmbiguous,
	"APPAP229E": catAmbiguous,
	"APPAP230E": catAmbiguous, // secondary source
	"APPAP251E": catAmbiguous, // secondary source

	// CyberArk's CPM is changing the password: transient.
	"APPAP282E": catPasswordChange,
	"APPAP286E": catPasswordChange, // secondary source

	// CCP cannot reach the Vault: transient.
	"APPAP007E": catVaultDown,
	"APPBC007E": catVaultDown, // secondary source
	"APPAP096W": catVaultDown, // secondary source
	"APPAP289E": catVaultDown, // secondary source
	"APPAP291E": catVaultDown, // secondary source
	"APPAP292E": catVaultDown, // secondary source
	"APPAP297E": catVaultDown, // secondary source

	// The request itself is invalid.
	"AIMWS030E": catBadRequest,
	"AIMWS031E": catBadRequest,
	"APPAP081E": catBadRequest,
	"CASVL010E": catBadRequest,
}

func (e *APIError) category() category {
	return codeCategories[strings.ToUpper(e.Code)]
}

// code classifies an API error: by CCP's ErrorCode when it is a known one,
// otherwise by HTTP status.
func (e *APIError) code() providers.Code {
	switch e.category() {
	case catNotFound:
		return providers.NotFound
	case catDenied:
		return providers.PermissionDenied
	case catAmbiguous:
		return providers.FailedPrecondition
	case catPasswordChange, catVaultDown:
		return providers.Unavailable
	case catBadRequest:
		return providers.InvalidArgument
	}
	switch s := e.Status; {
	case s == http.StatusUnauthorized || s == http.StatusForbidden:
		return providers.PermissionDenied
	case s == http.StatusNotFound && e.Code != "":
		// CCP's own "not found" answer with a code this table lacks.
		return providers.NotFound
	case s == http.StatusNotFound:
		// No CCP error body: the web service is not at this path (wrong
		// url or web_service). Never NotFound, or every secret would look
		// missing and the broker would fall back silently.
		return providers.FailedPrecondition
	case s == http.StatusTooManyRequests:
		return providers.ResourceExhausted
	case s == http.StatusRequestTimeout || s >= 500:
		return providers.Unavailable
	case s >= 300 && s < 400:
		return providers.FailedPrecondition
	case s == http.StatusBadRequest:
		return providers.InvalidArgument
	}
	return providers.Unknown
}

// reason is the caller-safe explanation of an API error: it names CCP's
// code, never its message.
func (e *APIError) reason() string {
	suffix := ""
	if e.Code != "" {
		suffix = " (CyberArk " + e.Code + ")"
	} else {
		suffix = fmt.Sprintf(" (HTTP %d)", e.Status)
	}
	switch e.category() {
	case catNotFound:
		return "CyberArk found no password object matching the request" + suffix
	case catDenied:
		return "CyberArk refused the application (AppID, client certificate or allowed machines)" + suffix
	case catAmbiguous:
		return "more than one object matched; make the query unique" + suffix
	case catPasswordChange:
		return reasonPasswordChange
	case catVaultDown:
		return "CyberArk CCP cannot reach the Vault" + suffix
	case catBadRequest:
		return "CyberArk CCP rejected the request as invalid" + suffix
	}
	switch s := e.Status; {
	case s == http.StatusUnauthorized || s == http.StatusForbidden:
		return "CyberArk CCP refused the request" + suffix
	case s == http.StatusNotFound && e.Code != "":
		return "CyberArk found no password object matching the request" + suffix
	case s == http.StatusNotFound:
		return "no CyberArk CCP web service answers at the configured address; check url and web_service" + suffix
	case s >= 300 && s < 400:
		return "CyberArk CCP answered with a redirect, which is not followed; check url" + suffix
	case s == http.StatusTooManyRequests:
		return "CyberArk CCP is throttling requests" + suffix
	case s == http.StatusRequestTimeout || s >= 500:
		return "CyberArk CCP is unavailable" + suffix
	}
	return "CyberArk CCP answered with an error" + suffix
}

const (
	reasonPasswordChange = "CyberArk is changing this password (PasswordChangeInProcess); try again shortly"
	reasonTLSHint        = "check the server certificate, tls.ca_file, tls.server_name and the client certificate"
	reasonUnreachable    = "CyberArk CCP is unreachable"
	reasonRequestTimeout = "CyberArk CCP did not answer within the configured timeout"
)

// maxMessage bounds the ErrorMsg kept in an APIError.
const maxMessage = 300

// apiErrorFrom builds the APIError of a non-200 answer. Only ErrorCode and
// ErrorMsg are read from the body; nothing else of it is kept.
func apiErrorFrom(status int, body []byte) *APIError {
	e := &APIError{Status: status}
	var eb struct {
		ErrorCode string `json:"ErrorCode"`
		ErrorMsg  string `json:"ErrorMsg"`
	}
	if json.Unmarshal(body, &eb) == nil {
		e.Code = cleanCode(eb.ErrorCode)
		e.Message = cleanMessage(eb.ErrorMsg)
	}
	return e
}

// cleanCode keeps an ErrorCode only if it looks like one (letters and
// digits, at most 16).
func cleanCode(c string) string {
	c = strings.TrimSpace(c)
	if c == "" || len(c) > 16 {
		return ""
	}
	for _, r := range c {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return ""
		}
	}
	return strings.ToUpper(c)
}

func cleanMessage(m string) string {
	m = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return ' '
		}
		return r
	}, m)
	m = strings.TrimSpace(m)
	if utf8.RuneCountInString(m) > maxMessage {
		m = string([]rune(m)[:maxMessage]) + "..."
	}
	return m
}
