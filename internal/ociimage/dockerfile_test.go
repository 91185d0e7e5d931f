package ociimage

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, USER, …
	args string
	line int
}

// parseDockerfile splits a Dockerfile into stages of instructions. It
// reads the subset this repository's Dockerfile uses: comments, parser
// directives, backslash continuations; it fails on anything it cannot
// read rather than guess.
func parseDockerfile(text string) ([][]instruction, error) {
	var stages [][]instruction
	var cur strings.Builder
	start := 0
	for i, raw := range strings.Split(text, "\n") {
		line := strings.TrimSpace(raw)
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if body, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(body + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		cur.Reset()
		in := instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args), line: start}
		if in.cmd == "FROM" {
			stages = append(stages, nil)
		} else if len(stages) == 0 {
			return nil, fmt.Errorf("line %d: %s before the first FROM", in.line, in.cmd)
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], in)
	}
	if cur.Len() > 0 {
		return nil, fmt.Errorf("line %d: continuation at the end of the file", start)
	}
	if len(stages) == 0 {
		return nil, fmt.Errorf("no FROM")
	}
	return stages, nil
}

// pairs reads the key=value pairs of ENV and LABEL; values may be
// double-quoted (with \" and \\ escapes).
func pairs(s string) (map[string]string, error) {
	m := map[string]string{}
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		key, rest, ok := strings.Cut(s, "=")
		if !ok || key == "" || strings.ContainsAny(key, " \t\"") {
			return nil, fmt.Errorf("want key=value at %q", s)
		}
		var val strings.Builder
		i := 0
		if strings.HasPrefix(rest, `"`) {
			for i = 1; i < len(rest) && rest[i] != '"'; i++ {
				if rest[i] == '\\' && i+1 < len(rest) {
					i++
				}
				val.WriteByte(rest[i])
			}
			if i == len(rest) {
				return nil, fmt.Errorf("unterminated quote in %q", s)
			}
			i++
		} else {
			for ; i < len(rest) && rest[i] != ' ' && rest[i] != '\t'; i++ {
				val.WriteByte(rest[i])
			}
		}
		m[key] = val.String()
		s = rest[i:]
	}
	return m, nil
}

// finalStage is what the test compares of the Dockerfile's last stage.
type finalStage struct {
	from, user, workdir string
	entrypoint, cmd     []string
	expose              []string
	env, labels         map[string]string
	args                []string
	copies              []string
}

func readFinalStage(t *testing.T) finalStage {
	t.Helper()
	text, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	stages, err := parseDockerfile(string(text))
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	f := finalStage{env: map[string]string{}, labels: map[string]string{}}
	for _, in := range stages[len(stages)-1] {
		var err error
		switch in.cmd {
		case "FROM":
			f.from = in.args
		case "USER":
			f.user = in.args
		case "WORKDIR":
			f.workdir = in.args
		case "EXPOSE":
			f.expose = append(f.expose, strings.Fields(in.args)...)
		case "ENTRYPOINT":
			err = json.Unmarshal([]byte(in.args), &f.entrypoint)
		case "CMD":
			err = json.Unmarshal([]byte(in.args), &f.cmd)
		case "ENV", "LABEL":
			var m map[string]string
			if m, err = pairs(in.args); err == nil {
				dst := map[string]map[string]string{"ENV": f.env, "LABEL": f.labels}[in.cmd]
				for k, v := range m {
					dst[k] = v
				}
			}
		case "ARG":
			name, _, _ := strings.Cut(in.args, "=")
			f.args = append(f.args, name)
		case "COPY":
			f.copies = append(f.copies, in.args)
		default:
			err = fmt.Errorf("the final stage has %s, which this test does not compare with the Go recipe", in.cmd)
		}
		if err != nil {
			t.Fatalf("Dockerfile line %d (%s): %v", in.line, in.cmd, err)
		}
	}
	return f
}

