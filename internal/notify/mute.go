package notify

import (
	"context"
	"iter"
	"slices"
	"time"

	"github.com/lookout-dev/lookout/internal/clock"
	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/state"
)

// Muter decides whether a firing notification is held back by a silence, an
// inhibit rule or an acknowledgement. It reads the silences and
// acknowledgements from Mutes on each call (backends serve them from memory),
// so changes made through the API apply to the next decision. Its Reason fits
// rule.Options.Mute. The zero Clock is the wall clock; a nil Mutes has no
// silences or acknowledgements. Safe for concurrent use.
type Muter struct {
	Mutes   state.Mutes
	Inhibit []config.Inhibit
	Clock   clock.Clock
}

// Muting is why an alert's notifications are held back right now.
type Muting struct {
	// SilencedBy lists the IDs of the active silences matching the alert.
	SilencedBy []string
	// InhibitedBy names the firing alert that inhibits it: "<rule>
	// <fingerprint>"; empty when none does.
	InhibitedBy string
	// Ack is the alert's acknowledgement when one covers this firing.
	Ack *state.Ack
}

// Muted reports whether anything holds the alert back.
func (m Muting) Muted() bool { return len(m.SilencedBy) > 0 || m.InhibitedBy != "" || m.Ack != nil }

// Reason is the decision text after "suppressed: ": the first silence, else
// the inhibiting alert, else the acknowledgement; "" when nothing mutes.
func (m Muting) Reason() string {
	switch {
	case len(m.SilencedBy) > 0:
		return "silence " + m.SilencedBy[0]
	case m.InhibitedBy != "":
		return "inhibited by " + m.InhibitedBy
	case m.Ack != nil:
		why := "acknowledged by " + m.Ack.By
		if m.Ack.Comment != "" {
			why += ": " + m.Ack.Comment
		}
		return why
	}
	return ""
}

// Reason returns why a's firing notification is held back, or "" to send it.
// firing yields the firing alerts, which may inhibit a.
func (mu Muter) Reason(a event.Alert, firing iter.Seq[event.Alert]) string {
	return mu.Status(a, firing).Reason()
}

// Status returns everything that mutes a now. A backend read error mutes
// nothing: a notification too many beats a lost one.
func (mu Muter) Status(a event.Alert, firing iter.Seq[event.Alert]) Muting {
	var out Muting
	now := mu.now()
	labels := a.Labels
	if mu.Mutes != nil {
		ctx := context.Background()
		if sils, err := mu.Mutes.Silences(ctx); err == nil {
			for _, s := range sils {
				if s.Mutes(labels, now) {
					out.SilencedBy = append(out.SilencedBy, s.ID)
				}
			}
		}
		if acks, err := mu.Mutes.Acks(ctx); err == nil {
			for _, ack := range acks {
				if ack.Covers(a.Fingerprint, a.Since, now) {
					out.Ack = &ack
					break
				}
			}
		}
	}
	if firing != nil {
		out.InhibitedBy = mu.inhibitor(a, firing)
	}
	return out
}

// inhibitor returns "<rule> <fingerprint>" of the first firing alert that
// inhibits a under some inhibit rule, or "". An alert never inhibits itself.
func (mu Muter) inhibitor(a event.Alert, firing iter.Seq[event.Alert]) string {
	var rules []config.Inhibit
	for _, in := range mu.Inhibit {
		if labelsMatch(a.Labels, in.Target) {
			rules = append(rules, in)
		}
	}
	if len(rules) == 0 {
		return ""
	}
	var found []string
	for src := range firing {
		if src.Fingerprint == a.Fingerprint {
			continue
		}
		for _, in := range rules {
			if labelsMatch(src.Labels, in.Source) && equalOn(src.Labels, a.Labels, in.Equal) {
				found = append(found, src.Rule+" "+src.Fingerprint)
				break
			}
		}
	}
	if len(found) == 0 {
		return ""
	}
	// The engine's map has no order: name the same inhibitor every time,
	// so the decision is recorded once.
	slices.Sort(found)
	return found[0]
}

func (mu Muter) now() time.Time {
	if mu.Clock == nil {
		return time.Now()
	}
	return mu.Clock.Now()
}

// labelsMatch reports whether labels hold every name: value of want.
func labelsMatch(labels, want map[string]string) bool {
	for k, v := range want {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// equalOn reports whether a and b have the same value for each name (a name
// missing on both counts as equal, as in Alertmanager).
func equalOn(a, b map[string]string, names []string) bool {
	for _, n := range names {
		if a[n] != b[n] {
			return false
		}
	}
	return true
}
