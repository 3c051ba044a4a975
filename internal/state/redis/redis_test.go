package redis

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/state"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestDecide(t *testing.T) {
	firing := func(since, at time.Time, repeat time.Duration) state.Claim {
		return state.Claim{Fingerprint: "fp", State: event.StateFiring, Since: since, At: at, Repeat: repeat}
	}
	resolved := func(since time.Time) state.Claim {
		return state.Claim{Fingerprint: "fp", State: event.StateResolved, Since: since, At: t0.Add(time.Hour)}
	}
	ms := func(t time.Time) int64 { return t.UnixMilli() }
	for _, tc := range []struct {
		name string
		cur  string
		c    state.Claim
		won  bool
		next claimed
	}{
		{"first firing wins", "", firing(t0, t0, 5*time.Minute), true,
			claimed{event.StateFiring, ms(t0), ms(t0.Add(5 * time.Minute))}},
		{"no repeat: until never", "", firing(t0, t0, 0), true, claimed{event.StateFiring, ms(t0), -1}},
		{"second firing of the episode loses", claimed{event.StateFiring, ms(t0), ms(t0.Add(5 * time.Minute))}.String(),
			firing(t0, t0.Add(time.Second), 5*time.Minute), false,
			claimed{event.StateFiring, ms(t0), ms(t0.Add(5 * time.Minute))}},
		{"repeat due wins and keeps the episode start", claimed{event.StateFiring, ms(t0), ms(t0.Add(5 * time.Minute))}.String(),
			firing(t0.Add(time.Minute), t0.Add(5*time.Minute), 5*time.Minute), true,
			claimed{event.StateFiring, ms(t0), ms(t0.Add(10 * time.Minute))}},
		{"never repeated", claimed{event.StateFiring, ms(t0), -1}.String(), firing(t0, t0.Add(24*time.Hour), 0), false,
			claimed{event.StateFiring, ms(t0), -1}},
		{"taken-over instance's later since loses", claimed{event.StateFiring, ms(t0), -1}.String(),
			firing(t0.Add(30*time.Second), t0.Add(time.Minute), 0), false, claimed{event.StateFiring, ms(t0), -1}},
		{"lagging firing after the resolution loses", claimed{event.StateResolved, ms(t0), -1}.String(),
			firing(t0, t0.Add(time.Hour), 0), false, claimed{event.StateResolved, ms(t0), -1}},
		{"new episode after a resolution wins", claimed{event.StateResolved, ms(t0), -1}.String(),
			firing(t0.Add(time.Hour), t0.Add(time.Hour), 0), true, claimed{event.StateFiring, ms(t0.Add(time.Hour)), -1}},
		{"resolved after firing wins", claimed{event.StateFiring, ms(t0), -1}.String(), resolved(t0), true,
			claimed{event.StateResolved, ms(t0), -1}},
		{"resolved keeps the later start", claimed{event.StateFiring, ms(t0), -1}.String(), resolved(t0.Add(time.Minute)), true,
			claimed{event.StateResolved, ms(t0.Add(time.Minute)), -1}},
		{"second resolved loses", claimed{event.StateResolved, ms(t0), -1}.String(), resolved(t0), false,
			claimed{event.StateResolved, ms(t0), -1}},
		{"resolved with nothing known is sent", "", resolved(t0), true, claimed{event.StateResolved, ms(t0), -1}},
		{"garbage is nothing known", "firing|x", firing(t0, t0, 0), true, claimed{event.StateFiring, ms(t0), -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			won, next := decide(tc.cur, tc.c)
			if won != tc.won || next != tc.next {
				t.Errorf("decide(%q) = %v, %v; want %v, %v", tc.cur, won, next, tc.won, tc.next)
			}
		})
	}
}

