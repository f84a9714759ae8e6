package config

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/secretbroker/secretbroker/broker"
	"github.com/secretbroker/secretbroker/naming"
	"github.com/secretbroker/secretbroker/providers"
	"github.com/secretbroker/secretbroker/providers/aws"
	"github.com/secretbroker/secretbroker/providers/azure"
	"github.com/secretbroker/secretbroker/providers/cyberark"
	"github.com/secretbroker/secretbroker/providers/embedded"
	"github.com/secretbroker/secretbroker/providers/hashicorp"
)

// configField returns the field of a *providers.ConfigError in err, or "".
func configField(err error) string {
	var ce *providers.ConfigError
	if errors.As(err, &ce) {
		return ce.Field
	}
	return ""
}

// Build creates every provider instance and the broker that serves the
// lockers. Relative file paths of the embedded store are resolved against
// dataDir. If anything fails, the providers already created are closed, so
// nothing is left half built.
func (c *Config) Build(ctx context.Context, dataDir string, logger *slog.Logger) (*broker.Broker, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var backends []broker.Backend
	closeAll := func() {
		for _, be := range backends {
			_ = be.Provider.Close()
		}
	}
	for _, name := range sortedKeys(c.Providers) {
		pc := c.Providers[name]
		scheme, err := pc.Scheme()
		if err != nil {
			closeAll()
			return nil, c.errorf([]string{"providers", name, "naming"}, "provider %q: %v", name, err)
		}
		p, writable, err := c.newProvider(ctx, name, pc, dataDir, logger.With("provider", name))
		if err != nil {
			closeAll()
			return nil, c.ProviderError(name, err)
		}
		backends = append(backends, broker.Backend{Name: name, Provider: p, Scheme: scheme, Writable: writable})
	}
	opts := broker.Options{Backends: backends, Timeout: c.Server.RequestTimeout, Logger: logger}
	for _, name := range sortedKeys(c.Lockers) {
		l := c.Lockers[name]
		opts.Lockers = append(opts.Lockers, broker.Locker{Name: name, Backend: l.Provider, Prefix: l.Prefix,
			Safe: l.Safe, UsernameTemplate: l.UsernameTemplate})
	}
	if a := c.AutoLogin; a != nil {
		opts.AutoLogin = &broker.AutoLogin{Backend: a.Provider, Safe: a.Safe, Format: a.Format,
			Mapping: a.Mapping, UsernameTemplate: a.UsernameTemplate}
	}
	b, err := broker.New(opts)
	if err != nil {
		closeAll()
		return nil, &Error{File: c.file, Msg: err.Error()}
	}
	return b, nil
}

// newProvider creates one provider instance: an explicit switch on the
// kind, no registry.
func (c *Config) newProvider(ctx context.Context, name string, pc *Provider, dataDir string, logger *slog.Logger) (providers.Provider, bool, error) {
	switch pc.Kind() {
	case naming.Embedded:
		cfg := *pc.Embedded
		cfg.Path = inDir(dataDir, cfg.Path)
		cfg.KeyFile = inDir(dataDir, cfg.KeyFile)
		p, err := embedded.New(ctx, cfg)
		if err != nil {
			return nil, false, err
		}
		return p, !cfg.ReadOnly, nil
	case naming.AWS:
		p, err := aws.New(ctx, *pc.AWS)
		if err != nil {
			return nil, false, err
		}
		return p, pc.AWS.Writable, nil
	case naming.Azure:
		p, err := azure.New(ctx, *pc.Azure)
		if err != nil {
			return nil, false, err
		}
		return p, pc.Azure.Writable, nil
	case naming.HashiCorp:
		p, err := hashicorp.New(ctx, *pc.HashiCorp, logger)
		if err != nil {
			return nil, false, err
		}
		return p, pc.HashiCorp.Writable, nil
	case naming.CyberArk:
		p, err := cyberark.New(ctx, *pc.CyberArk)
		if err != nil {
			return nil, false, err
		}
		return p, false, nil
	}
	return nil, false, fmt.Errorf("provider %q has no kind", name)
}

// inDir resolves a relative path against dir; "" stays "".
func inDir(dir, path string) string {
	if path == "" || filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(dir, path)
}
