package redisconn

import (
	"maps"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// observerCache keeps histogram children per (command, outcome), so the hot
// path neither hashes label values nor allocates: reads load an immutable
// map; the rare miss copies it. Safe for concurrent use.
type observerCache struct {
	mu sync.Mutex // serialises writers
	m  atomic.Pointer[map[[2]string]prometheus.Observer]
}

func (c *observerCache) get(h *prometheus.HistogramVec, command, outcome string) prometheus.Observer {
	key := [2]string{command, outcome}
	if m := c.m.Load(); m != nil {
		if o, ok := (*m)[key]; ok {
			return o
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	next := map[[2]string]prometheus.Observer{}
	if m := c.m.Load(); m != nil {
		if o, ok := (*m)[key]; ok {
			return o
		}
		maps.Copy(next, *m)
	}
	o := h.WithLabelValues(command, outcome)
	next[key] = o
	c.m.Store(&next)
	return o
}
