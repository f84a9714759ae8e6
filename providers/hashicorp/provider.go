package hashicorp

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hashicorp/vault/api"
	"github.com/secretbroker/secretbroker/providers"
)

// logicalAPI is the part of the Vault API the provider reads and writes
// secrets with; *api.Logical implements it.
type logicalAPI interface {
	ReadWithDataWithContext(ctx context.Context, path string, data map[string][]string) (*api.Secret, error)
	WriteWithContext(ctx context.Context, path string, data map[string]any) (*api.Secret, error)
	DeleteWithContext(ctx context.Context, path string) (*api.Secret, error)
}

// Provider reads (and, with writable: true, writes) the secrets of one KV
// mount of a Vault server. Every error it returns is a context error or
// holds a *providers.Error. It is safe for concurrent use. Create it with
// New and stop it with Close.
type Provider struct {
	cfg    Config
	log    *slog.Logger
	client *api.Client // carries the current token
	kv     logicalAPI
	auth   authenticator
	lookup func(ctx context.Context, token string) (*api.Secret, error) // lookup-self as token
	tr     *closingTransport

	loginSem chan struct{} // one login at a time
	readySem chan struct{} // one first-connection setup at a time

	mu         sync.Mutex
	session    *api.Secret // the current login; nil before the first
	gen        uint64      // counts logins
	loginAt    time.Time   // when the current session was obtained
	hasSession atomic.Bool
	kvVersion  atomic.Int32  // 0 until known
	changed    chan struct{} // signalled after each login

	ctx       context.Context // cancelled by Close
	cancel    context.CancelFunc
	done      chan struct{}  // closed when run returns
	watchers  sync.WaitGroup // LifetimeWatcher goroutines
	closeOnce sync.Once

	minBackoff, maxBackoff time.Duration
}

var _ providers.Provider = (*Provider)(nil)

// kind is the provider kind named in NotWritable errors.
const kind = "hashicorp"

// healthCheckName is the secret name Check reads under the configured
// mount and path. It is never created; Check treats its absence (and its
// presence) as healthy and returns no part of it.
const healthCheckName = "secretbroker-health-check"

