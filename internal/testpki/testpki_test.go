package testpki

import (
	"crypto/tls"
	"net"
	"os"
	"testing"
	"time"
)

// handshake runs a mutual TLS handshake on loopback between server and a
// client presenting client, both trusting only ca, and returns the
// client's error.
func handshake(t *testing.T, ca *CA, server, client *Leaf) error {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{server.TLS},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    ca.Pool(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if err := c.(*tls.Conn).Handshake(); err != nil {
			done <- err
			return
		}
		_, err = c.Write([]byte{1})
		done <- err
	}()
	d := &net.Dialer{Timeout: 10 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", ln.Addr().String(), &tls.Config{
		Certificates: []tls.Certificate{client.TLS},
		RootCAs:      ca.Pool(),
		ServerName:   "localhost",
	})
	if err == nil {
		// In TLS 1.3 the server checks the client certificate after the
		// client's handshake is done: reading the server's byte shows its
		// verdict.
		c.SetDeadline(time.Now().Add(10 * time.Second))
		_, err = c.Read(make([]byte, 1))
		c.Close()
	}
	if serr := <-done; serr != nil && err == nil {
		err = serr
	}
	return err
}

func TestMutualTLS(t *testing.T) {
	ca := Must(NewCA("testpki CA"))
	other := Must(NewCA("testpki other CA"))
	server := Must(ca.Issue(LeafOptions{CommonName: "localhost", Server: true}))
	client := Must(ca.Issue(LeafOptions{CommonName: "client", Client: true}))
	stranger := Must(other.Issue(LeafOptions{CommonName: "client", Client: true}))

	if err := handshake(t, ca, server, client); err != nil {
		t.Fatalf("same CA: %v", err)
	}
	if err := handshake(t, ca, server, stranger); err == nil {
		t.Fatal("client of another CA: handshake succeeded")
	}
}

func TestWriteFiles(t *testing.T) {
	leaf := Must(Must(NewCA("testpki CA")).Issue(LeafOptions{CommonName: "client", Client: true}))
	certFile, keyFile, err := leaf.WriteFiles(t.TempDir(), "client")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tls.LoadX509KeyPair(certFile, keyFile); err != nil {
		t.Fatalf("written pair does not load: %v", err)
	}
	fi, err := os.Stat(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", fi.Mode().Perm())
	}
}
