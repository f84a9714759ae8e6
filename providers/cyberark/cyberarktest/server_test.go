package cyberarktest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"testing"
	"time"
)

// client returns an HTTP client that presents the trusted client
// certificate and trusts the test CA.
func client(t *testing.T, s *Server) *http.Client {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(s.ClientCertFile(), s.ClientKeyFile())
	if err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(s.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func TestAnswersLikeCCP(t *testing.T) {
	s, err := New(Options{AppID: "app"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Seed("Safe1", "Obj", PropertiesFromAttributes(map[string]string{"password": "p", "username": "u", "PolicyID": "Pol"}))
	c := client(t, s)
	get := func(q url.Values) (int, map[string]string) {
		t.Helper()
		resp, err := c.Get(s.URL() + "/AIMWebService/api/Accounts?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]string
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, body
	}
	status, body := get(url.Values{"AppID": {"app"}, "Safe": {"safe1"}, "Object": {"OBJ"}, "Reason": {"why"}})
	if status != 200 || body["Content"] != "p" || body["UserName"] != "u" || body["PolicyID"] != "Pol" ||
		body["Name"] != "Obj" || body["Folder"] != "Root" || body["PasswordChangeInProcess"] != "False" {
		t.Errorf("got %d %v", status, body)
	}
	if status, body = get(url.Values{"AppID": {"other"}, "Safe": {"Safe1"}, "Object": {"Obj"}}); status != 403 || body["ErrorCode"] != "APPAP306E" {
		t.Errorf("unknown AppID: %d %v", status, body)
	}
	if status, body = get(url.Values{"AppID": {"app"}, "Safe": {"Safe1"}, "Object": {"nope"}}); status != 404 || body["ErrorCode"] != "APPAP004E" {
		t.Errorf("missing object: %d %v", status, body)
	}
	s.SetPasswordChangeInProcess("Safe1", "Obj", 1)
	if status, body = get(url.Values{"AppID": {"app"}, "Safe": {"Safe1"}, "Object": {"Obj"}, "FailRequestOnPasswordChange": {"true"}}); status != 500 || body["ErrorCode"] != "APPAP282E" {
		t.Errorf("password change: %d %v", status, body)
	}
	if got := s.Reasons(); len(got) != 4 || got[0] != "why" {
		t.Errorf("Reasons = %q", got)
	}
	if s.Requests() != 4 {
		t.Errorf("Requests = %d", s.Requests())
	}
}

func TestCloseReleasesHungRequestsAndFiles(t *testing.T) {
	s, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.SetFault(Hung)
	c := client(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+"/AIMWebService/api/Accounts?AppID=x&Safe=s", nil)
		if resp, err := c.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	for s.Requests() == 0 {
		time.Sleep(time.Millisecond)
	}
	s.Close()
	<-done
	if _, err := os.Stat(s.Dir()); !os.IsNotExist(err) {
		t.Errorf("Close left %s behind: %v", s.Dir(), err)
	}
	s.Close() // idempotent
}
