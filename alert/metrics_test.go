package alert

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestReceiverSeriesStartAtZero: a new Engine has every notification
// result and the retries of each receiver at 0 before anything is sent,
// so increase(studio_alert_notifications_total{result=~"failed|dropped"}[15m])
// sees a receiver's first failure.
func TestReceiverSeriesStartAtZero(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	if _, err := NewEngine(EngineOptions{
		Config:     DefaultConfig(),
		Receivers:  map[string]Notifier{"pagerduty": &recorder{}, "slack": &recorder{}},
		Registerer: reg,
	}); err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	want.WriteString(`
# HELP studio_alert_notification_retries_total Delivery attempts retried after a retryable failure, by receiver.
# TYPE studio_alert_notification_retries_total counter
studio_alert_notification_retries_total{receiver="pagerduty"} 0
studio_alert_notification_retries_total{receiver="slack"} 0
# HELP studio_alert_notifications_total Alert notifications (triggers, repeats and resolves, per alert) by receiver and result: sent, failed, dropped, deduplicated.
# TYPE studio_alert_notifications_total counter
`)
	for _, rcv := range []string{"pagerduty", "slack"} {
		for _, res := range []string{"deduplicated", "dropped", "failed", "sent"} {
			want.WriteString(`studio_alert_notifications_total{receiver="` + rcv + `",result="` + res + `"} 0` + "\n")
		}
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want.String()),
		"studio_alert_notifications_total", "studio_alert_notification_retries_total"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(reg, "studio_alert_notification_duration_seconds"); n != 2 {
		t.Errorf("%d delivery-duration series, want one per receiver", n)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}
