package helm

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/studiohq/studio/internal/charttest"
)

// leaves returns the dotted paths of values' leaves; an empty mapping is a
// leaf.
func leaves(prefix string, v any, out *[]string) {
	m, ok := v.(map[string]any)
	if !ok || len(m) == 0 {
		*out = append(*out, prefix)
		return
	}
	for k, sub := range m {
		p := k
		if prefix != "" {
			p = prefix + "." + k
		}
		leaves(p, sub, out)
	}
}

var backticked = regexp.MustCompile("`([^`]+)`")

// documentedValues reads the first column of the chart README's Values
// table. In a cell, `.key` after `a.b.name` stands for `a.b.key`.
func documentedValues(readme string) map[string]bool {
	doc := map[string]bool{}
	_, table, _ := strings.Cut(readme, "\n## Values\n")
	for _, line := range strings.Split(table, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 3 || !strings.HasPrefix(line, "| `") {
			continue
		}
		last := ""
		for _, m := range backticked.FindAllStringSubmatch(cells[1], -1) {
			tok := m[1]
			switch {
			case strings.HasPrefix(tok, ".") && last != "":
				tok = last[:strings.LastIndexByte(last, '.')] + tok
			default:
				last = tok
			}
			doc[tok] = true
		}
	}
	return doc
}

// TestValuesDocumented: every value in values.yaml is in the chart
// README's Values table (a documented parent covers its children).
func TestValuesDocumented(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(charttest.ChartDir(), "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var values map[string]any
	if err := yaml.Unmarshal(b, &values); err != nil {
		t.Fatal(err)
	}
	var paths []string
	leaves("", values, &paths)
	sort.Strings(paths)
	readme, err := os.ReadFile(filepath.Join(charttest.ChartDir(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := documentedValues(string(readme))
	if len(doc) < 40 {
		t.Fatalf("found only %d values in the README's Values table", len(doc))
	}
	for _, p := range paths {
		covered := false
		for q := p; q != "" && !covered; {
			covered = doc[q]
			i := strings.LastIndexByte(q, '.')
			if i < 0 {
				break
			}
			q = q[:i]
		}
		if !covered {
			t.Errorf("%s is not in deploy/helm/studio/README.md's Values table", p)
		}
	}
	for q := range doc {
		top, _, _ := strings.Cut(q, ".")
		if _, ok := values[top]; !ok {
			t.Errorf("the README documents %s, which values.yaml does not have", q)
		}
	}
}
