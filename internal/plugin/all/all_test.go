package all_test

import (
	"context"
	"strings"
	"testing"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/notify"
	_ "github.com/lookout-dev/lookout/internal/plugin/all"
)

// pagerConfig is the settings of a channel kind config has never heard of.
type pagerConfig struct {
	RoutingKey config.Secret `yaml:"routing_key"`
	Severity   string        `yaml:"severity"`
}

func (c *pagerConfig) Defaults() { c.Severity = "error" }

func (c *pagerConfig) Validate(v *config.Validator) {
	v.Required("routing_key", c.RoutingKey == "")
}

type pager struct{ cfg *pagerConfig }

func (pager) Send(context.Context, notify.Message) error { return nil }

// A channel kind registered from its own package gets its keys decoded,
// defaulted and checked by config.Parse, with lines, without any change to
// internal/config.
func TestRegisteredKindOwnsItsKeys(t *testing.T) {
	notify.Register(notify.Kind{
		Name:      "pager-test",
		NewConfig: func() config.KindConfig { return &pagerConfig{} },
		New: func(cfg config.Notifier, _ notify.Deps) (notify.Notifier, error) {
			return pager{notify.SettingsOf[pagerConfig](cfg)}, nil
		},
	})
	c, err := config.Parse("c.yaml", []byte(`sources: [{name: push, type: push}]
notifiers:
  - {name: p, type: pager-test, routing_key: k1, timeout: 2s}
`))
	if err != nil {
		t.Fatal(err)
	}
	n, err := notify.New(c.Notifiers[0], notify.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	got := n.(pager).cfg
	if got.RoutingKey.Reveal() != "k1" || got.Severity != "error" || c.Notifiers[0].Timeout.D().String() != "2s" {
		t.Errorf("settings %+v, timeout %v", *got, c.Notifiers[0].Timeout)
	}

	_, err = config.Parse("c.yaml", []byte(`sources: [{name: push, type: push}]
notifiers:
  - name: p
    type: pager-test
    routing: k1
`))
	for _, want := range []string{
		`c.yaml:3: notifiers[0]: routing_key is required for type pager-test`,
		`c.yaml:5: notifiers[0]: unknown key "routing"`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("no %q in: %v", want, err)
		}
	}
}
