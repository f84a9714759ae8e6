// Package configs holds secretbroker's example configurations. The default
// one, secretbroker.yaml, is built into the daemon and used when no
// -config flag is given; the others document each provider kind and are
// loaded by tests so that they stay valid.
package configs

import _ "embed"

// Default is configs/secretbroker.yaml, the built-in default configuration.
//
//go:embed secretbroker.yaml
var Default []byte

// DefaultName is the name the default configuration is reported under.
const DefaultName = "configs/secretbroker.yaml (built in)"
