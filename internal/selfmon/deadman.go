package selfmon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	neturl "net/url"
	"time"
)

// Deadman is a dead-man's switch: while lookout is healthy it requests a URL
// every interval, so a service that expects the requests (healthchecks.io,
// Dead Man's Snitch, Uptime Kuma push monitors, a second lookout) raises the
// alarm when they stop — when lookout is dead, hung, or stalled, which no
// alert from lookout itself can report.
type Deadman struct {
	// Settings returns the current URL and interval (they change with a
	// reload); an empty URL means off for now.
	Settings func() (url string, every time.Duration)
	// Healthy says whether lookout is well enough to ping, and if not why.
	// It may block for a short while (it probes the ingest loop).
	Healthy func(ctx context.Context) (bool, string)
	HTTP    *http.Client
	Log     *slog.Logger
}

// pingTimeout bounds one ping, so a hanging monitoring service cannot stop
// the switch.
const pingTimeout = 10 * time.Second

// Run pings until ctx is done. The first ping goes out after one interval.
func (d *Deadman) Run(ctx context.Context) {
	for {
		_, every := d.Settings()
		if every <= 0 {
			every = time.Minute
		}
		t := time.NewTimer(every)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		url, _ := d.Settings()
		if url == "" {
			continue
		}
		if ok, why := d.Healthy(ctx); !ok {
			d.Log.Warn("dead-man's switch not pinged: lookout is unhealthy", "reason", why)
			continue
		}
		if err := d.Ping(ctx, url); err != nil {
			d.Log.Warn("pinging the dead-man's switch", "err", err)
		}
	}
}

// Ping requests url once with GET and wants a 2xx answer.
func (d *Deadman) Ping(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("building the ping request: %w", err)
	}
	req.Header.Set("User-Agent", "lookout-deadman")
	resp, err := d.HTTP.Do(req)
	if err != nil {
		// The URL is a secret (it names the check): keep it out of the log.
		var ue *neturl.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("pinging: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("pinging: status %d", resp.StatusCode)
	}
	return nil
}
