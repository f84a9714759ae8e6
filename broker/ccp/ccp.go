package ccp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/secretbroker/secretbroker/auth"
	"github.com/secretbroker/secretbroker/broker"
	"github.com/secretbroker/secretbroker/naming"
)

// DefaultWebService is the web service name CCP is installed as, the first
// element of the path.
const DefaultWebService = "AIMWebService"

// Options configures a Handler.
type Options struct {
	// Broker points to the broker that serves the requests; a reload swaps
	// it. Required.
	Broker *atomic.Pointer[broker.Broker]
	// WebService is the first path element: requests go to
	// /{WebService}/api/Accounts (compared without regard to case, as IIS
	// does). Default DefaultWebService.
	WebService string
	// Safes maps the Safe a CCP client asks for to the locker it reads.
	// Safe names must be valid CyberArk Safe names, distinct without regard
	// to case.
	Safes map[string]string
	// AutoLoginSafe, when set, is the Safe whose objects are auto-login
	// credentials (broker.GetAutoLoginObject). It must not be one of Safes.
	AutoLoginSafe string
	// Logger receives one line per request (at debug; at warn for the
	// daemon's own failures), never a secret value. Nil discards.
	Logger *slog.Logger
}

// Handler answers CCP's GetPassword REST call. It is safe for concurrent
// use.
type Handler struct {
	b          *atomic.Pointer[broker.Broker]
	path       string            // "/" + web service + "/api/Accounts"
	safes      map[string]string // lower-cased Safe -> locker
	autoLogin  string            // lower-cased auto-login Safe, "" when none
	cyberArk   *naming.Scheme
	log        *slog.Logger
	semicolons http.Handler
}

var _ http.Handler = (*Handler)(nil)

// New validates opts and returns a Handler.
func New(opts Options) (*Handler, error) {
	if opts.Broker == nil {
		return nil, errors.New("ccp: a broker pointer is required")
	}
	ws := opts.WebService
	if ws == "" {
		ws = DefaultWebService
	}
	if strings.ContainsAny(ws, "/?#%\\ ") || strings.IndexFunc(ws, isControl) >= 0 {
		return nil, fmt.Errorf("ccp: web_service %s must be a single path element, such as %s", naming.Quote(ws), DefaultWebService)
	}
	if len(opts.Safes) == 0 && opts.AutoLoginSafe == "" {
		return nil, errors.New("ccp: map at least one Safe to a locker, or set the auto-login Safe")
	}
	h := &Handler{b: opts.Broker, path: "/" + ws + "/api/Accounts", safes: make(map[string]string, len(opts.Safes)), log: opts.Logger}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	for safe, locker := range opts.Safes {
		if err := naming.CheckSafe(safe); err != nil {
			return nil, fmt.Errorf("ccp: safes: %w", err)
		}
		if locker == "" {
			return nil, fmt.Errorf("ccp: safes: Safe %s maps to no locker", naming.Quote(safe))
		}
		key := strings.ToLower(safe)
		if _, dup := h.safes[key]; dup {
			return nil, fmt.Errorf("ccp: safes: Safe %s is given twice (Safe names are compared without regard to case)", naming.Quote(safe))
		}
		h.safes[key] = locker
	}
	if opts.AutoLoginSafe != "" {
		if err := naming.CheckSafe(opts.AutoLoginSafe); err != nil {
			return nil, fmt.Errorf("ccp: auto-login Safe: %w", err)
		}
		h.autoLogin = strings.ToLower(opts.AutoLoginSafe)
		if _, dup := h.safes[h.autoLogin]; dup {
			return nil, fmt.Errorf("ccp: the auto-login Safe %s is also mapped to a locker", naming.Quote(opts.AutoLoginSafe))
		}
	}
	var err error
	if h.cyberArk, err = naming.NewScheme(naming.CyberArk, naming.Options{}); err != nil {
		return nil, err
	}
	// CCP clients send Query=Safe=x;Folder=y;Object=z with raw semicolons,
	// which net/http no longer treats as separators and warns about on
	// every request. The query is parsed from RequestURI (splitting on '&'
	// only); AllowQuerySemicolons is there to silence the warning.
	h.semicolons = http.AllowQuerySemicolons(http.HandlerFunc(h.serve))
	return h, nil
}

