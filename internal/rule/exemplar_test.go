package rule

import (
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
)

// TestAlertCarriesExemplar: a firing alert carries the window's exemplar of
// the first aggregate its `when` names that has one.
func TestAlertCarriesExemplar(t *testing.T) {
	slow := event.Exemplar{Aggregate: "latency_p99", Value: 2.5, TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", Time: t0.Add(3 * time.Second)}
	other := event.Exemplar{Aggregate: "latency_max", Value: 9, TraceID: "0af7651916cd43dd8448eb211c80319c", Time: t0.Add(4 * time.Second)}
	tests := []struct {
		name      string
		exemplars []event.Exemplar
		want      event.Exemplar
	}{
		{"the compared aggregate's", []event.Exemplar{other, slow}, slow},
		{"none for the compared aggregate", []event.Exemplar{other}, event.Exemplar{}},
		{"window without exemplars", nil, event.Exemplar{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, config.Rule{Name: "Slow", Pipeline: "api", When: "latency_p99 > 1", Notify: []string{"ops"}})
			w := win("checkout", t0.Add(10*time.Second), map[string]float64{"latency_p99": 2.5, "latency_max": 9})
			w.Exemplars = tt.exemplars
			h.eng.OnWindow(w)
			sent, _ := h.take()
			if len(sent) != 1 {
				t.Fatalf("sent %d alerts, want 1", len(sent))
			}
			if got := sent[0].Exemplar; got.TraceID != tt.want.TraceID || got.Aggregate != tt.want.Aggregate || got.Value != tt.want.Value {
				t.Errorf("exemplar = %+v, want %+v", got, tt.want)
			}
		})
	}
}
