//go:build !linux

package offheap

import "errors"

const reservation = 0

// reserve is refused outside Linux: Slices stay on the Go heap there.
func reserve(uintptr) ([]byte, error) { return nil, errors.New("offheap: not on this system") }

func commit([]byte, uintptr, uintptr) error { return nil }

func release([]byte) {}
