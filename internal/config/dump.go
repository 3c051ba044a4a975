package config

import (
	"fmt"
	"regexp"

	"go.yaml.in/yaml/v3"
)

// Dump returns the effective configuration (defaults filled in) as YAML, with
// every Secret shown as <redacted>. Keys that do not apply to a source's,
// notifier's or rule's kind and keys with no value are left out, so the
// output reads like a config a user would write and parses back.
func (c *Config) Dump() ([]byte, error) {
	var n yaml.Node
	if err := n.Encode(c); err != nil {
		return nil, fmt.Errorf("encoding config: %w", err)
	}
	prune(&n, "")
	out, err := yaml.Marshal(&n)
	if err != nil {
		return nil, fmt.Errorf("marshalling config: %w", err)
	}
	return out, nil
}

var itemPath = regexp.MustCompile(`^(sources|notifiers|rules)\[\d+\]$`)

// prune removes empty values and, in sources, notifiers and rules, the keys
// that do not apply to the item's kind.
func prune(n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			prune(c, path)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			prune(c, fmt.Sprintf("%s[%d]", path, i))
		}
	case yaml.MappingNode:
		applies := func(string) bool { return true }
		if m := itemPath.FindStringSubmatch(path); m != nil {
			typ := mappingValue(n, "type")
			switch m[1] {
			case "sources":
				applies = func(k string) bool { return sourceKeyApplies(typ, k) }
			case "notifiers":
				applies = func(k string) bool { return notifierKeyApplies(typ, k) }
			case "rules":
				isSQL := mappingValue(n, "sql") != ""
				applies = func(k string) bool { return ruleKeyApplies(isSQL, k) }
			}
		}
		kept := n.Content[:0]
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			prune(v, keyPath(path, k.Value))
			if !applies(k.Value) || empty(v) {
				continue
			}
			kept = append(kept, k, v)
		}
		n.Content = kept
	}
}

func mappingValue(n *yaml.Node, key string) string {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1].Value
		}
	}
	return ""
}

// empty reports whether a node holds nothing worth printing.
func empty(n *yaml.Node) bool {
	switch n.Kind {
	case yaml.MappingNode, yaml.SequenceNode:
		return len(n.Content) == 0
	case yaml.ScalarNode:
		return n.ShortTag() == "!!null" || (n.ShortTag() == "!!str" && n.Value == "")
	}
	return false
}