// New validates cfg (Config.Validate, every problem joined), builds the
// Vault client, logs in and finds the KV version of the mount. A bad
// configuration is a *providers.ConfigError (several joined); a refused
// login is a classified error (providers.CodeOf says
// PermissionDenied or InvalidArgument). When Vault cannot be reached or
// throttles (Unavailable, ResourceExhausted), New still returns the
// provider, logs a warning and keeps trying to log in in the background;
// Get and Check answer Unavailable until it succeeds, so one vault being
// down does not stop the daemon. logger may be nil.
func New(ctx context.Context, cfg Config, logger *slog.Logger) (*Provider, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	logger = logger.With("provider", "hashicorp", "address", cfg.Address, "mount", cfg.Mount)
	if cfg.TLS.InsecureSkipVerifyThisIsUnsafe {
		logger.Warn("TLS certificate verification of vault is OFF (tls.insecure_skip_verify_this_is_unsafe): credentials can be intercepted")
	}

	p := &Provider{
		cfg:        cfg,
		log:        logger,
		loginSem:   make(chan struct{}, 1),
		readySem:   make(chan struct{}, 1),
		changed:    make(chan struct{}, 1),
		done:       make(chan struct{}),
		minBackoff: cfg.backoffMin,
		maxBackoff: cfg.backoffMax,
	}
	if cfg.KVVersion != 0 {
		p.kvVersion.Store(int32(cfg.KVVersion))
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	if err := p.buildClient(); err != nil {
		p.cancel()
		return nil, err
	}
	if err := p.ready(ctx); err != nil {
		if !providers.Retryable(providers.CodeOf(err)) {
			p.cancel()
			p.tr.base.CloseIdleConnections()
			return nil, err
		}
		logger.Warn("vault is unreachable; the provider will keep trying to log in", "error", err)
	}
	go p.run()
	return p, nil
}

// maxIdleConns is how many idle connections to Vault are kept: at least the
// daemon's default concurrency limit per provider.
const maxIdleConns = 256

// buildClient makes the token-carrying client, a client for logins that
// sends no token, and the authenticator.
func (p *Provider) buildClient() error {
	cfg := p.cfg
	ac := api.DefaultConfig()
	if ac.Error != nil {
		// The VAULT_* environment variables are malformed.
		return providers.Errorf(providers.FailedPrecondition, fmt.Errorf("hashicorp: default vault client configuration: %w", ac.Error),
			"the VAULT_* environment variables are malformed")
	}
	// The configuration is authoritative: undo what VAULT_* variables set.
	ac.Address = cfg.Address
	ac.AgentAddress = ""
	ac.SRVLookup = false
	ac.Timeout = cfg.Timeout
	ac.MaxRetries = cfg.MaxAttempts - 1 // normalize made it at least 1
	ac.CheckRetry = p.checkRetry
	ac.MinRetryWait, ac.MaxRetryWait = time.Second, maxRetryWait
	ac.Limiter = nil
	ac.CloneHeaders = true
	ac.CloneToken = false
	tr, ok := ac.HttpClient.Transport.(*http.Transport)
	if !ok {
		return providers.Errorf(providers.Internal, fmt.Errorf("hashicorp: unexpected vault client transport %T", ac.HttpClient.Transport),
			"cannot build the vault client")
	}
	// vault/api keeps GOMAXPROCS+1 idle connections: under a herd of
	// misses almost every read opened a new connection (and, against a real
	// Vault, made a TLS handshake). Keep as many as the daemon sends at once.
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = maxIdleConns, maxIdleConns
	tc := tr.TLSClientConfig
	tc.RootCAs, tc.InsecureSkipVerify, tc.ServerName = nil, false, ""
	tc.Certificates, tc.GetClientCertificate = nil, nil
	tc.MinVersion = tls.VersionTLS12
	err := ac.ConfigureTLS(&api.TLSConfig{
		CACert:        cfg.TLS.CAFile,
		ClientCert:    cfg.TLS.ClientCertFile,
		ClientKey:     cfg.TLS.ClientKeyFile,
		TLSServerName: cfg.TLS.ServerName,
		Insecure:      cfg.TLS.InsecureSkipVerifyThisIsUnsafe,
	})
	if err != nil {
		return configErr("tls", "cannot be applied", "check ca_file, client_cert_file and client_key_file")
	}
	p.tr = &closingTransport{base: tr, ctx: p.ctx}
	ac.HttpClient.Transport = p.tr

	client, err := api.NewClient(ac)
	if err != nil {
		return providers.Errorf(providers.Internal, fmt.Errorf("hashicorp: building the vault client: %w", err), "cannot build the vault client")
	}
	client.ClearToken() // NewClient picks up VAULT_TOKEN; the login decides
	if cfg.Namespace != "" {
		client.SetNamespace(cfg.Namespace)
	} else {
		client.ClearNamespace()
	}
	lc, err := client.CloneWithHeaders()
	if err != nil {
		return providers.Errorf(providers.Internal, fmt.Errorf("hashicorp: building the vault login client: %w", err), "cannot build the vault client")
	}
	lc.ClearToken()
	lookup := func(ctx context.Context, token string) (*api.Secret, error) {
		c, err := lc.CloneWithHeaders()
		if err != nil {
			return nil, err
		}
		c.SetToken(token)
		return c.Auth().Token().LookupSelfWithContext(ctx)
	}
	p.client = client
	p.kv = client.Logical()
	p.lookup = lookup
	p.auth = newAuthenticator(cfg, lc.Logical(), lookup)
	return nil
}

// ready makes sure the provider has logged in once and knows the KV version.
func (p *Provider) ready(ctx context.Context) error {
	if p.hasSession.Load() && p.kvVersion.Load() != 0 {
		return nil
	}
	if err := acquire(ctx, p.readySem); err != nil {
		return err
	}
	defer func() { <-p.readySem }()
	if !p.hasSession.Load() {
		if err := p.login(ctx); err != nil {
			return err
		}
	}
	if p.kvVersion.Load() != 0 {
		return nil
	}
	v, err := p.detectKV(ctx)
	if err != nil {
		return err
	}
	p.kvVersion.Store(int32(v))
	p.log.Debug("detected kv version", "kv_version", v)
	return nil
}

// detectKV asks Vault which version the KV mount is, as the vault CLI does.
func (p *Provider) detectKV(ctx context.Context) (int, error) {
	sec, err := p.kv.ReadWithDataWithContext(ctx, "sys/internal/ui/mounts/"+p.cfg.Mount, nil)
	if err != nil {
		if classify(err) == providers.PermissionDenied {
			return 0, providers.Errorf(providers.PermissionDenied, err, "cannot detect the KV version: the mount does not exist or this token may not see it; check mount, or set kv_version")
		}
		return 0, p.wrap(ctx, err)
	}
	if sec == nil || sec.Data == nil {
		return 0, providers.Errorf(providers.FailedPrecondition, nil, "the configured mount does not exist or is not visible to this token")
	}
	if t, _ := sec.Data["type"].(string); t != "kv" && t != "generic" {
		return 0, providers.Errorf(providers.FailedPrecondition, nil, "the configured mount is not a KV secrets engine")
	}
	if opts, ok := sec.Data["options"].(map[string]any); ok {
		if v, _ := opts["version"].(string); v == "2" {
			return 2, nil
		}
	}
	return 1, nil
}

// secretPath returns where name lives: the data path on KV v2.
func (p *Provider) secretPath(kv int, name string) string {
	var b strings.Builder
	b.WriteString(p.cfg.Mount)
	if kv == 2 {
		b.WriteString("/data")
	}
	if p.cfg.Path != "" {
		b.WriteString("/" + p.cfg.Path)
	}
	b.WriteString("/" + name)
	return b.String()
}

// checkName rejects names that cannot be one Vault path element.
func checkName(name string) error {
	switch {
	case name == "":
		return providers.Errorf(providers.InvalidArgument, nil, "the secret name is empty")
	case name == "." || name == "..":
		return providers.Errorf(providers.InvalidArgument, nil, "the secret name is not a usable Vault path element")
	case strings.Contains(name, "/"):
		return providers.Errorf(providers.InvalidArgument, nil, "the secret name contains '/'")
	case strings.ContainsFunc(name, unicode.IsControl):
		return providers.Errorf(providers.InvalidArgument, nil, "the secret name contains control characters")
	}
	return nil
}

// begin runs the checks every operation starts with and returns the KV
// version.
func (p *Provider) begin(ctx context.Context, ref providers.Ref) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if p.ctx.Err() != nil {
		return 0, providers.Errorf(providers.FailedPrecondition, nil, "provider is closed")
	}
	if ref.Location != "" {
		return 0, providers.Errorf(providers.InvalidArgument, nil, "the hashicorp provider takes no location; the mount and path are configuration")
	}
	if err := checkName(ref.Name); err != nil {
		return 0, err
	}
	if err := p.ready(ctx); err != nil {
		return 0, err
	}
	return int(p.kvVersion.Load()), nil
}

