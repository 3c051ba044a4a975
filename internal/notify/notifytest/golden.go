package notifytest

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/notify"
)

// Since is the start time of the sample alerts.
var Since = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// ExternalURL is the lookout address the sample messages link to.
const ExternalURL = "http://lookout.example:9470"

// Firing returns a sample firing alert of rule HighErrorRate for service
// checkout.
func Firing() event.Alert {
	return event.Alert{
		Rule:        "HighErrorRate",
		Labels:      map[string]string{"service": "checkout"},
		State:       event.StateFiring,
		Since:       Since,
		Value:       0.125,
		Fingerprint: "5f1d3a2b9c0e4d71",
		Summary:     "checkout error rate 0.125",
		Severity:    "critical",
		Notify:      []string{"ops"},
	}
}

// Resolved returns Firing resolved 90 seconds later.
func Resolved() event.Alert {
	a := Firing()
	a.State = event.StateResolved
	a.Value = 0.01
	a.ResolvedAt = Since.Add(90 * time.Second)
	return a
}

// Messages returns the sample messages every channel's golden tests send, by
// name: one firing alert, one resolved, and two firing alerts at once.
func Messages() []struct {
	Name string
	Msg  notify.Message
} {
	second := Firing()
	second.Labels = map[string]string{"service": "search"}
	second.Fingerprint = "0a1b2c3d4e5f6071"
	second.Summary = "search error rate 0.2"
	second.Value = 0.2
	return []struct {
		Name string
		Msg  notify.Message
	}{
		{"firing", notify.Message{Receiver: "ops", Status: notify.StatusFiring, Alerts: []event.Alert{Firing()}, ExternalURL: ExternalURL}},
		{"resolved", notify.Message{Receiver: "ops", Status: notify.StatusResolved, Alerts: []event.Alert{Resolved()}, ExternalURL: ExternalURL}},
		{"two_alerts", notify.Message{Receiver: "ops", Status: notify.StatusFiring, Alerts: []event.Alert{Firing(), second}, ExternalURL: ExternalURL}},
	}
}

// Update is the -update flag of every test binary that imports notifytest:
// `go test ./internal/notify/... -update` rewrites the golden files.
var Update = flag.Bool("update", false, "rewrite the golden files in testdata")

// Golden compares got with testdata/NAME.golden, or rewrites the file first
// when -update is set.
func Golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *Update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run with -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s\n got: %s\nwant: %s", path, got, want)
	}
}

// NewNotifier builds the notifier of cfg, named name and of type kind,
// through the registry as lookout does, with links to ExternalURL.
func NewNotifier(t *testing.T, name, kind string, cfg config.Notifier) notify.Notifier {
	t.Helper()
	cfg.Name, cfg.Type = name, kind
	n, err := notify.New(cfg, notify.Deps{ExternalURL: ExternalURL})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
