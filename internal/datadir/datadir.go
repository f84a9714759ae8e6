// Package datadir says where secretbroker keeps its data when nothing else
// says so. The daemon creates the directory there and the CLI and clients
// look there for the local admin token, so both use this one rule. It
// imports the standard library only, so the CLI carries none of the
// daemon's dependencies.
package datadir

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

// Lookups are the environment lookups Default needs; tests substitute them.
type Lookups struct {
	// Getenv looks up an environment variable.
	Getenv func(string) string
	// HomeDir and ConfigDir return the user's home and configuration
	// directories.
	HomeDir, ConfigDir func() (string, error)
}

// OS returns the lookups of this process.
func OS() Lookups {
	return Lookups{Getenv: os.Getenv, HomeDir: os.UserHomeDir, ConfigDir: os.UserConfigDir}
}

// Default returns secretbroker's data directory: $XDG_STATE_HOME/secretbroker,
// else ~/.local/state/secretbroker on Linux, else secretbroker in the user's
// configuration directory.
func Default(l Lookups) (string, error) {
	if d := l.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "secretbroker"), nil
	}
	if runtime.GOOS == "linux" {
		home, err := l.HomeDir()
		if err != nil {
			return "", fmt.Errorf("finding the data directory: %w (pass -data-dir)", err)
		}
		return filepath.Join(home, ".local", "state", "secretbroker"), nil
	}
	d, err := l.ConfigDir()
	if err != nil {
		return "", fmt.Errorf("finding the data directory: %w (pass -data-dir)", err)
	}
	return filepath.Join(d, "secretbroker"), nil
}