// TestDockerfileMatchesRecipe keeps the Dockerfile's final stage and the
// Go recipe (Build) in step: the same user, entrypoint, cmd, port, working
// directory, environment, labels and file locations. Changing either one
// alone fails it.
func TestDockerfileMatchesRecipe(t *testing.T) {
	f := readFinalStage(t)
	cfg := config(Options{Version: "${VERSION}", Revision: "${REVISION}"})
	if f.user != cfg.User {
		t.Errorf("USER %q, Go recipe %q", f.user, cfg.User)
	}
	if !slices.Equal(f.entrypoint, cfg.Entrypoint) {
		t.Errorf("ENTRYPOINT %q, Go recipe %q", f.entrypoint, cfg.Entrypoint)
	}
	if !slices.Equal(f.cmd, cfg.Cmd) {
		t.Errorf("CMD %q, Go recipe %q", f.cmd, cfg.Cmd)
	}
	var ports []string
	for p := range cfg.ExposedPorts {
		ports = append(ports, p)
	}
	if !slices.Equal(f.expose, ports) {
		t.Errorf("EXPOSE %q, Go recipe %q", f.expose, ports)
	}
	if f.workdir != cfg.WorkingDir {
		t.Errorf("WORKDIR %q, Go recipe %q", f.workdir, cfg.WorkingDir)
	}
	var env []string
	for k, v := range f.env {
		env = append(env, k+"="+v)
	}
	if slices.Sort(env); !slices.Equal(env, slices.Sorted(slices.Values(cfg.Env))) {
		t.Errorf("ENV %q, Go recipe %q", env, cfg.Env)
	}
	// Created is the build argument in the Dockerfile, Options.Created in Go.
	wantLabels := cfg.Labels
	wantLabels[LabelCreated] = "${CREATED}"
	if fmt.Sprint(f.labels) != fmt.Sprint(wantLabels) {
		t.Errorf("LABEL\n got %v\nwant %v", f.labels, wantLabels)
	}
	for _, arg := range []string{"VERSION", "REVISION", "CREATED"} {
		if !slices.Contains(f.args, arg) {
			t.Errorf("the final stage does not declare ARG %s, which its labels use", arg)
		}
	}
	// The files: the binary where the entrypoint runs it, the working
	// directory owned by the user, on a base with the same accounts and CA
	// bundle location (distroless's nonroot is 65532, /home/nonroot).
	if !slices.ContainsFunc(f.copies, func(c string) bool { return strings.HasSuffix(c, " "+BinaryPath) }) {
		t.Errorf("no COPY puts the binary at %s: %q", BinaryPath, f.copies)
	}
	if !slices.Contains(f.copies, fmt.Sprintf("--from=build --chown=%d:%d /out/workdir %s", UID, GID, WorkDir)) {
		t.Errorf("no COPY makes %s owned by %d:%d: %q", WorkDir, UID, GID, f.copies)
	}
	if f.from != "gcr.io/distroless/static-debian12:nonroot" || UID != 65532 || HomeDir != "/home/nonroot" || CACertsPath != "/etc/ssl/certs/ca-certificates.crt" {
		t.Errorf("FROM %s: the Go recipe's accounts (%d, %s) and CA path %s are distroless static nonroot's", f.from, UID, HomeDir, CACertsPath)
	}
}

// TestDockerfileBuildsStatic checks the build stage's go build: static,
// trimmed and stripped, with the version stamped, as `make image` does.
func TestDockerfileBuildsStatic(t *testing.T) {
	text, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	stages, err := parseDockerfile(string(text))
	if err != nil || len(stages) != 2 {
		t.Fatalf("Dockerfile: %d stages (%v), want a build stage and the final one", len(stages), err)
	}
	var run string
	for _, in := range stages[0] {
		if in.cmd == "RUN" && strings.Contains(in.args, "go build") {
			run = in.args
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "GOOS=linux", "-trimpath", `-ldflags "-s -w -X main.version=${VERSION}"`, "-o /out/studio ./cmd/studio"} {
		if !strings.Contains(run, want) {
			t.Errorf("the build stage's go build lacks %s: %q", want, run)
		}
	}
}

func TestParseDockerfile(t *testing.T) {
	stages, err := parseDockerfile("# syntax=docker/dockerfile:1\nFROM a AS b\nRUN x \\\n  y\n\nFROM c\nLABEL k=\"v w\" \\\n  j=\"q\\\"\" z=1\n")
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(stages)
	want := `[[{FROM a AS b 2} {RUN x  y 3}] [{FROM c 6} {LABEL k="v w"  j="q\"" z=1 7}]]`
	if got != want {
		t.Fatalf("stages\n got %s\nwant %s", got, want)
	}
	m, err := pairs(stages[1][1].args)
	if err != nil || fmt.Sprint(m) != `map[j:q" k:v w z:1]` {
		t.Fatalf("pairs: %v %v", m, err)
	}
	for _, bad := range []string{"k", `k="v`, `"k"=v`} {
		if _, err := pairs(bad); err == nil {
			t.Errorf("pairs(%q) accepted it", bad)
		}
	}
	if _, err := parseDockerfile("RUN x\n"); err == nil {
		t.Error("an instruction before FROM was accepted")
	}
	if _, err := parseDockerfile("FROM a\nRUN x \\\n"); err == nil {
		t.Error("a continuation at the end was accepted")
	}
}
