package config

import "go.yaml.in/yaml/v3"

// Severity orders how urgent an alert is.
type Severity string

// The severities a rule may carry.
const (
	SeverityCritical Severity = "critical"
	SeverityWarning  Severity = "warning"
	SeverityInfo     Severity = "info"
)

// Valid reports whether s is one of the known severities.
func (s Severity) Valid() bool {
	return s == SeverityCritical || s == SeverityWarning || s == SeverityInfo
}

// UnmarshalYAML decodes a severity from a string; Config checks that it is
// one of the known ones.
func (s *Severity) UnmarshalYAML(n *yaml.Node) error {
	var t text
	if err := t.UnmarshalYAML(n); err != nil {
		return err
	}
	*s = Severity(t)
	return nil
}
