package source

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/clock"
	"github.com/lookout-dev/lookout/internal/config"
)

type nopSource struct{ name string }

func (s nopSource) Name() string                          { return s.name }
func (s nopSource) Run(ctx context.Context, _ Sink) error { <-ctx.Done(); return nil }

func TestRegistry(t *testing.T) {
	Register(Kind{Name: "test-nop", New: func(cfg config.Source, deps Deps) (Source, error) {
		if cfg.Name == "bad" {
			return nil, errors.New("no good")
		}
		return nopSource{cfg.Name}, nil
	}})
	tests := []struct {
		name    string
		cfg     config.Source
		wantErr string
	}{
		{"known kind", config.Source{Name: "a", Type: "test-nop"}, ""},
		{"unknown kind names the known", config.Source{Name: "a", Type: "carrier-pigeon"}, `unknown type "carrier-pigeon" (known: `},
		{"factory error wrapped", config.Source{Name: "bad", Type: "test-nop"}, "creating test-nop source bad: no good"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.cfg, Deps{})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New error = %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(tt.wantErr, "known") && !strings.Contains(err.Error(), "test-nop") {
					t.Errorf("error %q does not list test-nop", err)
				}
				return
			}
			if err != nil || s.Name() != tt.cfg.Name {
				t.Fatalf("New = %v, %v", s, err)
			}
		})
	}
	if !contains(Kinds(), "test-nop") {
		t.Errorf("Kinds() = %v, want test-nop in it", Kinds())
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("duplicate Register did not panic")
			}
		}()
		Register(Kind{Name: "test-nop", New: func(config.Source, Deps) (Source, error) { return nil, nil }})
	}()
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func TestWithDefaults(t *testing.T) {
	d, err := Deps{}.WithDefaults(config.Source{Name: "s", Type: "push", RawBuffer: 3})
	if err != nil {
		t.Fatal(err)
	}
	if d.Log == nil || d.Clock == nil || d.Pre == nil || d.Raw == nil || d.Health == nil || d.HTTP == nil {
		t.Fatalf("WithDefaults left a nil: %+v", d)
	}
	for i := 0; i < 5; i++ {
		d.Raw.Add(time.Time{}, []byte{byte('a' + i)})
	}
	if n := len(d.Raw.Last(10)); n != 3 {
		t.Errorf("raw buffer holds %d, want raw_buffer 3", n)
	}
	_, err = Deps{}.WithDefaults(config.Source{Name: "s", Fields: map[string]config.Field{"x": {Type: "int"}}})
	if err == nil {
		t.Error("WithDefaults accepted a bad field type")
	}
}

func TestRing(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		size  int
		add   int
		last  int
		wants []string
	}{
		{"empty", 3, 0, 5, []string{}},
		{"partial", 3, 2, 5, []string{"m0", "m1"}},
		{"wrapped oldest first", 3, 5, 5, []string{"m2", "m3", "m4"}},
		{"limit", 3, 5, 2, []string{"m3", "m4"}},
		{"exactly full", 3, 3, 3, []string{"m0", "m1", "m2"}},
		{"zero", 3, 3, 0, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRing(tt.size)
			for i := 0; i < tt.add; i++ {
				r.Add(t0.Add(time.Duration(i)*time.Second), []byte(fmt.Sprintf("m%d", i)))
			}
			got := []string{}
			for _, m := range r.Last(tt.last) {
				got = append(got, string(m.Data))
			}
			if !reflect.DeepEqual(got, tt.wants) {
				t.Errorf("Last(%d) = %v, want %v", tt.last, got, tt.wants)
			}
		})
	}
}

func TestRingCopies(t *testing.T) {
	r := NewRing(2)
	buf := []byte(`{"a":1}`)
	r.Add(time.Time{}, buf)
	copy(buf, `{"b":2}`)
	if got := string(r.Last(1)[0].Data); got != `{"a":1}` {
		t.Errorf("ring holds %q after the caller reused its buffer", got)
	}
}