// Get returns the secret named ref.Name: on KV v2 the latest version, or
// version ref.Version; on KV v1 the only one. A missing secret, and a
// deleted or destroyed version, is NotFound.
func (p *Provider) Get(ctx context.Context, ref providers.Ref) (*providers.Secret, error) {
	ctx = withRetryAfter(ctx)
	kv, err := p.begin(ctx, ref)
	if err != nil {
		return nil, err
	}
	var s *providers.Secret
	err = p.retryDenied(ctx, func() error {
		var err error
		s, err = p.read(ctx, kv, ref)
		return err
	})
	return s, err
}

// retryDenied runs op, and once more if Vault refused the token and
// recoverDenied found a better one.
func (p *Provider) retryDenied(ctx context.Context, op func() error) error {
	tok := p.client.Token()
	err := op()
	if err != nil && classify(err) == providers.PermissionDenied && p.recoverDenied(ctx, tok) {
		err = op()
	}
	return err
}

func (p *Provider) read(ctx context.Context, kv int, ref providers.Ref) (*providers.Secret, error) {
	var params map[string][]string
	if ref.Version != "" {
		if kv == 1 {
			return nil, providers.Errorf(providers.InvalidArgument, nil, "a KV version 1 mount keeps no versions")
		}
		if n, err := strconv.Atoi(ref.Version); err != nil || n < 1 {
			return nil, providers.Errorf(providers.InvalidArgument, nil, "a KV version is a positive integer")
		}
		params = map[string][]string{"version": {ref.Version}}
	}
	sec, err := p.kv.ReadWithDataWithContext(ctx, p.secretPath(kv, ref.Name), params)
	if err != nil {
		return nil, p.wrap(ctx, err)
	}
	if sec == nil || sec.Data == nil {
		return nil, providers.Errorf(providers.NotFound, nil, "no secret with that name")
	}
	if kv == 1 {
		attrs, err := attributes(sec.Data)
		if err != nil {
			return nil, err
		}
		return &providers.Secret{Attributes: attrs}, nil
	}
	return fromV2(sec.Data, ref.Version != "")
}

// fromV2 turns a KV v2 read (data and metadata) into a Secret.
func fromV2(d map[string]any, versioned bool) (*providers.Secret, error) {
	which := "latest version"
	if versioned {
		which = "requested version"
	}
	meta, _ := d["metadata"].(map[string]any)
	data, hasData := d["data"].(map[string]any)
	if !hasData {
		if d["data"] != nil {
			return nil, providers.Errorf(providers.Internal, nil, "vault answered a KV v2 secret whose data is not an object")
		}
		if destroyed, _ := meta["destroyed"].(bool); destroyed {
			return nil, providers.Errorf(providers.NotFound, nil, "%s is destroyed", which)
		}
		if dt, _ := meta["deletion_time"].(string); dt != "" {
			return nil, providers.Errorf(providers.NotFound, nil, "%s is deleted", which)
		}
		return nil, providers.Errorf(providers.NotFound, nil, "no secret with that name")
	}
	attrs, err := attributes(data)
	if err != nil {
		return nil, err
	}
	s := &providers.Secret{Attributes: attrs}
	if meta != nil {
		switch v := meta["version"].(type) {
		case json.Number:
			s.Version = v.String()
		case float64:
			s.Version = strconv.FormatInt(int64(v), 10)
		}
		if ct, _ := meta["created_time"].(string); ct != "" {
			if t, err := time.Parse(time.RFC3339Nano, ct); err == nil {
				s.UpdatedAt = t
			}
		}
	}
	return s, nil
}

