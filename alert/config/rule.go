package config

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"text/template"
	"time"

	"go.yaml.in/yaml/v3"
)

// Rule is one alerting rule: a sample condition (Expr) or an event
// condition (Event), never both.
type Rule struct {
	Name string `json:"name" yaml:"name"`
	// Expr is the condition of a sample rule.
	Expr *Expr `json:"expr,omitempty" yaml:"expr,omitempty"`
	// Event selects the events of an event rule: the alert fires while an
	// event matched within the last Hold, one alert per event label set.
	Event *EventSelector `json:"event,omitempty" yaml:"event,omitempty"`
	// Hold is how long an event keeps an event rule's condition true
	// (default DefaultHold). Only for event rules.
	Hold time.Duration `json:"hold,omitempty" yaml:"hold,omitempty"`
	// For is how long the condition must hold before the alert fires (0:
	// at the first evaluation).
	For time.Duration `json:"for,omitempty" yaml:"for,omitempty"`
	// KeepFiringFor keeps a firing alert firing this long after its
	// condition stops holding; if it holds again meanwhile, the episode
	// goes on with no resolve notice (protection against flapping).
	KeepFiringFor time.Duration `json:"keep_firing_for,omitempty" yaml:"keep_firing_for,omitempty"`
	// ResolveThreshold, when set, replaces the Expr's threshold while the
	// alert fires (hysteresis): `cache_hit_rate < 0.8` with 0.85 fires
	// below 80 % and resolves only at 85 % or more. It must lie on the
	// resolving side of the threshold; only for <, <=, > and >=.
	ResolveThreshold *float64 `json:"resolve_threshold,omitempty" yaml:"resolve_threshold,omitempty"`
	Severity         Severity `json:"severity" yaml:"severity"`
	// Unit is what the value measures, for notifications (count, ratio,
	// seconds, ms, bytes, days); empty means the sample's own unit (see
	// ValueUnit).
	Unit Unit `json:"unit,omitempty" yaml:"unit,omitempty"`
	// Summary and Description are templates (see TemplateData); an empty
	// summary renders as the rule's name.
	Summary     string `json:"summary,omitempty" yaml:"summary,omitempty"`
	Description string `json:"description,omitempty" yaml:"description,omitempty"`
	// Labels are added to every alert of the rule (over the sample's or
	// event's own); they may not set alertname or severity.
	Labels map[string]string `json:"labels,omitempty" yaml:"labels,omitempty"`
	// Annotations are extra annotation templates; they may not set
	// summary, description or runbook_url.
	Annotations map[string]string `json:"annotations,omitempty" yaml:"annotations,omitempty"`
	// RunbookURL links the runbook: absolute, or relative (such as
	// docs/runbooks/redis-down.md) to the Engine's RunbookBase.
	RunbookURL string `json:"runbook_url,omitempty" yaml:"runbook_url,omitempty"`
	// Line is where the rule starts in its file (0 for a rule built in code).
	Line int `json:"line,omitempty" yaml:"-"`

	tmpl map[string]*template.Template // summary, description and Annotations' keys
}

// UnmarshalYAML decodes a rule strictly (see decodeFields); Config checks
// it once decoded.
func (r *Rule) UnmarshalYAML(n *yaml.Node) error {
	_, err := r.decode(n)
	return err
}

// decode decodes the rule from n and returns its fields, for the lines of
// check's errors.
func (r *Rule) decode(n *yaml.Node) (*fields, error) {
	*r = Rule{Line: n.Line}
	return decodeFields(n,
		field{"name", (*text)(&r.Name)},
		field{"expr", optional(func(x *Expr) { r.Expr = x })},
		field{"event", optional(func(s *EventSelector) { r.Event = s })},
		field{"hold", decodeFunc(r.decodeHold)},
		field{"for", (*duration)(&r.For)},
		field{"keep_firing_for", (*duration)(&r.KeepFiringFor)},
		field{"resolve_threshold", optional(func(t *number) { r.ResolveThreshold = (*float64)(t) })},
		field{"severity", &r.Severity},
		field{"unit", &r.Unit},
		field{"summary", (*text)(&r.Summary)},
		field{"description", (*text)(&r.Description)},
		field{"labels", (*textMap)(&r.Labels)},
		field{"annotations", (*textMap)(&r.Annotations)},
		field{"runbook_url", (*text)(&r.RunbookURL)},
	)
}

