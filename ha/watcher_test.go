package ha

import (
	"context"
	"testing"
	"time"
)

func TestNewWatcherErrors(t *testing.T) {
	tests := []struct {
		name string
		o    WatcherOptions
		err  string
	}{
		{"no sentinels", WatcherOptions{MasterName: "m"}, "ha: no Sentinel addresses"},
		{"no master name", WatcherOptions{Sentinels: []string{"127.0.0.1:26379"}}, "ha: no master name"},
		{"no port", WatcherOptions{Sentinels: []string{"127.0.0.1"}, MasterName: "m"}, `ha: Sentinel address "127.0.0.1": want host:port`},
		{"no host", WatcherOptions{Sentinels: []string{":26379"}, MasterName: "m"}, `ha: Sentinel address ":26379": want host:port`},
		{"bad port", WatcherOptions{Sentinels: []string{"h:0"}, MasterName: "m"}, `ha: Sentinel address "h:0": want host:port`},
		{"port range", WatcherOptions{Sentinels: []string{"h:65536"}, MasterName: "m"}, `ha: Sentinel address "h:65536": want host:port`},
		{"url", WatcherOptions{Sentinels: []string{"redis://h:26379"}, MasterName: "m"}, `ha: Sentinel address "redis://h:26379": want host:port`},
		{"twice", WatcherOptions{Sentinels: []string{"h:1", "h:2", "h:1"}, MasterName: "m"}, `ha: Sentinel address "h:1" listed twice`},
		{"negative interval", WatcherOptions{Sentinels: []string{"h:1"}, MasterName: "m", PollInterval: -time.Second}, "ha: negative poll interval -1s"},
	}
	for _, tt := range tests {
		w, err := NewWatcher(tt.o)
		if err == nil || err.Error() != tt.err {
			t.Errorf("%s: NewWatcher = %v, %v; want error %q", tt.name, w, err, tt.err)
		}
	}
}

// With nothing listening, Run keeps trying without blocking anyone, shows
// the Sentinels unreachable, and returns promptly when cancelled.
func TestWatcherNothingListening(t *testing.T) {
	w, err := NewWatcher(WatcherOptions{Sentinels: []string{"127.0.0.1:1", "[::1]:1"}, MasterName: "m", PollInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	events, cancelSub := w.Subscribe(0)
	defer cancelSub()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		top := w.Topology()
		if top.Sentinels[0].LastError != "" && top.Sentinels[1].LastError != "" {
			for _, s := range top.Sentinels {
				if s.Reachable || s.Subscribed || s.Status != "unreachable" {
					t.Errorf("sentinel %+v", s)
				}
			}
			if top.Master != "" {
				t.Errorf("master %q", top.Master)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no poll errors recorded: %+v", top.Sentinels)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Run did not return")
	}
	if _, ok := <-events; ok {
		t.Error("subscriber channel open after Run returned")
	}
}
