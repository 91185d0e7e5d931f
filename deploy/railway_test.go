package deploy

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// railwayConfig is railway.json as Railway's config-as-code reference
// documents it (https://railway.com/railway.schema.json): the build and
// deploy fields, numbers as JSON numbers. Unknown fields are refused.
type railwayConfig struct {
	Schema string `json:"$schema"`
	Build  struct {
		Builder        string   `json:"builder"`
		DockerfilePath *string  `json:"dockerfilePath"`
		WatchPatterns  []string `json:"watchPatterns"`
		BuildCommand   *string  `json:"buildCommand"`
	} `json:"build"`
	Deploy struct {
		StartCommand            *string  `json:"startCommand"`
		PreDeployCommand        []string `json:"preDeployCommand"`
		HealthcheckPath         *string  `json:"healthcheckPath"`
		HealthcheckTimeout      *float64 `json:"healthcheckTimeout"`
		RestartPolicyType       string   `json:"restartPolicyType"`
		RestartPolicyMaxRetries *float64 `json:"restartPolicyMaxRetries"`
		OverlapSeconds          *float64 `json:"overlapSeconds"`
		DrainingSeconds         *float64 `json:"drainingSeconds"`
		NumReplicas             *float64 `json:"numReplicas"`
		CronSchedule            *string  `json:"cronSchedule"`
	} `json:"deploy"`
}

// checkRailway decodes railway.json strictly and checks it deploys Studio:
// built from the Dockerfile, started as `studio serve`, health-checked on
// /readyz, restarted on failure, and given longer than stop to stop.
func checkRailway(data []byte, stop time.Duration) error {
	if err := exactKeys(data); err != nil {
		return err
	}
	var c railwayConfig
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.Schema != "https://railway.com/railway.schema.json" {
		bad("$schema is %q", c.Schema)
	}
	if !slices.Contains([]string{"RAILPACK", "DOCKERFILE", "NIXPACKS"}, c.Build.Builder) {
		bad("build.builder %q is not RAILPACK, DOCKERFILE or NIXPACKS", c.Build.Builder)
	} else if c.Build.Builder != "DOCKERFILE" || c.Build.DockerfilePath == nil || *c.Build.DockerfilePath != "Dockerfile" {
		bad("build: want builder DOCKERFILE with dockerfilePath Dockerfile")
	}
	if c.Deploy.StartCommand == nil || *c.Deploy.StartCommand != "studio serve" {
		bad("deploy.startCommand: want \"studio serve\" (it replaces the image's ENTRYPOINT)")
	}
	if c.Deploy.HealthcheckPath == nil || *c.Deploy.HealthcheckPath != "/readyz" {
		bad("deploy.healthcheckPath: want /readyz")
	}
	if !slices.Contains([]string{"ON_FAILURE", "ALWAYS", "NEVER"}, c.Deploy.RestartPolicyType) {
		bad("deploy.restartPolicyType %q is not ON_FAILURE, ALWAYS or NEVER", c.Deploy.RestartPolicyType)
	}
	if d := c.Deploy.DrainingSeconds; d == nil || time.Duration(*d*float64(time.Second)) <= stop {
		bad("deploy.drainingSeconds (SIGTERM to SIGKILL) must exceed Studio's drain and shutdown timeout, %v", stop)
	}
	return errors.Join(errs...)
}

// exactKeys refuses keys that differ from railwayConfig's only in case:
// encoding/json matches them, Railway does not.
func exactKeys(data []byte) error {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	known := func(v any) map[string]bool {
		m := map[string]bool{}
		rt := reflect.TypeOf(v)
		for i := range rt.NumField() {
			m[strings.Split(rt.Field(i).Tag.Get("json"), ",")[0]] = true
		}
		return m
	}
	var c railwayConfig
	sections := map[string]map[string]bool{"": known(c), "build": known(c.Build), "deploy": known(c.Deploy)}
	for name, keys := range sections {
		obj := top
		if name != "" {
			obj = nil
			if raw, ok := top[name]; ok {
				if err := json.Unmarshal(raw, &obj); err != nil {
					return fmt.Errorf("decode %s: %w", name, err)
				}
			}
		}
		for k := range obj {
			if !keys[k] {
				return fmt.Errorf("unknown field %q in %s", k, cmp.Or(name, "the top level"))
			}
		}
	}
	return nil
}

func TestRailwayConfig(t *testing.T) {
	data := repoFile(t, "railway.json")
	if err := checkRailway(data, stopBudget(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join("..", "Dockerfile")); err != nil {
		t.Fatalf("railway.json builds from the Dockerfile: %v", err)
	}
}

// TestRailwayConfigRefusals: the checks above catch what Railway would
// refuse or what would break Studio there.
func TestRailwayConfigRefusals(t *testing.T) {
	good := string(repoFile(t, "railway.json"))
	stop := stopBudget(t)
	for _, tc := range []struct {
		name, from, to, want string
	}{
		{"number as a string", `"drainingSeconds": 30`, `"drainingSeconds": "30"`, "cannot unmarshal string"},
		{"unknown field", `"healthcheckPath"`, `"healthCheckPath"`, `unknown field "healthCheckPath"`},
		{"liveness path", `"/readyz"`, `"/healthz"`, "deploy.healthcheckPath: want /readyz"},
		{"bare binary", `"studio serve"`, `"studio"`, "deploy.startCommand"},
		{"drain too short", `"drainingSeconds": 30`, `"drainingSeconds": 10`, "must exceed"},
		{"restart policy", `"ON_FAILURE"`, `"on_failure"`, `restartPolicyType "on_failure"`},
		{"builder", `"DOCKERFILE"`, `"DOCKER"`, `build.builder "DOCKER"`},
		{"not JSON", good, good[:len(good)/2], "decode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(good, tc.from) {
				t.Fatalf("railway.json has no %s", tc.from)
			}
			err := checkRailway([]byte(strings.Replace(good, tc.from, tc.to, 1)), stop)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v; want an error with %q", err, tc.want)
			}
		})
	}
}