func TestRawMessageJSON(t *testing.T) {
	ts := time.Date(2024, 11, 26, 6, 0, 0, 0, time.UTC)
	tests := []struct {
		name, data, want string
	}{
		{"json", `{"a": 1}`, `{"ts":"2024-11-26T06:00:00Z","raw":"{\"a\": 1}","json":{"a":1}}`},
		{"text", `ERROR boom`, `{"ts":"2024-11-26T06:00:00Z","raw":"ERROR boom"}`},
		{"broken json", `{"a":`, `{"ts":"2024-11-26T06:00:00Z","raw":"{\"a\":"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.Marshal(RawMessage{Time: ts, Data: []byte(tt.data)})
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestHealth(t *testing.T) {
	t0 := time.Date(2024, 11, 26, 6, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	h := NewHealth("api", "http", clk)

	s := h.Snapshot()
	if s.Up || s.Events != 0 || s.Rate != 0 || !s.LastSuccess.IsZero() {
		t.Errorf("fresh health = %+v", s)
	}
	b, _ := json.Marshal(s)
	if strings.Contains(string(b), "last_success") || strings.Contains(string(b), "last_error") {
		t.Errorf("zero times and empty error not omitted: %s", b)
	}

	// 100 events/s for 20 s, then a failure.
	for i := 0; i < 20; i++ {
		h.Received(60, 600)
		h.Received(40, 400)
		clk.Advance(time.Second)
	}
	h.Success()
	h.Rejected(2)
	h.SetLag(7)
	s = h.Snapshot()
	want := HealthSnapshot{Name: "api", Type: "http", Up: true, LastSuccess: t0.Add(20 * time.Second),
		Events: 2000, Rejected: 2, Bytes: 20000, Rate: 100, Lag: 7, LagUnit: LagMessages}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("Snapshot\n got %+v\nwant %+v", s, want)
	}

	clk.Advance(5 * time.Second) // 5 quiet seconds: half the span
	h.Failure(errors.New("connecting: refused"))
	s = h.Snapshot()
	if s.Up || s.LastError != "connecting: refused" || !s.LastErrorAt.Equal(t0.Add(25*time.Second)) {
		t.Errorf("after failure = %+v", s)
	}
	if s.Rate != 50 {
		t.Errorf("Rate after 5 quiet seconds = %v, want 50", s.Rate)
	}
	clk.Advance(time.Minute)
	if r := h.Snapshot().Rate; r != 0 {
		t.Errorf("Rate after a quiet minute = %v, want 0", r)
	}
	h.SetConnected(true)
	if !h.Snapshot().Up {
		t.Error("SetConnected(true) did not mark it up")
	}
	b, _ = json.Marshal(h.Snapshot())
	for _, k := range []string{`"last_success":`, `"last_error":"connecting: refused"`, `"last_error_at":`, `"rate":0`, `"lag":7`} {
		if !strings.Contains(string(b), k) {
			t.Errorf("JSON %s lacks %s", b, k)
		}
	}
}

func TestHealthYoungRate(t *testing.T) {
	clk := clock.NewFake(time.Date(2024, 11, 26, 6, 0, 0, 0, time.UTC))
	h := NewHealth("a", "push", clk)
	h.Received(30, 0)
	clk.Advance(time.Second)
	h.Received(30, 0)
	clk.Advance(time.Second)
	if r := h.Snapshot().Rate; r != 30 {
		t.Errorf("Rate after 2 s at 30/s = %v, want 30", r)
	}
}

func TestHealthConcurrent(t *testing.T) {
	clk := clock.NewFake(time.Date(2024, 11, 26, 6, 0, 0, 0, time.UTC))
	h := NewHealth("a", "push", clk)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				h.Received(1, 10)
				_ = h.Snapshot()
			}
		}()
	}
	wg.Wait()
	clk.Advance(time.Second)
	s := h.Snapshot()
	if s.Events != 4000 || s.Bytes != 40000 || s.Rate != 4000 {
		t.Errorf("after concurrent Received: %+v", s)
	}
}
