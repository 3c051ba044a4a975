package rule

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"slices"
	"strings"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
)

// Fingerprint returns the identity of an alert instance: a stable hex hash
// (16 digits) of the rule name and the group labels sorted by key. It does not
// depend on the rule's own labels or severity, so editing those keeps the
// alert's state.
func Fingerprint(rule string, labels map[string]string) string {
	keys := slices.Sorted(maps.Keys(labels))
	h := sha256.New()
	// 0xff never occurs in UTF-8, so it separates the parts unambiguously.
	sep := []byte{0xff}
	h.Write([]byte(rule))
	for _, k := range keys {
		h.Write(sep)
		h.Write([]byte(k))
		h.Write(sep)
		h.Write([]byte(labels[k]))
	}
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:8])
}

// alertLabels builds an alert's labels: the group, then the rule's labels,
// then alertname and severity, each overriding the ones before.
func alertLabels(r config.Rule, group map[string]string) map[string]string {
	l := make(map[string]string, len(group)+len(r.Labels)+2)
	maps.Copy(l, group)
	maps.Copy(l, r.Labels)
	l["alertname"] = r.Name
	if r.Severity != "" {
		l["severity"] = r.Severity
	}
	return l
}

// firstValue is the value of the first aggregate named in `when`, the number
// the alert is about; 0 when `when` names none.
func firstValue(c *compiled, w *event.Window) float64 {
	for _, n := range c.names {
		if v, ok := w.Value(n); ok {
			return v
		}
	}
	return 0
}

// firstExemplar returns the window's exemplar of the first aggregate the
// rule names that has one, the trace behind the value it compared; zero
// when the window has none.
func firstExemplar(c *compiled, w *event.Window) event.Exemplar {
	for _, n := range c.names {
		for _, x := range w.Exemplars {
			if x.Aggregate == n {
				return x
			}
		}
	}
	return event.Exemplar{}
}

// render executes the summary template over the labels and the values by name
// (values win on a clash). A failing template leaves the raw text and the
// error, so the alert still goes out.
func render(c *compiled, labels map[string]string, w *event.Window) string {
	if c.cfg.Summary == "" {
		return ""
	}
	data := make(map[string]any, len(labels)+len(w.Names))
	for k, v := range labels {
		data[k] = v
	}
	for i, n := range w.Names {
		if i < len(w.Values) {
			data[n] = w.Values[i]
		}
	}
	var b strings.Builder
	if err := c.summary.Execute(&b, data); err != nil {
		return c.cfg.Summary + " (summary template error: " + err.Error() + ")"
	}
	return b.String()
}
