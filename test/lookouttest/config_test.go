package lookouttest

import (
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/config"
	_ "github.com/lookout-dev/lookout/internal/plugin/all"
)

// TestConfig: what the builder writes is a config lookout accepts, holding
// what the test asked for, defaults and extra keys alike.
func TestConfig(t *testing.T) {
	c := NewConfig(t)
	c.Server["max_body_bytes"] = 1000
	c.Storage["flush_interval"] = "200ms"
	c.Pipelines = []Pipeline{{Name: "api", From: []string{"push"}, GroupBy: []string{"service"}, Window: "1s", Lateness: "200ms",
		Aggregates: map[string]string{"requests": "count()", "error_rate": "ratio(status >= 500)"}}}
	c.Rules = []Rule{{Name: "Down", Pipeline: "api", When: `error_rate > 0.5 && !(service startsWith "g")`, For: 2, Repeat: "1h",
		Notify: []string{"hook"}, Extra: map[string]any{"keep_firing_for": "3s"}}}
	c.Notifiers = []Notifier{{Name: "hook", Type: "webhook", Extra: map[string]any{"url": "http://127.0.0.1:1/hook"}}}
	got, err := config.Load(c.Write(t))
	if err != nil {
		y, _ := c.YAML()
		t.Fatalf("lookout refuses the built config: %v\n%s", err, y)
	}
	if got.Server.Listen != c.Addr || got.Server.MaxBodyBytes != 1000 {
		t.Errorf("server = %+v, want listen %s and max_body_bytes 1000", got.Server, c.Addr)
	}
	if len(got.Sources) != 1 || got.Sources[0].Name != "push" || got.Sources[0].Type != "push" {
		t.Errorf("sources = %+v, want the one push source", got.Sources)
	}
	if len(got.Pipelines) != 1 || len(got.Pipelines[0].Aggregates) != 2 || got.Pipelines[0].Lateness.D() != 200*time.Millisecond {
		t.Errorf("pipelines = %+v", got.Pipelines)
	}
	if len(got.Rules) != 1 || got.Rules[0].For.Count != 2 || got.Rules[0].KeepFiringFor.D() != 3*time.Second {
		t.Errorf("rules = %+v, want Down for 2 windows, keep_firing_for 3s", got.Rules)
	}
	if len(got.Notifiers) != 1 || got.Notifiers[0].Type != "webhook" {
		t.Errorf("notifiers = %+v", got.Notifiers)
	}
}
