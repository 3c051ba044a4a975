package app

import (
	"testing"

	"github.com/lookout-dev/lookout/internal/config"
)

func TestWithSelf(t *testing.T) {
	for _, tc := range []struct {
		name                     string
		yaml                     string
		sources, pipelines, rule int
	}{
		{"on by default", `
sources: [{name: push, type: push}]
notifiers: [{name: stdout, type: log}]`, 2, 1, 8},
		{"off", `
sources: [{name: push, type: push}]
self: {enabled: false}`, 1, 0, 0},
		{"a rule of the same name replaces the built-in one", `
sources: [{name: push, type: push}]
pipelines: [{name: p, from: [push], window: {count: 1}, aggregates: {n: count()}}]
rules: [{name: LookoutOverflow, pipeline: p, when: n > 1}]`, 2, 2, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.Parse("lookout.yaml", []byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			before := len(cfg.Rules)
			got := withSelf(cfg)
			if len(got.Sources) != tc.sources || len(got.Pipelines) != tc.pipelines || len(got.Rules) != tc.rule {
				t.Errorf("got %d sources, %d pipelines, %d rules; want %d, %d, %d",
					len(got.Sources), len(got.Pipelines), len(got.Rules), tc.sources, tc.pipelines, tc.rule)
			}
			if len(cfg.Rules) != before {
				t.Errorf("withSelf changed the user's config")
			}
			if err := Check(got); err != nil {
				t.Errorf("the config with self-monitoring does not check: %v", err)
			}
		})
	}
}
