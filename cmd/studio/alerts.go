package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/studiohq/studio/alert"
	"github.com/studiohq/studio/alert/pagerduty"
	"github.com/studiohq/studio/alert/slack"
	"github.com/studiohq/studio/alert/webhook"
	"github.com/studiohq/studio/ha"
	"github.com/studiohq/studio/health"
)

// externalURL is cfg.ExternalURL, or http:// (https:// with Studio's own
// TLS) and the listen address (a wildcard host named localhost).
func externalURL(cfg Config) string {
	if cfg.ExternalURL != "" {
		return cfg.ExternalURL
	}
	scheme := "http://"
	if cfg.TLSCertFile != "" {
		scheme = "https://"
	}
	host, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return scheme + "localhost:8080"
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return scheme + net.JoinHostPort(host, port)
}

// newNotifiers builds a Notifier for every receiver the alert config
// declares that can be used: PagerDuty with a routing key, Slack with a
// webhook URL, webhook and Alertmanager receivers with their URL. A
// receiver left out is skipped by the default route; a route the rule
// file wrote that names it makes the engine refuse to start.
func newNotifiers(cfg Config, instance string) (map[string]alert.Notifier, error) {
	ext := externalURL(cfg)
	out := map[string]alert.Notifier{}
	for _, rc := range cfg.Alerts.Receivers {
		var (
			n   alert.Notifier
			err error
		)
		// The receiver's own secret (secret_env) when it names one.
		secret, own := cfg.ReceiverSecrets[rc.Name]
		switch rc.Kind {
		case alert.KindPagerDuty:
			key := cfg.PagerDutyKey
			if own {
				key = secret
			}
			if key == "" {
				continue
			}
			u := cfg.PagerDutyURL
			if rc.URL != "" {
				u = rc.URL
			}
			n, err = pagerduty.New(pagerduty.Config{URL: u, RoutingKey: key, Source: instance, ClientName: "Studio", ClientURL: ext + "/v1/alerts"})
		case alert.KindSlack:
			hook := cfg.SlackWebhookURL
			if own {
				hook = secret
			}
			if hook == "" {
				continue
			}
			n, err = slack.New(slack.Config{WebhookURL: hook, Channel: rc.Channel})
		case alert.KindWebhook:
			n, err = webhook.New(webhook.Config{URL: rc.URL, Receiver: rc.Name, ExternalURL: ext, Authorization: secret})
		case alert.KindAlertmanager:
			n, err = webhook.NewAlertmanager(webhook.Config{URL: rc.URL, ExternalURL: ext, Authorization: secret})
		default:
			return nil, fmt.Errorf("alert receiver %q: unknown kind %q", rc.Name, rc.Kind)
		}
		if err != nil {
			return nil, fmt.Errorf("alert receiver %q (%s): %w", rc.Name, rc.Kind, err)
		}
		out[rc.Name] = n
	}
	return out, nil
}

// newAlertEngine wires the alert engine: samples from the health
// Snapshot (which carries the TLS certificates' expiry and, in Sentinel
// mode, the HA watcher's topology), dedup and silences through Redis.
func newAlertEngine(cfg Config, instance string, rdb redis.UniversalClient, snapshot func() health.Snapshot, reg prometheus.Registerer, log *slog.Logger) (*alert.Engine, error) {
	notifiers, err := newNotifiers(cfg, instance)
	if err != nil {
		return nil, err
	}
	ext := externalURL(cfg)
	samples := func() []alert.Sample { return alert.SamplesFromSnapshot(snapshot(), time.Now()) }
	eng, err := alert.NewEngine(alert.EngineOptions{
		Config: cfg.Alerts, Receivers: notifiers, Redis: rdb, Instance: instance,
		Logger: log, Registerer: reg, Samples: samples,
		RunbookBase: ext + "/", ExternalURL: ext,
	})
	if err != nil {
		return nil, fmt.Errorf("alert engine: %w", err)
	}
	names := make([]string, 0, len(notifiers))
	for n := range notifiers {
		names = append(names, n)
	}
	log.Info("alerting ready", "rules", len(cfg.Alerts.Rules), "receivers", strings.Join(names, ","))
	return eng, nil
}

// forwardHAEvents feeds the Sentinel watcher's events to the alert engine
// until ctx ends: one event per change (the copies other Sentinels report
// are dropped), "+x" as kind "x", with the master's name and the address.
func forwardHAEvents(ctx context.Context, w *ha.Watcher, eng *alert.Engine) {
	ch, cancel := w.Subscribe(64)
	defer cancel()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-ch:
			if !ok {
				return
			}
			if ev.Duplicate || !strings.HasPrefix(ev.Kind, "+") {
				continue
			}
			master := ev.Master
			if master == "" && ev.Role == "master" {
				master = ev.Name
			}
			labels := map[string]string{}
			if master != "" {
				labels["master"] = master
			}
			eng.Event(alert.Event{Time: ev.Time, Kind: strings.TrimPrefix(ev.Kind, "+"), Labels: labels})
		}
	}
}
