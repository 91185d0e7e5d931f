package config

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
	"time"
)

// TemplateData is what a rule's summary, description and annotation
// templates see (text/template, parsed at Load). Like Prometheus, the
// variables $labels, $value and $threshold are predefined as shorthands for
// .Labels, .Value and .Threshold. A missing label reads as "".
//
// Functions besides text/template's own:
//
//	humanize            1234567 → "1.235M" (SI prefixes)
//	humanizePercentage  0.8123  → "81.23%"
//	humanizeDuration    90      → "1m 30s" (the argument is in seconds)
//	humanizeBytes       1536    → "1.5 KiB"
//	toUpper, toLower, trimSpace, title (first letter upper)
//
// The humanize functions accept any number or a numeric string. The
// templates may not define or invoke named templates, nor range over a
// number (so every template ends quickly).
type TemplateData struct {
	// Rule is the rule's name.
	Rule string
	// Labels are the alert's labels (alertname and severity included).
	Labels map[string]string
	// Value is the sample's value (for an event rule, the number of
	// matching events within the hold).
	Value float64
	// Threshold is the number the condition compares with (0 for an event
	// rule).
	Threshold float64
	// Severity is the rule's severity.
	Severity string
}

const templatePrelude = `{{$labels := .Labels}}{{$value := .Value}}{{$threshold := .Threshold}}`

var templateFuncs = template.FuncMap{
	"humanize":           humanize,
	"humanizePercentage": humanizePercentage,
	"humanizeDuration":   humanizeDuration,
	"humanizeBytes":      humanizeBytes,
	"toUpper":            strings.ToUpper,
	"toLower":            strings.ToLower,
	"trimSpace":          strings.TrimSpace,
	"title": func(s string) string {
		if s == "" {
			return s
		}
		return strings.ToUpper(s[:1]) + s[1:]
	},
}

// maxTemplateOutput bounds what one template may render.
const maxTemplateOutput = 16 << 10

var templateErrPrefix = regexp.MustCompile(`^template: [^:]*:(\d+)(:\d+)?: `)

// parseTemplate parses src as a rule template named name and tries it on
// sample data, so that unknown fields and functions are found at load. The
// error is the reason without text/template's prefix, with the template's
// line when it is past the first.
func parseTemplate(name, src string) (*template.Template, error) {
	t, err := template.New(name).Option("missingkey=zero").Funcs(templateFuncs).Parse(templatePrelude + src)
	if err != nil {
		return nil, templateError(err)
	}
	if len(t.Templates()) > 1 {
		return nil, errors.New("named templates ({{define}}, {{block}}) are not supported")
	}
	if err := checkTemplateTree(t.Tree.Root, 0); err != nil {
		return nil, err
	}
	// A function failing on the sample data (humanize of a label that is
	// empty here) may well work on real data: only the other errors (an
	// unknown field, a wrong argument count or type, a too long output)
	// are the template's fault.
	trial := TemplateData{Rule: "Rule", Labels: map[string]string{"alertname": "Rule", "severity": "warning"}, Value: 1, Threshold: 1, Severity: "warning"}
	if _, err := renderTemplate(t, &trial); err != nil && !strings.Contains(err.Error(), "error calling ") {
		return nil, err
	}
	return t, nil
}

// dataType is how text/template names TemplateData in errors such as
// "can't evaluate field Valu in type *config.TemplateData". Rule authors
// know the type as alert.TemplateData (package alert re-exports it, and
// its errors have always said so), so templateError writes that name.
var dataType = reflect.TypeFor[*TemplateData]().String()

func templateError(err error) error {
	s := strings.ReplaceAll(err.Error(), dataType, "*alert.TemplateData")
	if m := templateErrPrefix.FindStringSubmatch(s); m != nil {
		s = s[len(m[0]):]
		if m[1] != "1" {
			s = "template line " + m[1] + ": " + s
		}
	}
	s = strings.TrimPrefix(s, "template: ")
	return errors.New(s)
}

// checkTemplateTree refuses {{template}} calls, ranges nested more than
// three deep, and ranges over anything but a field or $labels (a number, or
// a variable that could hold one, would let a template loop for long).
func checkTemplateTree(n parse.Node, ranges int) error {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Nodes {
			if err := checkTemplateTree(c, ranges); err != nil {
				return err
			}
		}
	case *parse.TemplateNode:
		return fmt.Errorf("{{template %q}} is not supported", n.Name)
	case *parse.RangeNode:
		if ranges >= 3 {
			return errors.New("ranges nested more than three deep are not supported")
		}
		if !rangeable(n.Pipe) {
			return errors.New("range over anything but a field (such as .Labels) or $labels is not supported")
		}
		if err := checkTemplateTree(n.List, ranges+1); err != nil {
			return err
		}
		return checkTemplateTree(n.ElseList, ranges)
	case *parse.IfNode:
		if err := checkTemplateTree(n.List, ranges); err != nil {
			return err
		}
		return checkTemplateTree(n.ElseList, ranges)
	case *parse.WithNode:
		if err := checkTemplateTree(n.List, ranges); err != nil {
			return err
		}
		return checkTemplateTree(n.ElseList, ranges)
	}
	return nil
}

