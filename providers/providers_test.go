package providers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestCodeOf(t *testing.T) {
	cases := []struct {
		err  error
		want Code
	}{
		{nil, OK},
		{fmt.Errorf("wrapped: %w", Errorf(PermissionDenied, errors.New("x"), "denied")), PermissionDenied},
		{fmt.Errorf("get: %w", context.Canceled), Canceled},
		{fmt.Errorf("get: %w", context.DeadlineExceeded), DeadlineExceeded},
		{Errorf(ResourceExhausted, context.DeadlineExceeded, "throttled"), ResourceExhausted},
		{errors.New("backend"), Unknown},
	}
	for _, c := range cases {
		if got := CodeOf(c.err); got != c.want {
			t.Errorf("CodeOf(%v) = %v, want %v", c.err, got, c.want)
		}
	}
	if !Retryable(ResourceExhausted) || !Retryable(Unavailable) || Retryable(NotFound) {
		t.Error("Retryable")
	}
	e := Errorf(ResourceExhausted, nil, "throttled")
	e.RetryAfter = 3 * time.Second
	if got := RetryAfterOf(fmt.Errorf("x: %w", e)); got != 3*time.Second {
		t.Errorf("RetryAfterOf = %v", got)
	}
	if got := CodeOf(NotWritable("cyberark")); got != FailedPrecondition {
		t.Errorf("NotWritable code %v", got)
	}
}

func TestSecretNeverPrintsValues(t *testing.T) {
	s := &Secret{Attributes: map[string]string{"username": "u", "password": "hunter2-value"}, Version: "3"}
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		out := fmt.Sprintf(f, s)
		if strings.Contains(out, "hunter2-value") || !strings.Contains(out, "password") {
			t.Errorf("%s: %s", f, out)
		}
	}
	c := s.Clone()
	c.Attributes["password"] = "changed"
	if s.Attributes["password"] != "hunter2-value" {
		t.Error("Clone shares its attributes")
	}
	if (*Secret)(nil).Clone() != nil {
		t.Error("Clone of nil")
	}
}

func TestErrorTexts(t *testing.T) {
	e := Errorf(NotFound, errors.New("inner"), "secret is %s", "disabled")
	if e.Error() != "secret is disabled: inner" || ReasonOf(fmt.Errorf("x: %w", e)) != "secret is disabled" {
		t.Errorf("%q / %q", e.Error(), ReasonOf(e))
	}
	ce := &ConfigError{Field: "auth.role_id_file", Problem: "is required", Fix: "name the file"}
	if ce.Error() != "auth.role_id_file: is required (name the file)" {
		t.Errorf("%q", ce.Error())
	}
	if Code(99).String() != "Code(99)" || NotFound.String() != "NotFound" {
		t.Error("Code.String")
	}
}
