package hotkey

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/studiohq/studio/health"
)

// NativeView and NativeItem are the health package's types.
type (
	NativeView = health.NativeView
	NativeItem = health.NativeItem
)

// Native asks the server for HOTKEYS GET. A server without the command
// (Redis before 8.6) gives Available false and a nil error; other failures
// (connection, timeout, permission) are returned.
func Native(ctx context.Context, rdb redis.UniversalClient) (NativeView, error) {
	v, err := rdb.Do(ctx, "hotkeys", "get").Result()
	switch {
	case errors.Is(err, redis.Nil):
		return NativeView{Available: true, Reason: "no tracking session: an operator starts one with HOTKEYS START"}, nil
	case err != nil:
		msg := err.Error()
		var re redis.Error
		if errors.As(err, &re) && (strings.Contains(strings.ToLower(msg), "unknown command") || strings.Contains(strings.ToLower(msg), "unknown subcommand")) {
			return NativeView{Available: false, Reason: "server has no HOTKEYS command (Redis 8.6+ or Valkey 9.2+): " + msg}, nil
		}
		return NativeView{}, fmt.Errorf("hotkeys get: %w", err)
	}
	nv := NativeView{Available: true, Tracking: true, Metrics: map[string]int64{}, Lists: map[string][]NativeItem{}}
	pairs(v, func(name string, val any) {
		switch x := val.(type) {
		case int64:
			nv.Metrics[name] = x
		case []any, map[any]any:
			var items []NativeItem
			pairs(x, func(k string, n any) {
				if i, ok := n.(int64); ok {
					items = append(items, NativeItem{Key: DisplayKey(k), Value: i})
				}
			})
			if items != nil {
				nv.Lists[name] = items
			}
		}
	})
	return nv, nil
}

// pairs walks a RESP2 flat array of name/value pairs or a RESP3 map (a
// reply may also wrap them in a one-element array, one per cluster node).
func pairs(v any, f func(string, any)) {
	switch x := v.(type) {
	case []any:
		if len(x) == 1 {
			pairs(x[0], f)
			return
		}
		for i := 0; i+1 < len(x); i += 2 {
			if k, ok := x[i].(string); ok {
				f(k, x[i+1])
			}
		}
	case map[any]any:
		for k, val := range x {
			if ks, ok := k.(string); ok {
				f(ks, val)
			}
		}
	case map[string]any:
		for k, val := range x {
			f(k, val)
		}
	}
}
