package telemetry

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// logCalls are the methods and functions whose arguments are log
// attributes (after the message): slog.Logger's, and slog.Group.
var logCalls = map[string]bool{
	"Debug": true, "Info": true, "Warn": true, "Error": true,
	"DebugContext": true, "InfoContext": true, "WarnContext": true, "ErrorContext": true,
	"Log": true, "LogAttrs": true, "With": true,
}

// durationName matches the names of values that hold durations.
var durationName = regexp.MustCompile(`(?i)(^d$|duration|timeout|ttl|interval|drain|elapsed|wait|took|delay|for$)`)

// TestLogConventions scans every non-test Go file of the module for the
// two log conventions LOGGING.md states that code can break: an error is
// logged under the key "error" (never "err"), and a duration is logged as
// a time.Duration (an integer of nanoseconds), never as its text
// (d.String(), "274ms") or as a number of another unit (d.Seconds()).
// It looks at the attributes of slog calls and of []any and []slog.Attr
// literals (built to be passed to one).
func TestLogConventions(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var bad []string
	report := func(n ast.Node, format string) {
		bad = append(bad, fset.Position(n.Pos()).String()+": "+format)
	}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.CallExpr:
				if isLogCall(x) {
					checkAttrs(x.Args, report)
				}
				if k, ok := slogAttrKey(x); ok {
					checkKey(k, report)
					if len(x.Args) == 2 {
						checkValue(x.Args[1], report)
					}
				}
			case *ast.CompositeLit:
				if isAttrSlice(x.Type) {
					checkAttrs(x.Elts, report)
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bad {
		t.Error(b)
	}
}

func isLogCall(c *ast.CallExpr) bool {
	sel, ok := c.Fun.(*ast.SelectorExpr)
	return ok && logCalls[sel.Sel.Name]
}

// slogAttrKey returns the key literal of slog.String("k", …) and the like.
func slogAttrKey(c *ast.CallExpr) (*ast.BasicLit, bool) {
	sel, ok := c.Fun.(*ast.SelectorExpr)
	if !ok || len(c.Args) == 0 {
		return nil, false
	}
	if id, ok := sel.X.(*ast.Ident); !ok || id.Name != "slog" {
		return nil, false
	}
	switch sel.Sel.Name {
	case "String", "Int", "Int64", "Uint64", "Float64", "Bool", "Time", "Duration", "Any", "Group":
		lit, ok := c.Args[0].(*ast.BasicLit)
		return lit, ok && lit.Kind == token.STRING
	}
	return nil, false
}

func isAttrSlice(t ast.Expr) bool {
	at, ok := t.(*ast.ArrayType)
	if !ok {
		return false
	}
	switch e := at.Elt.(type) {
	case *ast.InterfaceType:
		return e.Methods == nil || len(e.Methods.List) == 0
	case *ast.Ident:
		return e.Name == "any"
	case *ast.SelectorExpr:
		return e.Sel.Name == "Attr"
	}
	return false
}

// checkAttrs checks key/value pairs: a string literal followed by its
// value.
func checkAttrs(args []ast.Expr, report func(ast.Node, string)) {
	for i, a := range args {
		lit, ok := a.(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			continue
		}
		checkKey(lit, report)
		if i+1 < len(args) {
			checkValue(args[i+1], report)
		}
	}
}

func checkKey(lit *ast.BasicLit, report func(ast.Node, string)) {
	switch {
	case lit.Value == `"err"`:
		report(lit, `log key "err": errors are logged under "error"`)
	case durationUnitKey.MatchString(lit.Value):
		report(lit, "log key "+lit.Value+": a duration in a unit of its own; log the time.Duration (nanoseconds)")
	}
}

// durationUnitKey matches keys that name a duration in some unit.
var durationUnitKey = regexp.MustCompile(`^"[a-z_]*_(seconds|secs|ms|millis|us|ns)"$`)

// checkValue reports a duration logged as text or in another unit.
func checkValue(v ast.Expr, report func(ast.Node, string)) {
	c, ok := v.(*ast.CallExpr)
	if !ok {
		return
	}
	sel, ok := c.Fun.(*ast.SelectorExpr)
	if !ok {
		return
	}
	switch sel.Sel.Name {
	case "String", "Seconds", "Milliseconds", "Microseconds":
	default:
		return
	}
	if isDuration(sel.X) {
		report(v, "a duration logged as "+sel.Sel.Name+"(): log the time.Duration itself (nanoseconds)")
	}
}

// isDuration guesses whether e is a time.Duration: time.Since/Until, a
// Round or Truncate of one, or a name that says so.
func isDuration(e ast.Expr) bool {
	switch x := e.(type) {
	case *ast.CallExpr:
		if sel, ok := x.Fun.(*ast.SelectorExpr); ok {
			if id, ok := sel.X.(*ast.Ident); ok && id.Name == "time" && (sel.Sel.Name == "Since" || sel.Sel.Name == "Until") {
				return true
			}
			if sel.Sel.Name == "Round" || sel.Sel.Name == "Truncate" {
				return true
			}
		}
	case *ast.SelectorExpr:
		return durationName.MatchString(x.Sel.Name)
	case *ast.Ident:
		return durationName.MatchString(x.Name)
	case *ast.ParenExpr:
		return isDuration(x.X)
	}
	return false
}
