package health

// NativeView is the server's own hot-key tracking (Redis 8.6+ HOTKEYS GET),
// shown beside ours. Keys are in display form.
type NativeView struct {
	// Available is false when the server has no HOTKEYS command; Reason
	// then says why (the server's error).
	Available bool   `json:"available"`
	Reason    string `json:"reason,omitempty"`
	// Tracking is true when a tracking session's results exist (HOTKEYS
	// START was run by an operator; Studio never starts one, since it
	// costs the server CPU and is node-local).
	Tracking bool `json:"tracking"`
	// Metrics holds the numeric fields of the reply (tracking-active,
	// collection-duration-ms, …) and Lists the top-k lists (by-cpu-time-us,
	// by-net-bytes, …), hottest first.
	Metrics map[string]int64        `json:"metrics,omitempty"`
	Lists   map[string][]NativeItem `json:"lists,omitempty"`
}

// NativeItem is one key of a native list.
type NativeItem struct {
	Key   string `json:"key"`
	Value int64  `json:"value"`
}