func rangeable(p *parse.PipeNode) bool {
	if p == nil || len(p.Cmds) != 1 || len(p.Cmds[0].Args) != 1 {
		return false
	}
	switch a := p.Cmds[0].Args[0].(type) {
	case *parse.FieldNode:
		return true
	case *parse.VariableNode:
		return len(a.Ident) > 1 || a.Ident[0] == "$labels"
	}
	return false
}

type limitedBuilder struct {
	strings.Builder
}

var errTemplateTooLong = fmt.Errorf("output longer than %d bytes", maxTemplateOutput)

func (b *limitedBuilder) Write(p []byte) (int, error) {
	if b.Len()+len(p) > maxTemplateOutput {
		return 0, errTemplateTooLong
	}
	return b.Builder.Write(p)
}

func renderTemplate(t *template.Template, d *TemplateData) (string, error) {
	var b limitedBuilder
	if err := t.Execute(&b, d); err != nil {
		if errors.Is(err, errTemplateTooLong) {
			return "", errTemplateTooLong
		}
		return "", templateError(err)
	}
	return b.String(), nil
}

// toFloat converts a template argument to a number.
func toFloat(v any) (float64, error) {
	switch v := v.(type) {
	case float64:
		return v, nil
	case float32:
		return float64(v), nil
	case int:
		return float64(v), nil
	case int64:
		return float64(v), nil
	case int32:
		return float64(v), nil
	case uint:
		return float64(v), nil
	case uint64:
		return float64(v), nil
	case uint32:
		return float64(v), nil
	case time.Duration:
		return v.Seconds(), nil
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return 0, fmt.Errorf("not a number: %q", v)
		}
		return f, nil
	}
	return 0, fmt.Errorf("not a number: %T", v)
}

func humanize(v any) (string, error) {
	f, err := toFloat(v)
	if err != nil {
		return "", err
	}
	if f == 0 || math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Sprintf("%.4g", f), nil
	}
	abs := math.Abs(f)
	if abs >= 1 {
		prefix := ""
		for _, p := range []string{"k", "M", "G", "T", "P", "E", "Z", "Y"} {
			if math.Abs(f) < 1000 {
				break
			}
			prefix = p
			f /= 1000
		}
		return fmt.Sprintf("%.4g%s", f, prefix), nil
	}
	prefix := ""
	for _, p := range []string{"m", "u", "n", "p", "f", "a", "z", "y"} {
		if math.Abs(f) >= 1 {
			break
		}
		prefix = p
		f *= 1000
	}
	return fmt.Sprintf("%.4g%s", f, prefix), nil
}

func humanizePercentage(v any) (string, error) {
	f, err := toFloat(v)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%.4g%%", f*100), nil
}

func humanizeDuration(v any) (string, error) {
	f, err := toFloat(v)
	if err != nil {
		return "", err
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Sprintf("%.4g", f), nil
	}
	sign := ""
	if f < 0 {
		sign, f = "-", -f
	}
	if f < 1 {
		if f == 0 {
			return "0s", nil
		}
		return fmt.Sprintf("%s%.4gms", sign, f*1000), nil
	}
	secs := int64(f)
	days, hours, mins, s := secs/86400, secs/3600%24, secs/60%60, secs%60
	var parts []string
	if days > 0 {
		parts = append(parts, fmt.Sprintf("%dd", days))
	}
	if hours > 0 {
		parts = append(parts, fmt.Sprintf("%dh", hours))
	}
	if mins > 0 {
		parts = append(parts, fmt.Sprintf("%dm", mins))
	}
	if s > 0 || len(parts) == 0 {
		parts = append(parts, fmt.Sprintf("%ds", s))
	}
	return sign + strings.Join(parts, " "), nil
}

func humanizeBytes(v any) (string, error) {
	f, err := toFloat(v)
	if err != nil {
		return "", err
	}
	if math.Abs(f) < 1024 || math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Sprintf("%.4g B", f), nil
	}
	unit := ""
	for _, u := range []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"} {
		if math.Abs(f) < 1024 {
			break
		}
		unit = u
		f /= 1024
	}
	return fmt.Sprintf("%.4g %s", f, unit), nil
}