func TestStore(t *testing.T) {
	s := startServer(t)
	a, b := s.open(t), s.open(t)
	ctx := context.Background()
	alert := event.Alert{Rule: "R", Fingerprint: "f1", State: event.StateFiring, Since: t0, Value: math.NaN(),
		Labels: map[string]string{"service": "api"}, LastSent: t0.Add(time.Minute), Consecutive: 3}
	if err := a.Put(ctx, alert); err != nil {
		t.Fatal(err)
	}
	if err := a.Put(ctx, event.Alert{Rule: "R", Fingerprint: "f0", State: event.StatePending, Value: 2}); err != nil {
		t.Fatal(err)
	}
	if err := a.Put(ctx, event.Alert{Rule: "R"}); err == nil {
		t.Error("Put with an empty fingerprint: no error")
	}
	// Another instance sees both, in fingerprint order.
	got, err := b.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Fingerprint != "f0" || got[1].Fingerprint != "f1" {
		t.Fatalf("Load = %+v", got)
	}
	if g := got[1]; !math.IsNaN(g.Value) || g.Labels["service"] != "api" || !g.LastSent.Equal(alert.LastSent) || g.Consecutive != 3 {
		t.Errorf("round trip: %+v", g)
	}
	if err := b.Delete(ctx, "f1"); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx, "unknown"); err != nil {
		t.Errorf("deleting an unknown fingerprint: %v", err)
	}
	if got, _ := a.Load(ctx); len(got) != 1 || got[0].Fingerprint != "f0" {
		t.Errorf("after Delete: %+v", got)
	}
}

