package config

import (
	"bytes"
	_ "embed"
)

//go:embed default_rules.yaml
var defaultRulesYAML []byte

// DefaultRulesFile is the name the embedded default rule file has in errors.
const DefaultRulesFile = "default_rules.yaml"

// DefaultRulesYAML returns a copy of the embedded default rule file, a
// starting point for a custom one.
func DefaultRulesYAML() []byte { return bytes.Clone(defaultRulesYAML) }

// Default returns the embedded default rules with the default route and
// receivers, freshly loaded (the caller owns it).
func Default() *Config {
	c, err := Load(DefaultRulesFile, defaultRulesYAML)
	if err != nil {
		panic("config: the embedded default rules do not load: " + err.Error())
	}
	return c
}
