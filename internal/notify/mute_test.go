package notify_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/clock"
	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/notify"
	"github.com/lookout-dev/lookout/internal/state"
)

func labelled(rule, fp, severity, service string) event.Alert {
	return event.Alert{Rule: rule, Fingerprint: fp, State: event.StateFiring, Since: t0, Severity: severity,
		Labels: map[string]string{"alertname": rule, "severity": severity, "service": service}}
}

func TestMuter(t *testing.T) {
	ctx := context.Background()
	st, err := state.OpenLocal(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := clock.NewFake(t0.Add(time.Minute))
	for _, s := range []state.Silence{
		{ID: "s-api", Matchers: []state.Matcher{{Name: "service", Value: "api"}, {Name: "alertname", Op: "=~", Value: "High.*"}}, StartsAt: t0, EndsAt: t0.Add(time.Hour)},
		{ID: "s-old", Matchers: []state.Matcher{{Name: "service", Value: "web"}}, StartsAt: t0.Add(-2 * time.Hour), EndsAt: t0.Add(-time.Hour)},
		{ID: "s-later", Matchers: []state.Matcher{{Name: "service", Value: "db"}}, StartsAt: t0.Add(time.Hour), EndsAt: t0.Add(2 * time.Hour)},
		{ID: "s-not-prod", Matchers: []state.Matcher{{Name: "env", Op: "!=", Value: "prod"}, {Name: "service", Value: "batch"}}, StartsAt: t0, EndsAt: t0.Add(time.Hour)},
	} {
		if err := st.PutSilence(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.PutAck(ctx, state.Ack{Fingerprint: "acked", Since: t0, By: "alice", Comment: "on it", At: t0, Until: t0.Add(2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := st.PutAck(ctx, state.Ack{Fingerprint: "old-ack", Since: t0.Add(-time.Hour), By: "bob", Until: t0.Add(2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	mu := notify.Muter{
		Mutes:   st,
		Clock:   clk,
		Inhibit: []config.Inhibit{{Source: map[string]string{"severity": "critical"}, Target: map[string]string{"severity": "warning"}, Equal: []string{"service"}}},
	}
	critCheckout := labelled("CheckoutDown", "crit1", "critical", "checkout")
	firing := slices.Values([]event.Alert{critCheckout, labelled("Other", "w9", "warning", "search")})

	tests := []struct {
		name  string
		a     event.Alert
		want  string
		muted bool
	}{
		{"silenced by equality and regex", labelled("HighErrorRate", "f1", "critical", "api"), "silence s-api", true},
		{"regex does not match other rule", labelled("LowTraffic", "f2", "critical", "api"), "", false},
		{"expired silence", labelled("HighErrorRate", "f3", "critical", "web"), "", false},
		{"silence not started", labelled("HighErrorRate", "f4", "critical", "db"), "", false},
		{"negative matcher on missing label", labelled("Job", "f5", "info", "batch"), "silence s-not-prod", true},
		{"inhibited: warning of the same service", labelled("SlowCheckout", "w1", "warning", "checkout"), "inhibited by CheckoutDown crit1", true},
		{"not inhibited: other service", labelled("SlowSearch", "w2", "warning", "search2"), "", false},
		{"not inhibited: critical is no target", labelled("CheckoutErrors", "c2", "critical", "checkout"), "", false},
		{"acknowledged", func() event.Alert { a := labelled("Disk", "acked", "warning", "db"); return a }(), "acknowledged by alice: on it", true},
		{"ack of an earlier firing does not cover", labelled("Disk", "old-ack", "warning", "db"), "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mu.Reason(tt.a, firing)
			if got != tt.want {
				t.Errorf("Reason = %q, want %q", got, tt.want)
			}
			if m := mu.Status(tt.a, firing); m.Muted() != tt.muted {
				t.Errorf("Status = %+v, Muted %v, want %v", m, m.Muted(), tt.muted)
			}
		})
	}

	// The silence ends: the alert is no longer muted; the ack expires.
	clk.Set(t0.Add(time.Hour))
	if got := mu.Reason(labelled("HighErrorRate", "f1", "critical", "api"), firing); got != "" {
		t.Errorf("after the silence ended: %q, want not muted", got)
	}
	clk.Set(t0.Add(2 * time.Hour))
	if got := mu.Reason(labelled("Disk", "acked", "warning", "db"), firing); got != "" {
		t.Errorf("after the ack's TTL: %q, want not muted", got)
	}
	// With the critical resolved (not firing), the warning goes out.
	if got := mu.Reason(labelled("SlowCheckout", "w1", "warning", "checkout"), slices.Values([]event.Alert(nil))); got != "" {
		t.Errorf("with no critical firing: %q, want not muted", got)
	}
}
