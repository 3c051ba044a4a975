// Charts on top of the vendored uPlot (window.uPlot, loaded by index.html):
// themed time-series charts that resize with their container, sparklines,
// and point picking for drill-down.

// Colours distinguishable on both the light and the dark background.
export const palette = ["#2f7de1", "#e4572e", "#17a673", "#c9a227", "#9b5de5", "#f15bb5", "#00a6b4", "#8d6e63", "#ef8a17", "#6c8ebf"];
export function color(i) { return palette[i % palette.length]; }

function cssVar(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888"; }

/** yRange pads the data's extent by 10%, keeping non-negative data non-negative. */
export function yRange(u, min, max) {
  if (min === null || max === null) return [0, 1];
  const pad = min === max ? Math.abs(min) * 0.1 || 1 : (max - min) * 0.1;
  const lo = min >= 0 && min - pad < 0 ? 0 : min - pad;
  return [lo, max + pad];
}

/**
 * timeChart draws a time-series chart into el. xs are Unix seconds; series is
 * [{label, color, show}], ys one array per series (null = gap). onPick(series,
 * idx) is called with the series nearest the cursor when a point is clicked.
 * The uPlot instance is kept on el.__uplot so the chart can be updated in place.
 */
export function timeChart(el, { xs, series, ys, height = 220, onPick, sparkline = false, yLabel }) {
  destroy(el);
  const fg = cssVar("--muted");
  const grid = cssVar("--line");
  const width = Math.max(120, el.clientWidth || el.parentElement?.clientWidth || 300);
  const opts = {
    width, height,
    legend: { show: false },
    // uPlot spreads a flat line of zeros over 0..100; a tight range around
    // the data reads better, and never dips below zero for data that doesn't.
    scales: { x: { time: true }, y: { range: yRange } },
    cursor: sparkline ? { show: false } : { focus: { prox: 24 }, drag: { x: false, y: false } },
    focus: { alpha: 0.35 },
    series: [{}, ...series.map((s) => ({
      label: s.label, stroke: s.color, width: sparkline ? 1.5 : 2, show: s.show !== false,
      spanGaps: sparkline, points: { show: sparkline ? false : (u, si) => u.data[0].length < 120 },
    }))],
    axes: sparkline
      ? [{ show: false }, { show: false }]
      : [
        { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } },
        { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid }, size: 56, label: yLabel },
      ],
  };
  if (sparkline) opts.padding = [4, 2, 4, 2];
  const u = new window.uPlot(opts, [xs, ...ys], el);
  el.__uplot = u;
  el.dataset.points = String(xs.length);
  if (onPick && !sparkline) {
    u.over.addEventListener("click", () => {
      const idx = u.cursor.idx;
      if (idx === null || idx === undefined) return;
      let best = -1;
      let bestDist = Infinity;
      for (let i = 1; i < u.series.length; i++) {
        const v = u.data[i][idx];
        if (!u.series[i].show || v === null || v === undefined) continue;
        const d = Math.abs(u.valToPos(v, "y") - u.cursor.top);
        if (d < bestDist) { bestDist = d; best = i; }
      }
      if (best > 0) onPick(best - 1, idx);
    });
  }
  const ro = new ResizeObserver(() => {
    const w = el.clientWidth;
    if (w > 0 && Math.abs(w - u.width) > 1) u.setSize({ width: w, height });
  });
  ro.observe(el);
  el.__ro = ro;
  return u;
}

/** update replaces a chart's data in place. */
export function update(el, xs, ys) {
  const u = el.__uplot;
  if (!u) return;
  u.setData([xs, ...ys]);
  el.dataset.points = String(xs.length);
}

/** destroy removes the chart in el, if any. */
export function destroy(el) {
  if (el.__ro) el.__ro.disconnect();
  if (el.__uplot) el.__uplot.destroy();
  el.__uplot = null;
  el.__ro = null;
}

/** align merges per-series points {x → y} into uPlot's shared x array. */
export function align(maps) {
  const xset = new Set();
  for (const m of maps) for (const x of m.keys()) xset.add(x);
  const xs = [...xset].sort((a, b) => a - b);
  return { xs, ys: maps.map((m) => xs.map((x) => (m.has(x) ? m.get(x) : null))) };
}
