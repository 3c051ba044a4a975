package event

import "time"

// Window is the result of one closed window of one group of a pipeline.
//
// Group holds the group_by values in the order of the pipeline's group_by list
// (GroupKeys names them). Values holds one number per aggregate in the order of
// the pipeline's aggregates (Names names them); NaN means "could not be
// computed", e.g. avg over no events, and is written as JSON null.
type Window struct {
	Pipeline  string
	Start     time.Time
	End       time.Time
	GroupKeys []string
	Group     []string
	Names     []string
	Values    []float64
	Count     int64 // events that fell into the window
	Late      int64 // events that arrived after the window was closed
	// Future counts the group's events, since its last window, stamped
	// more than the pipeline's max_future ahead of the wall clock: they
	// are flagged event.FlagFuture and folded into no window.
	Future int64
	// Top holds, for each topk aggregate by name, its heaviest items,
	// heaviest first; nil when the pipeline has no topk.
	Top map[string][]TopItem
	// Update is set on a re-emission of an already emitted window, corrected
	// by late events (pipeline key late: update).
	Update bool
	// Exemplars link aggregates to the traces behind them: for a max, the
	// traced event with the largest value; for a quantile, the traced event
	// nearest the estimate. At most one per aggregate; nil when no event of
	// the window carried a trace id.
	Exemplars []Exemplar
}

// Exemplar is one traced event that represents an aggregate's value, so a
// user can jump from a window result to the request that produced it.
type Exemplar struct {
	Aggregate string    `json:"aggregate"`
	Value     float64   `json:"value"`
	TraceID   string    `json:"trace_id"` // 32 lowercase hex digits
	Time      time.Time `json:"ts"`
}

// TopItem is one heavy hitter of a topk aggregate: a value of its argument
// and how many events had it (an upper estimate once there were more
// distinct values than the sketch tracks).
type TopItem struct {
	Item  string  `json:"item"`
	Count float64 `json:"count"`
}

// GroupMap returns the group as a map from group_by key to value.
func (w *Window) GroupMap() map[string]string {
	m := make(map[string]string, len(w.GroupKeys))
	for i, k := range w.GroupKeys {
		if i < len(w.Group) {
			m[k] = w.Group[i]
		}
	}
	return m
}

// Value returns the value of the named aggregate and whether it exists.
func (w *Window) Value(name string) (float64, bool) {
	for i, n := range w.Names {
		if n == name {
			return w.Values[i], true
		}
	}
	return 0, false
}
