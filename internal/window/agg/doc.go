// Package agg holds the aggregate functions a pipeline computes over the
// events of one window of one group: count, ratio, sum, avg, min, max, stddev,
// last, quantile, distinct and zscore, one file each.
//
// In the data flow it sits inside internal/window: the window engine extracts
// one input per aggregate from every event (a number, a condition as 1/0, or
// nothing for count()) and pushes it into that aggregate's State; when the
// window closes it reads Value. States are reused across windows through
// Reset, so that the per-event path never allocates.
package agg