// ServeHTTP answers GET /{WebService}/api/Accounts; any other path is 404
// and any other method 405, without a CCP body.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.semicolons.ServeHTTP(w, r)
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) {
	if !strings.EqualFold(strings.TrimSuffix(r.URL.Path, "/"), h.path) {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "method not allowed: the GetPassword web service answers GET", http.StatusMethodNotAllowed)
		return
	}
	start := time.Now()
	a := h.answer(r)
	a.write(w)
	attrs := []slog.Attr{slog.Int("status", a.status), slog.String("code", a.code),
		slog.String("app_id", a.appID), slog.String("identity", a.identity), slog.String("safe", a.safe), slog.String("object", a.object),
		slog.Duration("elapsed", time.Since(start))}
	if a.inner != nil && a.status >= 500 {
		h.log.LogAttrs(r.Context(), slog.LevelWarn, "ccp request failed", append(attrs, slog.String("error", a.inner.Error()))...)
		return
	}
	h.log.LogAttrs(r.Context(), slog.LevelDebug, "ccp request", attrs...)
}

// answer computes the answer to a GetPassword request.
func (h *Handler) answer(r *http.Request) *answer {
	q, bad := parseRequest(r)
	if bad != nil {
		return bad
	}
	a := &answer{appID: q.appID, safe: q.safe, object: q.object}
	p, ok := principal(r, q.appID)
	if !ok {
		return a.fail(http.StatusForbidden, codeAuthentication,
			fmt.Sprintf("Authentication error for App ID [%s]: the request carries no verified client certificate (this endpoint identifies applications by client certificate)", clip(q.appID)), nil)
	}
	a.identity = p.ID
	b := h.b.Load()
	if b == nil {
		return a.fail(http.StatusServiceUnavailable, codeVaultDown, "Connection to the Vault has failed: the broker is not ready", nil)
	}
	ctx := auth.NewContext(r.Context(), p)
	if q.reason != "" {
		ctx = auth.WithPurpose(ctx, q.reason)
	}
	if q.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, q.timeout)
		defer cancel()
	}
	key := strings.ToLower(q.safe)
	if h.autoLogin != "" && key == h.autoLogin {
		logical, derr := h.cyberArk.Decode(q.object)
		if derr != nil {
			logical = q.object // a name of the auto-login mapping, verbatim
		}
		res, err := b.GetAutoLoginObject(ctx, logical, false)
		if err != nil {
			return a.brokerError(err)
		}
		return a.found(res, q)
	}
	locker, ok := h.safes[key]
	if !ok {
		h.log.LogAttrs(ctx, slog.LevelInfo, "ccp request for a Safe that is not configured",
			slog.String("safe", q.safe), slog.String("identity", p.ID), slog.String("app_id", q.appID))
		return a.notFound(q)
	}
	logical, derr := h.cyberArk.Decode(q.object)
	if derr != nil {
		return a.fail(http.StatusBadRequest, codeBadQuery,
			fmt.Sprintf("Invalid query format: Object [%s] is not a CyberArk object name in secretbroker's encoding (%v)", clip(q.object), derr), nil)
	}
	res, err := b.GetObject(ctx, broker.ObjectRequest{Locker: locker, Object: logical})
	if err != nil {
		// Whatever stopped the request before any vault was asked (the
		// policy's refusal, a rate limit, a name refused), a caller that
		// may not use the locker at all learns no more than "not found".
		if beforeVault(err) && !b.LockerVisible(ctx, locker) {
			return a.notFound(q)
		}
		return a.brokerError(err)
	}
	return a.found(res, q)
}

// principal returns the caller proved by the request's verified client
// certificate, with the CCP aliases of appID.
func principal(r *http.Request, appID string) (auth.Principal, bool) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.PeerCertificates) == 0 {
		return auth.Principal{}, false
	}
	id := auth.IdentityFromCert(r.TLS.PeerCertificates[0])
	if id == "" {
		return auth.Principal{}, false
	}
	return auth.Principal{ID: id, Method: auth.MethodMTLS, Aliases: []string{"ccp:" + appID + "@" + id, "ccp-app:" + appID}}, true
}
