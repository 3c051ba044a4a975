package event

import "time"

// AlertState is where an alert instance is in its life.
type AlertState string

// The states of an alert instance. Inactive instances are not kept.
const (
	StatePending  AlertState = "pending"
	StateFiring   AlertState = "firing"
	StateResolved AlertState = "resolved"
)

// Alert is one alert instance: a rule together with one set of group labels.
// Its identity is Fingerprint = hash(rule, labels).
type Alert struct {
	Rule        string            `json:"rule"`
	Labels      map[string]string `json:"labels"`
	State       AlertState        `json:"state"`
	Since       time.Time         `json:"since"`
	Value       float64           `json:"value"`
	Fingerprint string            `json:"fingerprint"`
	Summary     string            `json:"summary"`
	Severity    string            `json:"severity"`
	// Consecutive counts the windows in a row for which the condition held.
	Consecutive int `json:"consecutive"`
	// LastSent is when a firing notification was last handed to the notifiers;
	// zero when none was.
	LastSent time.Time `json:"last_sent"`
	// ResolvedAt is set once the alert has resolved.
	ResolvedAt time.Time `json:"resolved_at"`
	// Notify names the notifiers the rule sends to.
	Notify []string `json:"notify,omitempty"`
	// Group says how the dispatcher batches this alert with others of its
	// rule into one message; zero sends it on its own.
	Group Grouping `json:"group,omitzero"`
	// LastActive is the end of the last window (or SQL evaluation) in which
	// the condition held, and Clean counts the observations since then in
	// which it did not: a firing alert resolves only once both pass the
	// rule's keep_firing_for and resolve_after, so a flapping input does
	// not fire and resolve on every window.
	LastActive time.Time `json:"last_active,omitzero"`
	Clean      int       `json:"clean,omitempty"`

	// Trace is the span that decided this notification, so the send
	// continues the trace of the events behind it, across the outbox.
	Trace TraceContext `json:"trace,omitzero"`
	// Exemplar is the traced event behind the value the rule compared (the
	// window's exemplar of the first aggregate in `when` that has one), so
	// a notification can link to the slow request's trace; zero when none.
	Exemplar Exemplar `json:"exemplar,omitzero"`
	// WindowEnd is the event-time end of the window that decided it,
	// WindowClosed the wall-clock time that window closed and Decided when
	// the rule handed it to the notifiers: with the delivery time they
	// give the alert's end-to-end latency per stage. Zero when unknown.
	WindowEnd    time.Time `json:"window_end,omitzero"`
	WindowClosed time.Time `json:"window_closed,omitzero"`
	Decided      time.Time `json:"decided,omitzero"`
}

// Transition records one change of an alert's state, or one decision about
// notifying it, for the history and the store.
type Transition struct {
	Time        time.Time         `json:"ts"`
	Rule        string            `json:"rule"`
	Fingerprint string            `json:"fingerprint"`
	Labels      map[string]string `json:"labels"`
	State       AlertState        `json:"state"`
	Value       float64           `json:"value"`
	Summary     string            `json:"summary,omitempty"`
	// Decision says what happened about notifying: "sent", "suppressed: repeat", ...
	Decision string `json:"decision,omitempty"`
}

// Grouping is a rule's group_by, group_wait and group_interval, carried by
// each of its alerts into the durable outbox so that batching survives a
// restart. Alerts of one rule whose labels agree on By and that are
// enqueued within Wait of the first go out as one message; a later batch of
// the same group waits until Interval has passed since the last one was sent.
type Grouping struct {
	By       []string      `json:"by,omitempty"`
	Wait     time.Duration `json:"wait,omitempty"`
	Interval time.Duration `json:"interval,omitempty"`
}

// IsZero reports whether the alert is sent on its own.
func (g Grouping) IsZero() bool { return g.Wait <= 0 && g.Interval <= 0 }
