package dashboard

import (
	"net/http"
	"sync"
	"time"
)

// hub builds one snapshot frame per Interval while streams are open and
// hands the same bytes to every stream, so the cost of a frame does not
// grow with the number of pages.
type hub struct {
	h       *Handler
	mu      sync.Mutex
	clients int
	running bool
	frame   []byte
	builtAt time.Time
	seq     uint64
	changed chan struct{} // closed when frame is replaced
}

func (u *hub) init(h *Handler) {
	u.h = h
	u.changed = make(chan struct{})
}

// join registers a stream, starting the producer if needed; false when
// MaxStreams are open already.
func (u *hub) join() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.clients >= u.h.opts.MaxStreams {
		return false
	}
	u.clients++
	if !u.running {
		u.running = true
		go u.run()
	}
	return true
}

func (u *hub) leave() {
	u.mu.Lock()
	u.clients--
	u.mu.Unlock()
}

// run builds a frame every Interval until no stream is open or the
// Handler is closed.
func (u *hub) run() {
	t := time.NewTicker(u.h.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-u.h.done:
			u.mu.Lock()
			u.running = false
			u.mu.Unlock()
			return
		case <-t.C:
		}
		u.mu.Lock()
		if u.clients == 0 {
			u.running = false
			u.mu.Unlock()
			return
		}
		u.mu.Unlock()
		u.publish(u.h.buildFrame())
	}
}

func (u *hub) publish(b []byte) {
	u.mu.Lock()
	u.frame, u.builtAt = b, u.h.now()
	u.seq++
	close(u.changed)
	u.changed = make(chan struct{})
	u.mu.Unlock()
}

// current returns the latest frame, building one when the last is older
// than Interval (or there is none).
func (u *hub) current() []byte {
	u.mu.Lock()
	b, at := u.frame, u.builtAt
	u.mu.Unlock()
	if b != nil && u.h.now().Sub(at) < u.h.opts.Interval {
		return b
	}
	b = u.h.buildFrame()
	u.publish(b)
	return b
}

// latest returns the newest frame, its sequence number and the channel
// closed when it is replaced.
func (u *hub) latest() ([]byte, uint64, <-chan struct{}) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.frame, u.seq, u.changed
}

// streamWriteTimeout bounds one write to an event stream: a page that
// stops reading is dropped.
const streamWriteTimeout = 10 * time.Second

// serveEvents streams Server-Sent Events: a retry hint, a "history" event
// (the last hour of points), the current "snapshot", then a "snapshot"
// every Interval; an "expired" event ends the stream when the session
// ends. It returns when the client goes away, a write fails or times out,
// or the Handler is closed.
func (h *Handler) serveEvents(w http.ResponseWriter, r *http.Request) {
	select {
	case <-h.done:
		writeError(w, http.StatusServiceUnavailable, "shutting_down", "the server is shutting down")
		return
	default:
	}
	if !h.hub.join() {
		h.log.Warn("dashboard event stream refused: too many open", "max", h.opts.MaxStreams, "remote", r.RemoteAddr)
		w.Header().Set("Retry-After", "30")
		writeError(w, http.StatusServiceUnavailable, "too_many_streams", "too many dashboard pages are open; this one polls instead")
		return
	}
	defer h.hub.leave()
	cookie, _ := r.Cookie(CookieName)
	rc := http.NewResponseController(w)
	// The server's read deadline would otherwise end the stream (it
	// cancels the request when the idle connection's read times out).
	_ = rc.SetReadDeadline(time.Time{})
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	send := func(parts ...[]byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
		for _, p := range parts {
			if _, err := w.Write(p); err != nil {
				return false
			}
		}
		return rc.Flush() == nil
	}
	var (
		evHistory  = []byte("event: history\ndata: ")
		evSnapshot = []byte("event: snapshot\ndata: ")
		end        = []byte("\n\n")
	)
	checked := h.now() // the request's own check, just made
	first := h.hub.current()
	_, seq, changed := h.hub.latest()
	if !send([]byte("retry: 2000\n\n"), evHistory, h.historyJSON(), end, evSnapshot, first, end) {
		return
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case <-h.done:
			return
		case <-changed:
		}
		var b []byte
		var next uint64
		b, next, changed = h.hub.latest()
		if next == seq {
			continue
		}
		seq = next
		// Every SessionRecheck the stream checks its session: that keeps
		// it alive (an open page is in use) and ends the stream once it is
		// over (a logout elsewhere, or its idle or absolute limit). When
		// the store cannot answer the stream ends without "expired": the
		// page reconnects, and the request's own check decides.
		if now := h.now(); now.Sub(checked) >= h.opts.SessionRecheck {
			checked = now
			switch live, err := h.sessions.Touch(r.Context(), cookie.Value); {
			case err != nil:
				if r.Context().Err() == nil {
					h.log.Warn("dashboard stream ended: session check failed", "error", err)
				}
				return
			case !live:
				send([]byte("event: expired\ndata: {}\n\n"))
				return
			}
		}
		if !send(evSnapshot, b, end) {
			return
		}
	}
}
