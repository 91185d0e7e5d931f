package health

import "time"

// WarmState is the state of the cache warmer.
type WarmState uint8

// Warmer states.
const (
	WarmIdle    WarmState = iota // never run
	WarmRunning                  // a run is in progress
	WarmDone                     // the last run finished without errors
	WarmFailed                   // the last run stopped on an error or wrote some sessions with errors
)

var warmStateNames = [...]string{"idle", "running", "done", "failed"}

func (s WarmState) String() string {
	if int(s) < len(warmStateNames) {
		return warmStateNames[s]
	}
	return "unknown"
}

// MarshalText encodes the state as its name, for JSON.
func (s WarmState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// WarmProgress is a point-in-time view of the cache warmer, for /readyz and the
// health Snapshot.
type WarmProgress struct {
	State WarmState `json:"state"`
	// Reason says why the current or last run started ("start-up",
	// "on demand", "redis restarted: run_id changed", …).
	Reason string `json:"reason,omitempty"`
	// Read counts the sessions read from the store by the current or last
	// run; Done those whose batch has been sent; Written those Redis
	// accepted. Total counts the sessions the run found to warm, known
	// once the store has been read to the end (0, and left out of the
	// JSON, until then); Done reaches it when the run is over. Limit is
	// the most a run reads.
	Read    int `json:"read"`
	Done    int `json:"done"`
	Written int `json:"written"`
	Total   int `json:"total,omitempty"`
	Limit   int `json:"limit"`
	// Runs counts the runs started since the Warmer was created.
	Runs     int       `json:"runs"`
	Started  time.Time `json:"started,omitzero"`
	Finished time.Time `json:"finished,omitzero"`
	// LastError is the text of the error that ended the last run, or of
	// the last failed write; empty when there was none. It never holds a
	// key or a token.
	LastError string `json:"last_error,omitempty"`
	// RateNow is the current run's write rate limit in sessions per
	// second as the back-off set it (0: unlimited or no run); Backoffs
	// counts how often the run slowed down for request load.
	RateNow  float64 `json:"rate_now"`
	Backoffs int64   `json:"backoffs"`
}
