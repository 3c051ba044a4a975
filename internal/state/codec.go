package state

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/lookout-dev/lookout/internal/event"
)

// EncodeAlert is how every backend writes an alert instance: JSON, with a
// value that is null for NaN and ±Inf (JSON has neither, and a firing
// alert's value can be NaN).
func EncodeAlert(a event.Alert) ([]byte, error) {
	r := record{Alert: a}
	if !math.IsNaN(a.Value) && !math.IsInf(a.Value, 0) {
		r.Value = &a.Value
	}
	v, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encoding alert %s: %w", a.Fingerprint, err)
	}
	return v, nil
}

// DecodeAlert reads what EncodeAlert wrote under the key fingerprint, which
// is trusted over the copy in the value.
func DecodeAlert(fingerprint string, b []byte) (event.Alert, error) {
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return event.Alert{}, fmt.Errorf("decoding alert %s: %w", fingerprint, err)
	}
	a := r.Alert
	a.Value = math.NaN()
	if r.Value != nil {
		a.Value = *r.Value
	}
	a.Fingerprint = fingerprint
	return a, nil
}
