package awstest

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// stsAuthError turns a verification failure into STS's error code and
// status.
func stsAuthError(e *authError) (int, string) {
	switch e.failure {
	case authMissing:
		return http.StatusForbidden, "MissingAuthenticationToken"
	case authIncomplete:
		return http.StatusBadRequest, "IncompleteSignature"
	case authUnknownKey, authBadToken:
		return http.StatusForbidden, "InvalidClientTokenId"
	case authExpiredToken:
		return http.StatusBadRequest, "ExpiredToken"
	}
	return http.StatusForbidden, "SignatureDoesNotMatch"
}

// sessionNameRE is what STS accepts as RoleSessionName.
var sessionNameRE = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)

// serveSTS answers the STS query protocol: only Action=AssumeRole.
func (s *Server) serveSTS(w http.ResponseWriter, r *http.Request, body []byte) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		writeSTSError(w, http.StatusBadRequest, "MalformedInput", "form body is malformed")
		return
	}
	cred, aerr := s.verifier.verify(r, body, "sts")
	if aerr != nil {
		status, code := stsAuthError(aerr)
		writeSTSError(w, status, code, aerr.message)
		return
	}
	action := form.Get("Action")
	s.record(Call{Operation: action, AccessKeyID: cred.keyID, Role: cred.role})
	if action != "AssumeRole" {
		writeSTSError(w, http.StatusBadRequest, "InvalidAction", fmt.Sprintf("Could not find operation %s for version %s", action, form.Get("Version")))
		return
	}
	if v := form.Get("Version"); v != "2011-06-15" {
		writeSTSError(w, http.StatusBadRequest, "InvalidAction", "unsupported Version "+v)
		return
	}
	roleARN, session, extID := form.Get("RoleArn"), form.Get("RoleSessionName"), form.Get("ExternalId")
	if !sessionNameRE.MatchString(session) {
		writeSTSError(w, http.StatusBadRequest, "ValidationError", "1 validation error detected: Value at 'roleSessionName' failed to satisfy constraint")
		return
	}
	duration := time.Hour
	if d := form.Get("DurationSeconds"); d != "" {
		n, err := strconv.Atoi(d)
		if err != nil || n < 900 || n > 43200 {
			writeSTSError(w, http.StatusBadRequest, "ValidationError", "DurationSeconds must be between 900 and 43200")
			return
		}
		duration = time.Duration(n) * time.Second
	}

	s.mu.Lock()
	wantExt, known := s.roles[roleARN]
	s.mu.Unlock()
	denied := fmt.Sprintf("User: arn:aws:iam::%s:user/test is not authorized to perform: sts:AssumeRole on resource: %s", AccountID, roleARN)
	if !known || cred.role != "" {
		writeSTSError(w, http.StatusForbidden, "AccessDenied", denied)
		return
	}
	if wantExt != "" && extID != wantExt {
		writeSTSError(w, http.StatusForbidden, "AccessDenied", denied)
		return
	}

	issued := credential{
		keyID:   "ASIA" + randomString(16, upperAlnum),
		secret:  randomString(40, secretChars),
		token:   randomString(120, secretChars),
		role:    roleARN,
		expires: s.now().Add(duration),
	}
	s.mu.Lock()
	s.creds[issued.keyID] = issued
	s.mu.Unlock()

	roleName := roleARN[strings.LastIndex(roleARN, "/")+1:]
	resp := assumeRoleResponse{
		XMLNS: "https://sts.amazonaws.com/doc/2011-06-15/",
		Result: assumeRoleResult{
			User: assumedRoleUser{
				ARN: fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/%s", AccountID, roleName, session),
				ID:  "AROA" + randomString(17, upperAlnum) + ":" + session,
			},
			Credentials: stsCredentials{
				AccessKeyID:     issued.keyID,
				SecretAccessKey: issued.secret,
				SessionToken:    issued.token,
				Expiration:      issued.expires.UTC().Format(time.RFC3339),
			},
		},
		RequestID: newUUID(),
	}
	out, err := xml.Marshal(resp)
	if err != nil {
		writeSTSError(w, http.StatusInternalServerError, "InternalFailure", "encoding failed")
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(http.StatusOK)
	w.Write([]byte(xml.Header))
	w.Write(out)
}

type assumeRoleResponse struct {
	XMLName   xml.Name         `xml:"AssumeRoleResponse"`
	XMLNS     string           `xml:"xmlns,attr"`
	Result    assumeRoleResult `xml:"AssumeRoleResult"`
	RequestID string           `xml:"ResponseMetadata>RequestId"`
}

type assumeRoleResult struct {
	User        assumedRoleUser `xml:"AssumedRoleUser"`
	Credentials stsCredentials  `xml:"Credentials"`
}

type assumedRoleUser struct {
	ARN string `xml:"Arn"`
	ID  string `xml:"AssumedRoleId"`
}

type stsCredentials struct {
	AccessKeyID     string `xml:"AccessKeyId"`
	SecretAccessKey string `xml:"SecretAccessKey"`
	SessionToken    string `xml:"SessionToken"`
	Expiration      string `xml:"Expiration"`
}

type stsErrorResponse struct {
	XMLName   xml.Name `xml:"ErrorResponse"`
	XMLNS     string   `xml:"xmlns,attr"`
	Type      string   `xml:"Error>Type"`
	Code      string   `xml:"Error>Code"`
	Message   string   `xml:"Error>Message"`
	RequestID string   `xml:"RequestId"`
}

// writeSTSError writes the query protocol's XML error.
func writeSTSError(w http.ResponseWriter, status int, code, message string) {
	typ := "Sender"
	if status >= 500 {
		typ = "Receiver"
	}
	out, _ := xml.Marshal(stsErrorResponse{
		XMLNS: "https://sts.amazonaws.com/doc/2011-06-15/", Type: typ, Code: code, Message: message, RequestID: newUUID(),
	})
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	w.Write([]byte(xml.Header))
	w.Write(out)
}