// attributes renders a KV data object: strings as they are, anything else
// as JSON text.
func attributes(d map[string]any) (map[string]string, error) {
	attrs := make(map[string]string, len(d))
	for k, v := range d {
		switch v := v.(type) {
		case string:
			attrs[k] = v
		case json.Number:
			attrs[k] = v.String()
		default:
			b, err := json.Marshal(v)
			if err != nil {
				return nil, providers.Errorf(providers.Internal, nil, "vault answered a value the provider cannot render")
			}
			attrs[k] = string(b)
		}
	}
	return attrs, nil
}

// writable checks that writes are allowed.
func (p *Provider) writable() error {
	if !p.cfg.Writable {
		return providers.NotWritable(kind)
	}
	return nil
}

// Writable reports whether Put and Delete are allowed (writable: true).
func (p *Provider) Writable() bool { return p.cfg.Writable }

// Check reports whether Vault is reachable and accepts the provider's
// token for the mount: it logs in (and detects the KV version) when that
// has not happened yet, then reads the secret name healthCheckName under
// the configured mount and path, which needs the same policy as Get and
// reaches the same Vault node. A missing secret (the normal answer) is
// healthy, so is an existing one (nothing of it is returned). A sealed or
// standby Vault is Unavailable, a denied token PermissionDenied, a rate
// limit ResourceExhausted. Vault's audit log shows the read.
func (p *Provider) Check(ctx context.Context) error {
	ctx = withRetryAfter(ctx)
	kv, err := p.begin(ctx, providers.Ref{Name: healthCheckName})
	if err != nil {
		return err
	}
	err = p.retryDenied(ctx, func() error {
		_, err := p.kv.ReadWithDataWithContext(ctx, p.secretPath(kv, healthCheckName), nil)
		return p.wrap(ctx, err)
	})
	if providers.CodeOf(err) == providers.NotFound {
		return nil
	}
	return err
}

// Put stores s as the secret named ref.Name: a new version on KV v2, a
// replacement on KV v1. It needs writable: true. Values must be UTF-8,
// since Vault stores JSON strings.
func (p *Provider) Put(ctx context.Context, ref providers.Ref, s *providers.Secret) error {
	ctx = withRetryAfter(ctx)
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := p.writable(); err != nil {
		return err
	}
	if s == nil {
		return providers.Errorf(providers.InvalidArgument, nil, "no secret to store")
	}
	data := make(map[string]any, len(s.Attributes))
	for k, v := range s.Attributes {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return providers.Errorf(providers.InvalidArgument, nil, "attribute names and values must be valid UTF-8 for Vault")
		}
		data[k] = v
	}
	kv, err := p.begin(ctx, ref)
	if err != nil {
		return err
	}
	if ref.Version != "" {
		return providers.Errorf(providers.InvalidArgument, nil, "a write cannot name a version")
	}
	body := data
	if kv == 2 {
		body = map[string]any{"data": data}
	}
	return p.retryDenied(ctx, func() error {
		_, err := p.kv.WriteWithContext(ctx, p.secretPath(kv, ref.Name), body)
		return p.wrap(ctx, err)
	})
}

// Delete removes the secret named ref.Name. On KV v2 it soft-deletes the
// latest version: Vault keeps the history (an operator can undelete it) and
// Get answers NotFound "latest version is deleted" until a new Put. On KV v1
// the secret is gone. Deleting a missing (or already deleted) secret is
// NotFound. It needs writable: true.
func (p *Provider) Delete(ctx context.Context, ref providers.Ref) error {
	ctx = withRetryAfter(ctx)
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := p.writable(); err != nil {
		return err
	}
	if ref.Version != "" {
		return providers.Errorf(providers.InvalidArgument, nil, "delete works on the latest version only")
	}
	kv, err := p.begin(ctx, ref)
	if err != nil {
		return err
	}
	return p.retryDenied(ctx, func() error {
		// Vault answers 204 for deleting a missing secret: look first.
		if _, err := p.read(ctx, kv, ref); err != nil {
			return err
		}
		_, err := p.kv.DeleteWithContext(ctx, p.secretPath(kv, ref.Name))
		return p.wrap(ctx, err)
	})
}

// Close stops token renewal and re-login, aborts requests in flight and
// waits for the background goroutines to end. It is safe to call more than
// once.
func (p *Provider) Close() error {
	p.closeOnce.Do(func() {
		p.cancel()
		<-p.done
		p.watchers.Wait()
		p.tr.base.CloseIdleConnections()
	})
	return nil
}
