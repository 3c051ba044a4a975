package promtext

import (
	"bytes"
	"math"
	"strings"
	"unicode/utf8"
)

// omSuffixes are the sample-name suffixes each OpenMetrics type allows after
// its family's name.
var omSuffixes = map[Type][]string{
	Counter:        {"_total", "_created"},
	Summary:        {"_count", "_sum", "_created"},
	Histogram:      {"_bucket", "_count", "_sum", "_created"},
	GaugeHistogram: {"_bucket", "_gcount", "_gsum"},
	Info:           {"_info"},
}

var omTypes = map[string]Type{
	"counter": Counter, "gauge": Gauge, "summary": Summary, "histogram": Histogram,
	"gaugehistogram": GaugeHistogram, "info": Info, "stateset": StateSet, "unknown": Untyped,
}

// parseOpenMetrics reads OpenMetrics 1.0: HELP, TYPE and UNIT lines, samples
// with timestamps in seconds, exemplars after a sample, and the `# EOF` that
// must end the body (a body cut short is an error, not a smaller scrape).
func (p *Parser) parseOpenMetrics(body []byte, fn func(*Sample)) error {
	for len(body) > 0 {
		p.line++
		n := bytes.IndexByte(body, '\n')
		var ln []byte
		if n < 0 {
			// Only `# EOF` may end without a newline.
			ln = append(append(make([]byte, 0, len(body)+1), body...), '\n')
			body = nil
		} else {
			ln, body = body[:n+1], body[n+1:]
		}
		if bytes.Equal(ln, []byte("# EOF\n")) {
			if len(bytes.TrimSpace(body)) > 0 {
				p.line++
				return p.errorf("content after # EOF")
			}
			return nil
		}
		if err := p.omLine(ln, fn); err != nil {
			return err
		}
	}
	return p.errorf("no # EOF at the end: the body is incomplete")
}

func (p *Parser) omLine(ln []byte, fn func(*Sample)) error {
	if ln[0] == '\n' {
		return nil // not allowed by OpenMetrics; harmless
	}
	if ln[0] == '#' {
		return p.omComment(ln)
	}
	s := &p.sample
	*s = Sample{Group: -1}
	p.labels = p.labels[:0]
	j := 0
	var name string
	if ln[0] != '{' {
		tok, k, err := p.metricName(ln, 0)
		if err != nil {
			return err
		}
		if tok == "" {
			return p.errorf("invalid metric name")
		}
		name, j = tok, k
	}
	if ln[j] == '{' {
		var k int
		var err error
		p.labels, name, k, err = p.omLabels(ln, j, p.labels, name, name == "")
		if err != nil {
			return err
		}
		j = k
	}
	if name == "" {
		return p.errorf("sample without a metric name")
	}
	s.Name, s.Labels = name, p.labels
	s.Family, s.Type = p.omFamily(name)
	v, ts, hasTS, k, err := p.omValue(ln, j)
	if err != nil {
		return err
	}
	s.Value, s.Timestamp, s.HasTimestamp = v, ts, hasTS
	j = k
	if ln[j] == ' ' && ln[j+1] == '#' {
		if ln[j+2] != ' ' || ln[j+3] != '{' {
			return p.errorf("expected an exemplar after ' # '")
		}
		e := &p.exemplar
		var err error
		p.exemplarLabels, _, j, err = p.omLabels(ln, j+3, p.exemplarLabels[:0], "", false)
		if err != nil {
			return err
		}
		e.Labels = p.exemplarLabels
		e.Value, e.Timestamp, e.HasTimestamp, j, err = p.omValue(ln, j)
		if err != nil {
			return err
		}
		s.Exemplar = e
	}
	if ln[j] != '\n' {
		return p.errorf("unexpected %q after the sample", ln[j:len(ln)-1])
	}
	fn(s)
	return nil
}

