package log_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/notify"
	notifylog "github.com/lookout-dev/lookout/internal/notify/log"
)

func TestSendWritesOneLinePerAlert(t *testing.T) {
	since := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		alert     event.Alert
		wantLevel string
		wantLabel map[string]any
	}{
		{
			name: "firing is WARN",
			alert: event.Alert{Rule: "HighCPU", State: event.StateFiring, Severity: "critical", Fingerprint: "abc",
				Summary: "cpu at 97%", Labels: map[string]string{"host": "db1", "dc": "fra"}, Value: 97.5, Since: since},
			wantLevel: "WARN",
			wantLabel: map[string]any{"host": "db1", "dc": "fra"},
		},
		{
			name: "resolved is INFO",
			alert: event.Alert{Rule: "HighCPU", State: event.StateResolved, Severity: "critical", Fingerprint: "abc",
				Summary: "cpu at 12%", Labels: map[string]string{"host": "db1"}, Value: 12, Since: since, ResolvedAt: since.Add(time.Minute)},
			wantLevel: "INFO",
			wantLabel: map[string]any{"host": "db1"},
		},
		{
			name:      "no labels keeps the key",
			alert:     event.Alert{Rule: "Anomaly", State: event.StateFiring, Severity: "warning", Fingerprint: "f0", Value: 3.2},
			wantLevel: "WARN",
			wantLabel: map[string]any{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
			n, err := notify.New(config.Notifier{Name: "stdout", Type: notifylog.Kind}, notify.Deps{Log: log})
			if err != nil {
				t.Fatal(err)
			}
			m := notify.Message{Receiver: "stdout", Status: notify.StatusOf(tt.alert), Alerts: []event.Alert{tt.alert}}
			if err := n.Send(context.Background(), m); err != nil {
				t.Fatalf("Send: %v", err)
			}
			lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
			if len(lines) != 1 {
				t.Fatalf("got %d lines, want 1:\n%s", len(lines), buf.String())
			}
			var got map[string]any
			if err := json.Unmarshal([]byte(lines[0]), &got); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{
				"level": tt.wantLevel, "msg": "alert", "notifier": "stdout",
				"rule": tt.alert.Rule, "state": string(tt.alert.State), "severity": tt.alert.Severity,
				"fingerprint": tt.alert.Fingerprint, "summary": tt.alert.Summary, "value": tt.alert.Value,
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s = %v, want %v", k, got[k], v)
				}
			}
			gotLabels, _ := json.Marshal(got["labels"])
			wantLabels, _ := json.Marshal(tt.wantLabel)
			if string(gotLabels) != string(wantLabels) {
				t.Errorf("labels = %s, want %s", gotLabels, wantLabels)
			}
		})
	}
}

func TestSendSeveralAlertsInOrder(t *testing.T) {
	var buf bytes.Buffer
	n, err := notifylog.New(config.Notifier{Name: "stdout"}, notify.Deps{Log: slog.New(slog.NewTextHandler(&buf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	m := notify.Message{Receiver: "stdout", Status: notify.StatusFiring, Alerts: []event.Alert{
		{Rule: "A", State: event.StateFiring, Labels: map[string]string{"service": "api"}},
		{Rule: "B", State: event.StateFiring},
	}}
	if err := n.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "rule=A") || !strings.Contains(lines[1], "rule=B") {
		t.Fatalf("want lines for A then B, got:\n%s", buf.String())
	}
	if !strings.Contains(lines[0], "labels.service=api") {
		t.Errorf("text line lacks labels.service=api: %s", lines[0])
	}
}
