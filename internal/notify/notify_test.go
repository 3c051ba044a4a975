package notify_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/notify"
	"github.com/lookout-dev/lookout/internal/notify/webhook"
)

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		cfg     config.Notifier
		wantErr string
	}{
		{name: "log", cfg: config.Notifier{Name: "stdout", Type: "log"}},
		{name: "webhook", cfg: config.Notifier{Name: "ops", Type: "webhook", Settings: &webhook.Config{URL: "http://127.0.0.1:5001/hook"}}},
		{name: "unknown kind lists the known", cfg: config.Notifier{Name: "x", Type: "pager"},
			wantErr: `notifier x: unknown type "pager" (known: log, webhook)`},
		{name: "factory error is wrapped", cfg: config.Notifier{Name: "ops", Type: "webhook", Settings: &webhook.Config{URL: "::"}},
			wantErr: "building notifier ops: url must be an absolute http or https URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := notify.New(tt.cfg, notify.Deps{})
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || n == nil {
				t.Fatalf("New = %v, %v", n, err)
			}
		})
	}
}

func TestKindsAndRegister(t *testing.T) {
	if got := notify.Kinds(); !slices.Contains(got, "log") || !slices.Contains(got, "webhook") || !slices.IsSorted(got) {
		t.Errorf("Kinds() = %q", got)
	}
	f := func(config.Notifier, notify.Deps) (notify.Notifier, error) { return nil, nil }
	for _, kind := range []string{"webhook", ""} {
		t.Run("panics on "+kind, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("Register did not panic")
				}
			}()
			notify.Register(notify.Kind{Name: kind, New: f})
		})
	}
}

func TestRetryAfterError(t *testing.T) {
	base := errors.New("503 Service Unavailable")
	err := fmt.Errorf("posting: %w", notify.RetryAfter{After: 30 * time.Second, Err: base})
	var ra notify.RetryAfter
	if !errors.As(err, &ra) || ra.After != 30*time.Second || !errors.Is(err, base) {
		t.Errorf("RetryAfter does not unwrap: %v", err)
	}
	if !strings.Contains(err.Error(), "retry after 30s") {
		t.Errorf("Error() = %q", err.Error())
	}
}
