package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	pb "github.com/secretbroker/secretbroker/proto/secretbroker/v1"
)

// rpcError is a failed call to the daemon.
type rpcError struct {
	st       *status.Status
	addr     string        // -addr
	reached  bool          // the call reached a server (it has a peer)
	timedOut bool          // -timeout expired
	timeout  time.Duration // -timeout
	sent     string        // the credentials sent, such as "token from FILE"
	tls      bool          // the connection uses TLS
}

func (e *rpcError) Error() string { return e.st.Code().String() + ": " + e.st.Message() }

// hint returns advice for the error, "" if there is none.
func (e *rpcError) hint() string {
	switch {
	case e.st.Code() == codes.Unavailable && !e.reached && e.tls:
		return fmt.Sprintf("is secretbrokerd running at %s with TLS? Check -ca and -server-name (and -cert/-key if it asks for a client certificate)", e.addr)
	case e.st.Code() == codes.Unavailable && !e.reached:
		return fmt.Sprintf("is secretbrokerd running at %s? Set -addr or %s to its address", e.addr, addrEnv)
	case e.st.Code() == codes.DeadlineExceeded && e.timedOut:
		return fmt.Sprintf("no answer from secretbrokerd at %s within -timeout %v", e.addr, e.timeout)
	}
	return ""
}

// call connects to the daemon and runs do with a context that carries the
// -timeout deadline and the purpose metadata, and with the call options that
// do must pass on. The connection carries the credentials (see dialOptions).
// A failed call is returned as an *rpcError.
func (a *app) call(ctx context.Context, do func(ctx context.Context, c pb.SecretBrokerClient, opts ...grpc.CallOption) error) error {
	conn, err := a.dialOptions()
	if err != nil {
		return err
	}
	cc, err := grpc.NewClient(a.g.addr, conn.opts...)
	if err != nil {
		return usagef("", "-addr %s: %v", quote(a.g.addr), err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(ctx, a.g.timeout)
	defer cancel()
	if p := a.g.purpose; p != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, purposeKey, encodePurpose(p))
	}
	var p peer.Peer
	err = do(ctx, pb.NewSecretBrokerClient(cc), grpc.Peer(&p))
	if err == nil {
		return nil
	}
	// The server may end the call on the propagated deadline a moment before
	// ctx's own timer fires: look at the clock too.
	dl, _ := ctx.Deadline()
	return &rpcError{
		st:       status.Convert(err),
		addr:     a.g.addr,
		reached:  p.Addr != nil,
		timedOut: errors.Is(ctx.Err(), context.DeadlineExceeded) || !time.Now().Before(dl),
		timeout:  a.g.timeout,
		sent:     conn.sent,
		tls:      conn.tls,
	}
}

// encodePurpose makes c fit a gRPC metadata value, which must be printable
// ASCII: '%' and every byte outside 0x20-0x7e become %XX (RFC 3986
// percent-encoding; url.PathUnescape decodes it). Printable ASCII text
// without '%', the usual case, passes unchanged.
func encodePurpose(c string) string {
	if !strings.ContainsFunc(c, func(r rune) bool { return r < 0x20 || r > 0x7e || r == '%' }) {
		return c
	}
	var b strings.Builder
	for i := 0; i < len(c); i++ {
		if ch := c[i]; ch < 0x20 || ch > 0x7e || ch == '%' {
			fmt.Fprintf(&b, "%%%02X", ch)
		} else {
			b.WriteByte(ch)
		}
	}
	return b.String()
}
