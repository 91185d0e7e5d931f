package alert

import "github.com/studiohq/studio/alert/config"

// The rule file's types, its decoding and validation live in package
// alert/config. These aliases keep the names package alert has always
// exported; new code may use either.
type (
	Config         = config.Config
	Rule           = config.Rule
	Route          = config.Route
	ReceiverConfig = config.ReceiverConfig
	ConfigError    = config.Error
	Severity       = config.Severity
	MatchType      = config.MatchType
	Matcher        = config.Matcher
	Matchers       = config.Matchers
	CompareOp      = config.CompareOp
	Expr           = config.Expr
	EventSelector  = config.EventSelector
	TemplateData   = config.TemplateData
)

// See package alert/config.
const (
	DefaultHold           = config.DefaultHold
	DefaultGroupWait      = config.DefaultGroupWait
	DefaultGroupInterval  = config.DefaultGroupInterval
	DefaultRepeatInterval = config.DefaultRepeatInterval

	KindPagerDuty    = config.KindPagerDuty
	KindSlack        = config.KindSlack
	KindWebhook      = config.KindWebhook
	KindAlertmanager = config.KindAlertmanager

	SeverityCritical = config.SeverityCritical
	SeverityWarning  = config.SeverityWarning
	SeverityInfo     = config.SeverityInfo

	MatchEqual     = config.MatchEqual
	MatchNotEqual  = config.MatchNotEqual
	MatchRegexp    = config.MatchRegexp
	MatchNotRegexp = config.MatchNotRegexp

	OpGreater      = config.OpGreater
	OpGreaterEqual = config.OpGreaterEqual
	OpLess         = config.OpLess
	OpLessEqual    = config.OpLessEqual
	OpEqual        = config.OpEqual
	OpNotEqual     = config.OpNotEqual

	DefaultRulesFile = config.DefaultRulesFile
)

// Load is config.Load: it parses and validates a rule file.
func Load(name string, data []byte) (*Config, error) { return config.Load(name, data) }

// DefaultConfig is config.Default: the embedded default rules, freshly
// loaded.
func DefaultConfig() *Config { return config.Default() }

// DefaultRulesYAML is config.DefaultRulesYAML: a copy of the embedded
// default rule file.
func DefaultRulesYAML() []byte { return config.DefaultRulesYAML() }

// SampleNames is config.SampleNames: the sample names rules may use.
func SampleNames() []string { return config.SampleNames() }

// NewMatcher is config.NewMatcher.
func NewMatcher(t MatchType, name, value string) (*Matcher, error) {
	return config.NewMatcher(t, name, value)
}

// ParseMatcher is config.ParseMatcher.
func ParseMatcher(s string) (*Matcher, error) { return config.ParseMatcher(s) }

// ParseExpr is config.ParseExpr.
func ParseExpr(s string) (*Expr, error) { return config.ParseExpr(s) }

// ParseEventSelector is config.ParseEventSelector.
func ParseEventSelector(s string) (*EventSelector, error) { return config.ParseEventSelector(s) }
