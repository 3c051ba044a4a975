package state

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// ErrNotFound is returned when a silence or acknowledgement does not exist.
var ErrNotFound = errors.New("not found")

// Mutes keeps the silences and acknowledgements people set through the API,
// so that they hold across restarts and, with a shared backend, across
// lookouts. Local implements it; a Redis backend implements it the same way.
//
// Implementations are safe for concurrent use. Writes are durable when they
// return without error. Reads (Silences, Acks) are called on every notify
// decision, so they must be cheap: serve them from memory, refreshed by the
// writes. The caller owns the returned slices.
type Mutes interface {
	// Silences returns every stored silence, active, pending or expired, in
	// ID order.
	Silences(ctx context.Context) ([]Silence, error)
	// PutSilence stores s (which must be valid) under s.ID, replacing a
	// silence with the same ID. It may forget silences that expired long ago.
	PutSilence(ctx context.Context, s Silence) error
	// DeleteSilence forgets the silence; ErrNotFound when there is none.
	DeleteSilence(ctx context.Context, id string) error
	// Acks returns every stored acknowledgement in fingerprint order,
	// expired ones included until they are replaced or deleted.
	Acks(ctx context.Context) ([]Ack, error)
	// PutAck stores a under a.Fingerprint, replacing the one before.
	PutAck(ctx context.Context, a Ack) error
	// DeleteAck forgets the acknowledgement of an alert; ErrNotFound when
	// there is none.
	DeleteAck(ctx context.Context, fingerprint string) error
}

// The matcher operators of a silence, as in Alertmanager.
const (
	OpEqual    = "="
	OpNotEqual = "!="
	OpRegex    = "=~"
	OpNotRegex = "!~"
)

// Matcher is one condition on an alert label. A label the alert lacks counts
// as the empty string, so {service != "api"} matches an alert without a
// service label.
type Matcher struct {
	Name  string `json:"name"`
	Op    string `json:"op"`
	Value string `json:"value"`

	re *regexp.Regexp
}

// Compile checks the matcher and prepares its regular expression, which is
// anchored at both ends as in Alertmanager: service =~ "api" matches "api"
// only, "api.*" is needed for "api-v2". An empty Op means OpEqual.
func (m *Matcher) Compile() error {
	if m.Op == "" {
		m.Op = OpEqual
	}
	if strings.TrimSpace(m.Name) == "" {
		return errors.New("a matcher needs a label name")
	}
	switch m.Op {
	case OpEqual, OpNotEqual:
		m.re = nil
	case OpRegex, OpNotRegex:
		re, err := regexp.Compile("^(?:" + m.Value + ")$")
		if err != nil {
			return fmt.Errorf("compiling matcher %s%s%q: %w", m.Name, m.Op, m.Value, err)
		}
		m.re = re
	default:
		return fmt.Errorf("matcher %s: %q is not an operator (=, !=, =~ or !~)", m.Name, m.Op)
	}
	return nil
}

// Matches reports whether labels satisfy the matcher. Call Compile first;
// an uncompiled regex matcher compiles itself on each call.
func (m Matcher) Matches(labels map[string]string) bool {
	return m.matchesValue(labels[m.Name])
}

func (m Matcher) matchesValue(v string) bool {
	switch m.Op {
	case OpEqual, "":
		return v == m.Value
	case OpNotEqual:
		return v != m.Value
	case OpRegex, OpNotRegex:
		re := m.re
		if re == nil {
			var err error
			if re, err = regexp.Compile("^(?:" + m.Value + ")$"); err != nil {
				return false
			}
		}
		return re.MatchString(v) == (m.Op == OpRegex)
	}
	return false
}

// String writes the matcher as name op "value".
func (m Matcher) String() string {
	op := m.Op
	if op == "" {
		op = OpEqual
	}
	return m.Name + op + fmt.Sprintf("%q", m.Value)
}

// Silence mutes the notifications of every alert whose labels satisfy all of
// its matchers, from StartsAt until EndsAt.
type Silence struct {
	ID        string    `json:"id"`
	Matchers  []Matcher `json:"matchers"`
	StartsAt  time.Time `json:"starts_at"`
	EndsAt    time.Time `json:"ends_at"`
	Comment   string    `json:"comment"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
}

// The states of a silence at a given time.
const (
	SilencePending = "pending"
	SilenceActive  = "active"
	SilenceExpired = "expired"
)

// Validate compiles the matchers and checks the silence can ever match
// something without matching everything: at least one matcher must reject
// the empty string (so a typo'd label name does not silence every alert),
// and EndsAt must be after StartsAt.
func (s *Silence) Validate() error {
	if len(s.Matchers) == 0 {
		return errors.New("a silence needs at least one matcher")
	}
	narrow := false
	for i := range s.Matchers {
		if err := s.Matchers[i].Compile(); err != nil {
			return err
		}
		if !s.Matchers[i].matchesValue("") {
			narrow = true
		}
	}
	if !narrow {
		return errors.New("at least one matcher must not match an empty label, or the silence would mute every alert")
	}
	if s.EndsAt.IsZero() {
		return errors.New("a silence needs an end time")
	}
	if !s.EndsAt.After(s.StartsAt) {
		return fmt.Errorf("the silence ends (%s) before it starts (%s)", s.EndsAt.Format(time.RFC3339), s.StartsAt.Format(time.RFC3339))
	}
	return nil
}

// State returns SilencePending, SilenceActive or SilenceExpired at now.
func (s Silence) State(now time.Time) string {
	switch {
	case now.Before(s.StartsAt):
		return SilencePending
	case now.Before(s.EndsAt):
		return SilenceActive
	}
	return SilenceExpired
}

// Mutes reports whether the silence is active at now and labels satisfy every
// matcher.
func (s Silence) Mutes(labels map[string]string, now time.Time) bool {
	if s.State(now) != SilenceActive {
		return false
	}
	for _, m := range s.Matchers {
		if !m.Matches(labels) {
			return false
		}
	}
	return true
}

// NewID returns a random 16-digit hex identifier for a silence.
func NewID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// Ack is a person's acknowledgement of one firing alert: until Until, the
// alert is not notified again by `repeat`; its resolved message still goes
// out. It belongs to one firing episode, the one that began at Since: when the
// alert resolves and fires again, the old acknowledgement no longer applies.
type Ack struct {
	Fingerprint string    `json:"fingerprint"`
	Since       time.Time `json:"since"`
	By          string    `json:"by"`
	Comment     string    `json:"comment"`
	At          time.Time `json:"at"`
	Until       time.Time `json:"until"`
}

// Covers reports whether the acknowledgement applies to the firing episode
// of fingerprint that began at since, at now.
func (a Ack) Covers(fingerprint string, since, now time.Time) bool {
	return a.Fingerprint == fingerprint && a.Since.Equal(since) && now.Before(a.Until)
}
