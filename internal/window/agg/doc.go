// Package agg holds the aggregate functions a pipeline computes over the
// events of one window of one group: count, ratio, sum, avg, min, max, stddev,
// last, quantile, distinct, topk, zscore, the counter aggregates rate and
// increase (per series of a group, see Counter), and the baseline aggregates
// (zscore, ewma, mad_score, change, rel_change) that compare a window with
// the group's earlier windows — one file each.
//
// In the data flow it sits inside internal/window: the window engine extracts
// one input per aggregate from every event (a number, a condition as 1/0, or
// nothing for count()) and pushes it into that aggregate's Column at the
// slot of the event's (group, pane); when a window closes it merges the
// window's panes into a scratch slot and reads Value.
//
// A Column keeps the state of every slot as plain numbers in flat slices
// instead of one heap object per state, because a pipeline may hold a
// million open groups: one object per state would cost a pointer, an
// allocation header and GC scanning per aggregate per group. Slots are reused
// through Reset, so the per-event path never allocates.
package agg
