package state

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestMatcher(t *testing.T) {
	labels := map[string]string{"alertname": "HighErrorRate", "service": "api-v2", "severity": "critical"}
	tests := []struct {
		name string
		m    Matcher
		want bool
	}{
		{"equal", Matcher{Name: "service", Value: "api-v2"}, true},
		{"equal other value", Matcher{Name: "service", Value: "api"}, false},
		{"explicit equal", Matcher{Name: "severity", Op: "=", Value: "critical"}, true},
		{"not equal", Matcher{Name: "service", Op: "!=", Value: "api"}, true},
		{"not equal same", Matcher{Name: "service", Op: "!=", Value: "api-v2"}, false},
		{"regex anchored whole value", Matcher{Name: "service", Op: "=~", Value: "api"}, false},
		{"regex", Matcher{Name: "service", Op: "=~", Value: "api.*"}, true},
		{"regex alternation anchored", Matcher{Name: "service", Op: "=~", Value: "web|api-v2"}, true},
		{"negative regex", Matcher{Name: "service", Op: "!~", Value: "api.*"}, false},
		{"missing label is empty", Matcher{Name: "team", Value: ""}, true},
		{"missing label not equal", Matcher{Name: "team", Op: "!=", Value: "payments"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := tt.m
			if err := m.Compile(); err != nil {
				t.Fatal(err)
			}
			if got := m.Matches(labels); got != tt.want {
				t.Errorf("%s on %v = %v, want %v", m, labels, got, tt.want)
			}
		})
	}
}

func TestSilenceValidate(t *testing.T) {
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		s       Silence
		wantErr string
	}{
		{"ok", Silence{Matchers: []Matcher{{Name: "service", Value: "api"}}, StartsAt: start, EndsAt: start.Add(time.Hour)}, ""},
		{"no matchers", Silence{StartsAt: start, EndsAt: start.Add(time.Hour)}, "at least one matcher"},
		{"matches everything", Silence{Matchers: []Matcher{{Name: "service", Op: "=~", Value: ".*"}}, StartsAt: start, EndsAt: start.Add(time.Hour)}, "every alert"},
		{"bad regex", Silence{Matchers: []Matcher{{Name: "service", Op: "=~", Value: "("}}, StartsAt: start, EndsAt: start.Add(time.Hour)}, "compiling matcher"},
		{"bad op", Silence{Matchers: []Matcher{{Name: "service", Op: "~", Value: "a"}}, StartsAt: start, EndsAt: start.Add(time.Hour)}, "not an operator"},
		{"no name", Silence{Matchers: []Matcher{{Value: "a"}}, StartsAt: start, EndsAt: start.Add(time.Hour)}, "label name"},
		{"ends before start", Silence{Matchers: []Matcher{{Name: "service", Value: "api"}}, StartsAt: start, EndsAt: start}, "before it starts"},
		{"no end", Silence{Matchers: []Matcher{{Name: "service", Value: "api"}}, StartsAt: start}, "end time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.s.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate = %v, want an error with %q", err, tt.wantErr)
			}
		})
	}
}

func TestSilenceExpiry(t *testing.T) {
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s := Silence{Matchers: []Matcher{{Name: "service", Value: "api"}}, StartsAt: start, EndsAt: start.Add(time.Hour)}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	api := map[string]string{"service": "api"}
	tests := []struct {
		at    time.Time
		state string
		mutes bool
	}{
		{start.Add(-time.Second), SilencePending, false},
		{start, SilenceActive, true},
		{start.Add(59 * time.Minute), SilenceActive, true},
		{start.Add(time.Hour), SilenceExpired, false},
	}
	for _, tt := range tests {
		t.Run(tt.at.Format(time.TimeOnly), func(t *testing.T) {
			if got := s.State(tt.at); got != tt.state {
				t.Errorf("State = %s, want %s", got, tt.state)
			}
			if got := s.Mutes(api, tt.at); got != tt.mutes {
				t.Errorf("Mutes = %v, want %v", got, tt.mutes)
			}
		})
	}
	if s.Mutes(map[string]string{"service": "web"}, start) {
		t.Error("an active silence mutes an alert its matchers do not match")
	}
}