func TestThresholdsAndMutesAreShared(t *testing.T) {
	s := startServer(t)
	a, b := s.open(t), s.open(t)
	ctx := context.Background()
	if err := a.SetThreshold(ctx, "err_rate", 0.05); err != nil {
		t.Fatal(err)
	}
	for _, v := range []float64{math.NaN(), math.Inf(1)} {
		if err := a.SetThreshold(ctx, "bad", v); err == nil {
			t.Errorf("SetThreshold(%v): no error", v)
		}
	}
	sil := state.Silence{ID: "s1", Matchers: []state.Matcher{{Name: "service", Op: state.OpRegex, Value: "api.*"}},
		StartsAt: time.Now().Add(-time.Minute), EndsAt: time.Now().Add(time.Hour)}
	if err := a.PutSilence(ctx, sil); err != nil {
		t.Fatal(err)
	}
	if err := a.PutAck(ctx, state.Ack{Fingerprint: "f1", Since: t0, By: "alice", Until: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	// b reads memory: nothing until its refresh.
	if _, ok := b.Threshold("err_rate"); ok {
		t.Error("b saw the threshold before refreshing")
	}
	if err := b.refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if v, ok := b.Threshold("err_rate"); !ok || v != 0.05 {
		t.Errorf("b.Threshold = %v, %v", v, ok)
	}
	sils, _ := b.Silences(ctx)
	if len(sils) != 1 || !sils[0].Mutes(map[string]string{"service": "api-v2"}, time.Now()) {
		t.Errorf("b.Silences = %+v (the regex must work after decoding)", sils)
	}
	acks, _ := b.Acks(ctx)
	if len(acks) != 1 || acks[0].By != "alice" {
		t.Errorf("b.Acks = %+v", acks)
	}
	// Deleting is atomic across instances: the second delete finds nothing.
	if err := b.DeleteSilence(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	if err := a.DeleteSilence(ctx, "s1"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("second DeleteSilence = %v, want ErrNotFound", err)
	}
	if err := a.DeleteAck(ctx, "nope"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("DeleteAck(unknown) = %v, want ErrNotFound", err)
	}
	if err := a.DeleteThreshold(ctx, "err_rate"); err != nil {
		t.Fatal(err)
	}
	if err := b.refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.Threshold("err_rate"); ok {
		t.Error("b still has the deleted threshold")
	}
}

// TestClaimOnce races instances for each notification of an alert's life:
// exactly one wins each.
func TestClaimOnce(t *testing.T) {
	s := startServer(t)
	bs := []*Backend{s.open(t), s.open(t), s.open(t)}
	ctx := context.Background()
	race := func(c state.Claim) int {
		var wins atomic.Int32
		var wg sync.WaitGroup
		for _, b := range bs {
			for range 4 { // and several goroutines per instance
				wg.Go(func() {
					won, err := b.Claim(ctx, c)
					if err != nil {
						t.Error(err)
					}
					if won {
						wins.Add(1)
					}
				})
			}
		}
		wg.Wait()
		return int(wins.Load())
	}
	repeat := 5 * time.Minute
	for _, step := range []struct {
		name string
		c    state.Claim
		wins int
	}{
		{"firing", state.Claim{Fingerprint: "fp", State: event.StateFiring, Since: t0, At: t0, Repeat: repeat}, 1},
		{"firing again within repeat", state.Claim{Fingerprint: "fp", State: event.StateFiring, Since: t0, At: t0.Add(time.Minute), Repeat: repeat}, 0},
		{"repeat", state.Claim{Fingerprint: "fp", State: event.StateFiring, Since: t0, At: t0.Add(repeat), Repeat: repeat}, 1},
		{"resolved", state.Claim{Fingerprint: "fp", State: event.StateResolved, Since: t0, At: t0.Add(6 * time.Minute)}, 1},
		{"lagging firing", state.Claim{Fingerprint: "fp", State: event.StateFiring, Since: t0, At: t0.Add(7 * time.Minute), Repeat: repeat}, 0},
		{"next episode", state.Claim{Fingerprint: "fp", State: event.StateFiring, Since: t0.Add(time.Hour), At: t0.Add(time.Hour), Repeat: repeat}, 1},
		{"other alert", state.Claim{Fingerprint: "fp2", State: event.StateFiring, Since: t0, At: t0}, 1},
	} {
		if got := race(step.c); got != step.wins {
			t.Errorf("%s: %d winners, want %d", step.name, got, step.wins)
		}
	}
}

// TestRedisRestart: Redis restarted without persistence comes back empty;
// the instances write back what they hold, so nothing is notified twice and
// no threshold, silence or alert instance is lost.
func TestRedisRestart(t *testing.T) {
	s := startServer(t)
	a, b := s.open(t), s.open(t)
	ctx := context.Background()
	fire := state.Claim{Fingerprint: "fp", State: event.StateFiring, Since: t0, At: t0}
	if won, err := a.Claim(ctx, fire); !won || err != nil {
		t.Fatalf("first claim: %v, %v", won, err)
	}
	if err := a.SetThreshold(ctx, "x", 7); err != nil {
		t.Fatal(err)
	}
	if err := a.Put(ctx, event.Alert{Rule: "R", Fingerprint: "fp", State: event.StateFiring, Since: t0}); err != nil {
		t.Fatal(err)
	}

	s.stop()
	// While Redis is away: writes fail with an error, claims decide from
	// memory (a knows fp was sent; a new alert is sent rather than lost).
	if err := a.Put(ctx, event.Alert{Rule: "R", Fingerprint: "fp3", State: event.StatePending}); err == nil {
		t.Error("Put with Redis down: no error")
	}
	if won, err := a.Claim(ctx, fire); won || err == nil {
		t.Errorf("claim known to be sent, Redis down: won=%v err=%v; want false and an error", won, err)
	}
	if won, _ := a.Claim(ctx, state.Claim{Fingerprint: "fp2", State: event.StateFiring, Since: t0, At: t0}); !won {
		t.Error("new claim with Redis down: lost; want it sent")
	}
	if err := a.refresh(ctx); err == nil {
		t.Error("refresh with Redis down: no error")
	}
	if v, ok := a.Threshold("x"); !ok || v != 7 {
		t.Errorf("threshold from memory while down = %v, %v", v, ok)
	}

	s.start() // empty
	// b, lagging, asks before a noticed: its own cache knows nothing,
	// and Redis is empty: nothing stops it but a's write-back, which
	// a's refresh does first here.
	if err := a.refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if won, err := b.Claim(ctx, fire); won || err != nil {
		t.Errorf("lagging instance after the restart: won=%v err=%v; want false", won, err)
	}
	if won, _ := b.Claim(ctx, state.Claim{Fingerprint: "fp2", State: event.StateFiring, Since: t0, At: t0}); won {
		t.Error("the claim a made while Redis was down was not written back")
	}
	if err := b.refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if v, ok := b.Threshold("x"); !ok || v != 7 {
		t.Errorf("threshold after the restart = %v, %v", v, ok)
	}
	got, err := b.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fps := map[string]bool{}
	for _, a := range got {
		fps[a.Fingerprint] = true
	}
	if !fps["fp"] || !fps["fp3"] {
		t.Errorf("alerts after the restart: %v; want fp and fp3 (written while down)", fps)
	}
}

func TestOpenUnreachable(t *testing.T) {
	if testing.Short() {
		t.Skip("dials")
	}
	s := startServer(t)
	addr := s.addr
	s.stop()
	if _, err := Open(context.Background(), Options{Addr: addr}); err == nil {
		t.Error("Open with no Redis: no error")
	}
}
