package server

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/studiohq/studio/internal/sleep"
)

// The admin-only profiling routes under /debug/pprof/, in the formats
// net/http/pprof serves (so `go tool pprof` and `go tool trace` read
// them), written here on runtime/pprof and runtime/trace rather than by
// importing net/http/pprof, whose init registers the same routes,
// unauthenticated, on http.DefaultServeMux.

// pprofProfiles are the runtime profiles served at /debug/pprof/{name}.
// There is no cmdline: the command line can carry secrets (--admin-token,
// a password in --redis-url) that the admin token does not otherwise
// reveal.
var pprofProfiles = []string{"allocs", "block", "goroutine", "heap", "mutex", "threadcreate"}

// Bounds of ?seconds= for /debug/pprof/profile and /debug/pprof/trace.
const (
	defaultProfileSeconds = 10
	maxProfileSeconds     = 300
)

// handleProfileIndex lists the profiles, one a line.
func handleProfileIndex(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	var b strings.Builder
	b.WriteString("profile?seconds=N\tCPU profile for N seconds (default 10)\n")
	b.WriteString("trace?seconds=N\truntime execution trace for N seconds (default 10)\n")
	for _, name := range pprofProfiles {
		n := 0
		if p := pprof.Lookup(name); p != nil {
			n = p.Count()
		}
		fmt.Fprintf(&b, "%s\t%d\n", name, n)
	}
	_, _ = w.Write([]byte(b.String()))
}

// handleProfile serves /debug/pprof/{name}: "profile" a CPU profile,
// "trace" an execution trace, or one of pprofProfiles: ?debug=0 (the
// default) the gzipped protobuf `go tool pprof` reads, 1 or 2 text;
// ?gc=1 runs a garbage collection first (a heap profile then shows the
// live heap as of now). Any other name is 404.
func handleProfile(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	switch name {
	case "profile":
		handleCPUProfile(w, r)
		return
	case "trace":
		handleTrace(w, r)
		return
	}
	p := pprof.Lookup(name)
	if !slices.Contains(pprofProfiles, name) || p == nil {
		writeError(w, http.StatusNotFound, "not_found", "no such profile; profiles: "+strings.Join(pprofProfiles, ", ")+", profile (CPU), trace")
		return
	}
	debug, err := queryInt(r, "debug", 0, 0, 2)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	gc, err := queryInt(r, "gc", 0, 0, 1)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	if gc == 1 {
		runtime.GC()
	}
	if debug == 0 {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	} else {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	}
	_ = p.WriteTo(w, debug)
}

// handleCPUProfile profiles the CPU for ?seconds= (default 10) and writes
// the profile. One CPU profile runs at a time: another request meanwhile
// is 409. A duration the server's write timeout would cut is 400.
func handleCPUProfile(w http.ResponseWriter, r *http.Request) {
	record(w, r, "profile", "a CPU profile is already being taken", pprof.StartCPUProfile, pprof.StopCPUProfile)
}

// handleTrace records a runtime execution trace (`go tool trace`) for
// ?seconds= (default 10). One trace runs at a time: another request
// meanwhile is 409.
func handleTrace(w http.ResponseWriter, r *http.Request) {
	record(w, r, "trace", "a trace is already being recorded", trace.Start, trace.Stop)
}

// record streams a recording started by start into the answer (a file
// named filename) for ?seconds=, or until the request ends, then stops
// it; when start refuses (one is running) the answer is 409 with busy.
func record(w http.ResponseWriter, r *http.Request, filename, busy string, start func(io.Writer) error, stop func()) {
	d, ok := profileDuration(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="`+filename+`"`)
	if err := start(w); err != nil {
		w.Header().Del("Content-Disposition")
		writeError(w, http.StatusConflict, "profiling", busy+": "+err.Error())
		return
	}
	sleep.Ctx(r.Context(), d)
	stop()
}

// profileDuration reads ?seconds= of a CPU profile or trace; on a bad
// value it answers 400 and returns false.
func profileDuration(w http.ResponseWriter, r *http.Request) (time.Duration, bool) {
	var limit time.Duration
	if srv, ok := r.Context().Value(http.ServerContextKey).(*http.Server); ok {
		limit = srv.WriteTimeout
	}
	d, err := profileSeconds(r.URL.Query().Get("seconds"), limit)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return 0, false
	}
	return d, true
}

// profileSeconds parses the seconds parameter: empty is the default (10
// s), otherwise a whole number from 1 to 300, under writeTimeout when
// that is positive (the answer is written at the end).
func profileSeconds(v string, writeTimeout time.Duration) (time.Duration, error) {
	n, err := wholeIn("seconds", v, defaultProfileSeconds, 1, maxProfileSeconds)
	if err != nil {
		return 0, err
	}
	d := time.Duration(n) * time.Second
	if writeTimeout > 0 && d >= writeTimeout {
		return 0, fmt.Errorf("seconds must be under the server's write timeout of %s", writeTimeout)
	}
	return d, nil
}

// queryInt reads the whole-number query parameter name, def when absent,
// which must lie in [lo, hi].
func queryInt(r *http.Request, name string, def, lo, hi int) (int, error) {
	return wholeIn(name, r.URL.Query().Get(name), def, lo, hi)
}

// wholeIn parses v, the value of the parameter name: def when empty,
// otherwise a whole number in [lo, hi].
func wholeIn(name, v string, def, lo, hi int) (int, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, errors.New(name + " must be a whole number from " + strconv.Itoa(lo) + " to " + strconv.Itoa(hi))
	}
	return n, nil
}
