package state

import (
	"context"
	"math"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/event"
)

func openTemp(t *testing.T) (*Local, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data", "state.db")
	l, err := OpenLocal(path)
	if err != nil {
		t.Fatalf("OpenLocal: %v", err)
	}
	return l, path
}

func reopen(t *testing.T, l *Local, path string) *Local {
	t.Helper()
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	l2, err := OpenLocal(path)
	if err != nil {
		t.Fatalf("reopening: %v", err)
	}
	t.Cleanup(func() { l2.Close() })
	return l2
}

func alert(fp string, st event.AlertState, v float64) event.Alert {
	ts := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	return event.Alert{
		Rule:        "HighErrorRate",
		Labels:      map[string]string{"alertname": "HighErrorRate", "service": fp},
		State:       st,
		Since:       ts,
		Value:       v,
		Fingerprint: fp,
		Summary:     "too many errors",
		Severity:    "critical",
		Consecutive: 2,
		LastSent:    ts.Add(time.Minute),
		Notify:      []string{"ops"},
	}
}

func TestLocalAlertsSurviveReopen(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		// ops run before the store is closed and reopened.
		ops  func(t *testing.T, l *Local)
		want []event.Alert
	}{
		{
			name: "put is kept",
			ops: func(t *testing.T, l *Local) {
				must(t, l.Put(ctx, alert("b", event.StateFiring, 0.5)))
				must(t, l.Put(ctx, alert("a", event.StatePending, 0.25)))
			},
			want: []event.Alert{alert("a", event.StatePending, 0.25), alert("b", event.StateFiring, 0.5)},
		},
		{
			name: "put replaces the same fingerprint",
			ops: func(t *testing.T, l *Local) {
				must(t, l.Put(ctx, alert("a", event.StatePending, 0.25)))
				must(t, l.Put(ctx, alert("a", event.StateFiring, 0.75)))
			},
			want: []event.Alert{alert("a", event.StateFiring, 0.75)},
		},
		{
			name: "delete forgets, unknown delete is fine",
			ops: func(t *testing.T, l *Local) {
				must(t, l.Put(ctx, alert("a", event.StateFiring, 1)))
				must(t, l.Put(ctx, alert("b", event.StateFiring, 2)))
				must(t, l.Delete(ctx, "a"))
				must(t, l.Delete(ctx, "nope"))
			},
			want: []event.Alert{alert("b", event.StateFiring, 2)},
		},
		{
			name: "empty store loads nothing",
			ops:  func(t *testing.T, l *Local) {},
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, path := openTemp(t)
			tt.ops(t, l)
			l = reopen(t, l, path)
			got, err := l.Load(ctx)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Load after reopen =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestLocalNaNValueRoundTrips(t *testing.T) {
	ctx := context.Background()
	for _, v := range []float64{math.NaN(), math.Inf(1)} {
		t.Run("value "+formatFloat(v), func(t *testing.T) {
			l, path := openTemp(t)
			must(t, l.Put(ctx, alert("a", event.StateFiring, v)))
			l = reopen(t, l, path)
			got, err := l.Load(ctx)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if len(got) != 1 || !math.IsNaN(got[0].Value) {
				t.Fatalf("Load = %+v, want one alert with a NaN value", got)
			}
		})
	}
}

func formatFloat(v float64) string {
	if math.IsNaN(v) {
		return "NaN"
	}
	return "Inf"
}

func TestLocalPutRejectsEmptyFingerprint(t *testing.T) {
	l, _ := openTemp(t)
	defer l.Close()
	if err := l.Put(context.Background(), alert("", event.StateFiring, 1)); err == nil {
		t.Fatal("Put with an empty fingerprint succeeded")
	}
}

func TestLocalSecondOpenFails(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the file lock timeout")
	}
	l, path := openTemp(t)
	defer l.Close()
	if l2, err := OpenLocal(path); err == nil {
		l2.Close()
		t.Fatal("a second OpenLocal on a held file succeeded")
	}
}

func TestLocalThresholds(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		ops     func(l *Local) error
		wantErr bool
		want    map[string]float64
	}{
		{
			name: "set and overwrite",
			ops: func(l *Local) error {
				if err := l.SetThreshold(ctx, "error_rate", 0.05); err != nil {
					return err
				}
				if err := l.SetThreshold(ctx, "cpu", 90); err != nil {
					return err
				}
				return l.SetThreshold(ctx, "error_rate", 0.1)
			},
			want: map[string]float64{"error_rate": 0.1, "cpu": 90},
		},
		{
			name: "delete",
			ops: func(l *Local) error {
				if err := l.SetThreshold(ctx, "cpu", 90); err != nil {
					return err
				}
				return l.DeleteThreshold(ctx, "cpu")
			},
			want: map[string]float64{},
		},
		{name: "NaN refused", ops: func(l *Local) error { return l.SetThreshold(ctx, "x", math.NaN()) }, wantErr: true, want: map[string]float64{}},
		{name: "Inf refused", ops: func(l *Local) error { return l.SetThreshold(ctx, "x", math.Inf(-1)) }, wantErr: true, want: map[string]float64{}},
		{name: "empty name refused", ops: func(l *Local) error { return l.SetThreshold(ctx, "", 1) }, wantErr: true, want: map[string]float64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, path := openTemp(t)
			err := tt.ops(l)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v, want error %v", err, tt.wantErr)
			}
			l = reopen(t, l, path)
			got, err := l.Thresholds(ctx)
			if err != nil {
				t.Fatalf("Thresholds: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Thresholds after reopen = %v, want %v", got, tt.want)
			}
			for name, v := range tt.want {
				if g, ok := l.Threshold(name); !ok || g != v {
					t.Errorf("Threshold(%q) = %v, %v; want %v, true", name, g, ok, v)
				}
			}
			if _, ok := l.Threshold("never-set"); ok {
				t.Error(`Threshold("never-set") reports a value`)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func BenchmarkLocalPut(b *testing.B) {
	l, err := OpenLocal(filepath.Join(b.TempDir(), "state.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	a := alert("a", event.StateFiring, 1)
	ctx := context.Background()
	for b.Loop() {
		if err := l.Put(ctx, a); err != nil {
			b.Fatal(err)
		}
	}
}