func TestAckCovers(t *testing.T) {
	since := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	a := Ack{Fingerprint: "fp", Since: since, Until: since.Add(2 * time.Hour)}
	tests := []struct {
		name  string
		fp    string
		since time.Time
		now   time.Time
		want  bool
	}{
		{"same episode", "fp", since, since.Add(time.Hour), true},
		{"expired", "fp", since, since.Add(2 * time.Hour), false},
		{"next episode", "fp", since.Add(3 * time.Hour), since.Add(time.Hour), false},
		{"other alert", "other", since, since.Add(time.Hour), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := a.Covers(tt.fp, tt.since, tt.now); got != tt.want {
				t.Errorf("Covers = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLocalMutesSurviveReopen(t *testing.T) {
	ctx := context.Background()
	l, path := openTemp(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	s := Silence{
		ID: "s1", Matchers: []Matcher{{Name: "service", Op: "=~", Value: "api|web"}},
		StartsAt: now, EndsAt: now.Add(time.Hour), Comment: "deploy", CreatedBy: "alice", CreatedAt: now,
	}
	must(t, l.PutSilence(ctx, s))
	old := Silence{ID: "s0", Matchers: []Matcher{{Name: "service", Value: "x"}}, StartsAt: now.Add(-72 * time.Hour), EndsAt: now.Add(-48 * time.Hour)}
	must(t, l.PutSilence(ctx, old))
	must(t, l.PutAck(ctx, Ack{Fingerprint: "fp1", Since: now, By: "bob", Comment: "on it", At: now, Until: now.Add(2 * time.Hour)}))
	must(t, l.PutAck(ctx, Ack{Fingerprint: "fp2", Since: now, By: "bob", Until: now.Add(time.Hour)}))
	must(t, l.DeleteAck(ctx, "fp2"))
	if err := l.DeleteAck(ctx, "fp2"); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleting a missing ack: %v, want ErrNotFound", err)
	}
	if err := l.PutSilence(ctx, Silence{ID: "bad", Matchers: []Matcher{{Name: "a", Op: "=~", Value: ".*"}}, EndsAt: now.Add(time.Hour)}); err == nil {
		t.Error("PutSilence took a silence that mutes everything")
	}

	l = reopen(t, l, path)
	sils, err := l.Silences(ctx)
	must(t, err)
	if len(sils) != 2 || sils[0].ID != "s0" || sils[1].ID != "s1" {
		t.Fatalf("silences after reopen = %+v, want s0 and s1", sils)
	}
	got := sils[1]
	if got.Comment != "deploy" || got.CreatedBy != "alice" || !got.EndsAt.Equal(s.EndsAt) {
		t.Errorf("silence after reopen = %+v", got)
	}
	if !got.Mutes(map[string]string{"service": "web"}, now.Add(time.Minute)) {
		t.Error("a reloaded regex silence does not match")
	}
	// A new silence drops those expired more than a day ago.
	must(t, l.PutSilence(ctx, Silence{ID: "s2", Matchers: []Matcher{{Name: "service", Value: "db"}}, StartsAt: now, EndsAt: now.Add(time.Minute)}))
	must(t, l.DeleteSilence(ctx, "s1"))
	if err := l.DeleteSilence(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleting a missing silence: %v, want ErrNotFound", err)
	}
	l = reopen(t, l, path)
	sils, err = l.Silences(ctx)
	must(t, err)
	if len(sils) != 1 || sils[0].ID != "s2" {
		t.Errorf("silences = %+v, want only s2", sils)
	}
	acks, err := l.Acks(ctx)
	must(t, err)
	if len(acks) != 1 || acks[0].Fingerprint != "fp1" || acks[0].By != "bob" || acks[0].Comment != "on it" || !acks[0].Since.Equal(now) {
		t.Errorf("acks after reopen = %+v, want fp1 by bob", acks)
	}
}