// decodeHold decodes hold, which a file may not set to 0 (a rule built
// in code leaves it 0 for DefaultHold).
func (r *Rule) decodeHold(n *yaml.Node) error {
	if err := (*duration)(&r.Hold).UnmarshalYAML(n); err != nil {
		return err
	}
	if r.Hold == 0 {
		return errAt(n, "must be more than 0")
	}
	return nil
}

var ruleNameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,127}$`)

// check validates a rule, fills in its default hold and parses its
// templates, in this order of fields (the first problem found is the one
// reported).
func (r *Rule) check() *fieldError {
	for _, step := range []func() *fieldError{r.checkCondition, r.checkTimings, r.checkResolveThreshold, r.checkSeverity, r.checkUnit, r.checkLabels, r.checkRunbookURL, r.parseTemplates} {
		if fe := step(); fe != nil {
			return fe
		}
	}
	return nil
}

// checkCondition checks the name and the rule's one condition: an expr
// or an event.
func (r *Rule) checkCondition() *fieldError {
	switch {
	case r.Name == "":
		return ferr("name", "missing")
	case !ruleNameRE.MatchString(r.Name):
		return ferr("name", "invalid %q: want letters, digits and _ . : - (at most 128)", r.Name)
	case r.Expr != nil && r.Event != nil:
		return ferr("event", "a rule has either expr or event, not both")
	case r.Expr == nil && r.Event == nil:
		return ferr("", "missing expr or event")
	case r.Expr != nil:
		return r.checkExpr()
	}
	return r.checkEvent()
}

func (r *Rule) checkExpr() *fieldError {
	x := r.Expr
	if !knownSample(x.Sample) {
		return ferr("expr", "unknown sample %q (known: %s)", x.Sample, strings.Join(SampleNames(), ", "))
	}
	switch x.Op {
	case OpGreater, OpGreaterEqual, OpLess, OpLessEqual, OpEqual, OpNotEqual:
	default:
		return ferr("expr", "unknown comparison operator %q", string(x.Op))
	}
	if x.Threshold != x.Threshold || x.Threshold-x.Threshold != 0 {
		return ferr("expr", "threshold must be a finite number")
	}
	if r.Hold != 0 {
		return ferr("hold", "only for event rules (a sample rule uses for)")
	}
	return nil
}

// checkEvent checks an event rule and gives it the default hold.
func (r *Rule) checkEvent() *fieldError {
	switch {
	case r.Event.Kind == "":
		return ferr("event", "missing kind")
	case r.ResolveThreshold != nil:
		return ferr("resolve_threshold", "only for expr rules")
	case r.Hold < 0:
		return ferr("hold", "negative duration")
	case r.Hold == 0:
		r.Hold = DefaultHold
	}
	return nil
}

func (r *Rule) checkTimings() *fieldError {
	if r.For < 0 {
		return ferr("for", "negative duration")
	}
	if r.KeepFiringFor < 0 {
		return ferr("keep_firing_for", "negative duration")
	}
	return nil
}

// checkResolveThreshold checks that an expr rule's resolve threshold
// lies on the resolving side of its threshold.
func (r *Rule) checkResolveThreshold() *fieldError {
	rt, x := r.ResolveThreshold, r.Expr
	if rt == nil || x == nil {
		return nil
	}
	switch {
	case *rt != *rt || *rt-*rt != 0:
		return ferr("resolve_threshold", "must be a finite number")
	case x.Op == OpEqual || x.Op == OpNotEqual:
		return ferr("resolve_threshold", "only with <, <=, > or >=")
	case (x.Op == OpLess || x.Op == OpLessEqual) && *rt < x.Threshold:
		return ferr("resolve_threshold", "%g is below the threshold %g: with %s it must be at or above it", *rt, x.Threshold, x.Op)
	case (x.Op == OpGreater || x.Op == OpGreaterEqual) && *rt > x.Threshold:
		return ferr("resolve_threshold", "%g is above the threshold %g: with %s it must be at or below it", *rt, x.Threshold, x.Op)
	}
	return nil
}

func (r *Rule) checkSeverity() *fieldError {
	switch {
	case r.Severity == "":
		return ferr("severity", "missing (want critical, warning or info)")
	case !r.Severity.Valid():
		return ferr("severity", "invalid %q (want critical, warning or info)", string(r.Severity))
	}
	return nil
}

func (r *Rule) checkUnit() *fieldError {
	if r.Unit != "" && !r.Unit.Valid() {
		return ferr("unit", "invalid %q (want one of %s)", string(r.Unit), unitNames())
	}
	return nil
}

func (r *Rule) checkLabels() *fieldError {
	for _, k := range slices.Sorted(maps.Keys(r.Labels)) {
		switch {
		case !validLabelName(k):
			return &fieldError{field: "labels", key: k, err: errors.New("invalid label name (want letters, digits and _)")}
		case k == "alertname" || k == "severity":
			return &fieldError{field: "labels", key: k, err: errors.New("reserved (set by the rule's name and severity)")}
		}
	}
	return nil
}

func (r *Rule) checkRunbookURL() *fieldError {
	if r.RunbookURL == "" {
		return nil
	}
	u, err := url.Parse(r.RunbookURL)
	if err != nil || strings.ContainsAny(r.RunbookURL, " \t\n") {
		return ferr("runbook_url", "invalid URL %q", r.RunbookURL)
	}
	if u.Scheme != "" && u.Scheme != "http" && u.Scheme != "https" {
		return ferr("runbook_url", "scheme %q: want http, https or a relative path", u.Scheme)
	}
	return nil
}

// parseTemplates parses the summary, description and annotation
// templates, and checks the annotations' names, once: a Config does not
// change once validated.
func (r *Rule) parseTemplates() *fieldError {
	if r.tmpl != nil {
		return nil
	}
	tmpl := map[string]*template.Template{}
	for _, a := range []struct{ name, src string }{{"summary", r.Summary}, {"description", r.Description}} {
		t, err := parseTemplate(a.name, a.src)
		if err != nil {
			return &fieldError{field: a.name, err: err}
		}
		tmpl[a.name] = t
	}
	for _, k := range slices.Sorted(maps.Keys(r.Annotations)) {
		switch {
		case !validLabelName(k):
			return &fieldError{field: "annotations", key: k, err: errors.New("invalid annotation name (want letters, digits and _)")}
		case k == "summary" || k == "description" || k == "runbook_url":
			return &fieldError{field: "annotations", key: k, err: fmt.Errorf("reserved: use the rule's %s field", k)}
		}
		t, err := parseTemplate(k, r.Annotations[k])
		if err != nil {
			return &fieldError{field: "annotations", key: k, err: err}
		}
		tmpl[k] = t
	}
	r.tmpl = tmpl
	return nil
}

// RenderAnnotations executes the rule's templates (summary, description
// and each of Annotations) with d. It returns the texts by annotation
// name, leaving out those that render as nothing, and the errors of those
// that failed, by name (nil when none did). Only a validated rule (from
// Load, or checked by Config.Validate) has templates to render.
func (r *Rule) RenderAnnotations(d *TemplateData) (texts map[string]string, errs map[string]error) {
	texts = make(map[string]string, len(r.tmpl)+1)
	for name, t := range r.tmpl {
		s, err := renderTemplate(t, d)
		if err != nil {
			if errs == nil {
				errs = map[string]error{}
			}
			errs[name] = err
			continue
		}
		if s != "" {
			texts[name] = s
		}
	}
	return texts, errs
}

// fieldError is a problem with one field of a rule, route or receiver.
type fieldError struct {
	field string // the YAML field
	key   string // the key within a labels or annotations mapping
	err   error
}

func (e *fieldError) msg() string {
	if e.field == "" {
		return e.err.Error()
	}
	if e.key != "" {
		return fmt.Sprintf("%s: %s: %v", e.field, e.key, e.err)
	}
	return fmt.Sprintf("%s: %v", e.field, e.err)
}

func ferr(field string, format string, args ...any) *fieldError {
	return &fieldError{field: field, err: fmt.Errorf(format, args...)}
}