// omLabels reads `{a="b",...}` at ln[j]; when nameInside, a quoted name may
// stand among the labels. It returns the index after the '}'.
func (p *Parser) omLabels(ln []byte, j int, dst []Label, name string, nameInside bool) ([]Label, string, int, error) {
	j++
	for {
		if ln[j] == '}' {
			return dst, name, j + 1, nil
		}
		tok, k, err := p.labelName(ln, j)
		if err != nil {
			return nil, "", 0, err
		}
		if len(tok) == 0 {
			return nil, "", 0, p.errorf("invalid label name")
		}
		j = k
		if ln[j] != '=' {
			if !nameInside || name != "" || (ln[j] != ',' && ln[j] != '}') {
				return nil, "", 0, p.errorf("expected '=' after label name, found %q", ln[j])
			}
			name = str(tok)
		} else {
			if ln[j+1] != '"' {
				return nil, "", 0, p.errorf("expected '\"' at start of label value, found %q", ln[j+1])
			}
			val, k, ascii, err := p.labelValue(ln, j+2)
			if err != nil {
				return nil, "", 0, err
			}
			if !ascii && !utf8.ValidString(val) {
				return nil, "", 0, p.errorf("invalid label value %q", val)
			}
			for _, l := range dst {
				if l.Name == str(tok) {
					return nil, "", 0, p.errorf("duplicate label name %q", tok)
				}
			}
			dst = append(dst, Label{str(tok), val})
			j = k + 1
		}
		switch ln[j] {
		case ',':
			j++
		case '}':
		default:
			return nil, "", 0, p.errorf("unexpected %q in labels", ln[j])
		}
	}
}

// omValue reads ` value[ timestamp]` at ln[j]; timestamps are seconds.
func (p *Parser) omValue(ln []byte, j int) (float64, int64, bool, int, error) {
	if ln[j] != ' ' {
		return 0, 0, false, 0, p.errorf("expected a space before the value, found %q", ln[j])
	}
	j++
	k := j
	for ln[k] != ' ' && ln[k] != '\n' {
		k++
	}
	v, ok := parseFloat(str(ln[j:k]))
	if !ok {
		return 0, 0, false, 0, p.errorf("expected float as value, got %q", ln[j:k])
	}
	if ln[k] != ' ' || ln[k+1] == '#' {
		return v, 0, false, k, nil
	}
	j = k + 1
	k = j
	for ln[k] != ' ' && ln[k] != '\n' {
		k++
	}
	ts, ok := parseFloat(str(ln[j:k]))
	if !ok || math.IsNaN(ts) || math.IsInf(ts, 0) {
		return 0, 0, false, 0, p.errorf("expected a timestamp in seconds, got %q", ln[j:k])
	}
	return v, int64(math.Round(ts * 1000)), true, k, nil
}

// omFamily finds the family a sample name belongs to by its TYPE line and
// the suffixes its type allows.
func (p *Parser) omFamily(name string) (string, Type) {
	if f := p.fams[name]; f != nil {
		return f.name, f.typ
	}
	for t, sfx := range omSuffixes {
		for _, s := range sfx {
			if base, ok := strings.CutSuffix(name, s); ok {
				if f := p.fams[base]; f != nil && f.typ == t {
					return f.name, t
				}
			}
		}
	}
	return name, Untyped
}

func (p *Parser) omComment(ln []byte) error {
	rest := ln[:len(ln)-1]
	var kw string
	for _, k := range []string{"# HELP ", "# TYPE ", "# UNIT "} {
		if bytes.HasPrefix(rest, []byte(k)) {
			kw = k[2:6]
			rest = rest[len(k):]
		}
	}
	if kw == "" {
		return nil // OpenMetrics has no other comments; skip them
	}
	line := append(rest[:len(rest):len(rest)], '\n')
	tok, k, err := p.metricName(line, 0)
	if err != nil {
		return err
	}
	if tok == "" || (line[k] != ' ' && line[k] != '\n') {
		return p.errorf("invalid metric name in %s line", kw)
	}
	f := p.fams[tok]
	if f == nil {
		f = p.newFamily(tok)
	}
	arg := ""
	if line[k] == ' ' {
		arg = str(line[k+1 : len(line)-1])
	}
	switch kw {
	case "TYPE":
		t, ok := omTypes[arg]
		if !ok {
			return p.errorf("unknown metric type %q", arg)
		}
		if f.typSet {
			return p.errorf("second TYPE line for %q", f.name)
		}
		f.setType(t)
	case "HELP":
		if f.help {
			return p.errorf("second HELP line for %q", f.name)
		}
		f.help = true
	case "UNIT":
		if f.unit {
			return p.errorf("second UNIT line for %q", f.name)
		}
		f.unit = true
	}
	return nil
}
