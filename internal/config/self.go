package config

import "fmt"

// SelfName is the name of the source and the pipeline that self-monitoring
// adds to the configuration; a config may not use it while self is enabled.
const SelfName = "lookout_self"

// validateSelf checks the self block.
func (p *parser) validateSelf(notifiers map[string]bool) {
	s := p.c.Self
	if s.Interval <= 0 {
		p.at("self.interval", "must be more than 0")
	}
	for j, n := range s.Notify {
		if !notifiers[n] {
			p.at(fmt.Sprintf("self.notify[%d]", j), "there is no notifier named %q", n)
		}
	}
	if s.Deadman.URL != "" {
		p.httpURL("self.deadman.url", s.Deadman.URL.Reveal())
	}
	if s.Deadman.Interval <= 0 {
		p.at("self.deadman.interval", "must be more than 0")
	}
	if !s.IsEnabled() {
		return
	}
	for i, src := range p.c.Sources {
		if src.Name == SelfName {
			p.at(fmt.Sprintf("sources[%d].name", i), "%q is reserved for self-monitoring (rename it, or set self.enabled: false)", SelfName)
		}
	}
	for i, pl := range p.c.Pipelines {
		if pl.Name == SelfName {
			p.at(fmt.Sprintf("pipelines[%d].name", i), "%q is reserved for self-monitoring (rename it, or set self.enabled: false)", SelfName)
		}
	}
}
