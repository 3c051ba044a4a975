// Package web holds lookout's dashboard: static HTML, CSS and plain ES modules
// under static/, embedded in the binary with go:embed and served at / by the
// API server. There is no build step and no CDN: the one third-party library,
// uPlot, is vendored in static/vendor with its licence.
//
// The dashboard is a client of the public HTTP API only (/api/v1/...,
// /metrics, and the /api/v1/stream live feed), so everything it shows can
// also be had with curl. Its browser tests live in test/browser.
package web
