package preprocess

import (
	"bytes"
	"fmt"
)

// IsArray reports whether data's first non-space byte is '[', which is how
// bodies that may be NDJSON or a JSON array tell the two apart.
func IsArray(data []byte) bool {
	t := bytes.TrimLeft(data, " \t\r\n")
	return len(t) > 0 && t[0] == '['
}

// SplitArray cuts a JSON array into the raw bytes of its elements, which
// alias data. It only follows brackets and strings to find where each element
// ends; the elements themselves are checked by Decode, so one malformed
// element is reported on its own instead of failing the whole body. An error
// means the array's own structure is broken (unbalanced, unterminated, text
// after the closing bracket).
func SplitArray(data []byte) ([][]byte, error) {
	i := skipWS(data, 0)
	if i >= len(data) || data[i] != '[' {
		return nil, fmt.Errorf("invalid JSON at offset %d: not an array", i)
	}
	i = skipWS(data, i+1)
	var out [][]byte
	if i < len(data) && data[i] == ']' {
		return out, trailing(data, i+1)
	}
	for {
		i = skipWS(data, i)
		start := i
		end, err := skipElement(data, i)
		if err != nil {
			return nil, err
		}
		if end == start {
			return nil, fmt.Errorf("invalid JSON at offset %d: missing array element", start)
		}
		out = append(out, data[start:end])
		i = skipWS(data, end)
		if i >= len(data) {
			return nil, fmt.Errorf("invalid JSON at offset %d: unexpected end of input", i)
		}
		switch data[i] {
		case ',':
			i++
		case ']':
			return out, trailing(data, i+1)
		default:
			return nil, fmt.Errorf("invalid JSON at offset %d: unexpected character %q", i, data[i])
		}
	}
}

func trailing(data []byte, i int) error {
	if j := skipWS(data, i); j < len(data) {
		return fmt.Errorf("invalid JSON at offset %d: unexpected character %q after the array", j, data[j])
	}
	return nil
}

func skipWS(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// skipElement returns the end of the element starting at i: the matching
// bracket of an object or array, the closing quote of a string, or the end of
// a scalar.
func skipElement(data []byte, i int) (int, error) {
	depth := 0
	for i < len(data) {
		switch c := data[i]; c {
		case '"':
			j, err := skipString(data, i)
			if err != nil {
				return 0, err
			}
			i = j
			if depth == 0 {
				return i, nil
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return i, nil // the closing bracket of the enclosing array
			}
			depth--
			if depth == 0 {
				return i + 1, nil
			}
		case ',', ' ', '\t', '\r', '\n':
			if depth == 0 {
				return i, nil
			}
		}
		i++
	}
	if depth > 0 {
		return 0, fmt.Errorf("invalid JSON at offset %d: unexpected end of input", i)
	}
	return i, nil
}

func skipString(data []byte, i int) (int, error) {
	for i++; i < len(data); i++ {
		switch data[i] {
		case '\\':
			i++
		case '"':
			return i + 1, nil
		}
	}
	return 0, fmt.Errorf("invalid JSON at offset %d: unterminated string", len(data))
}

// Lines calls fn for each line of an NDJSON body with its 1-based line
// number, without the line ending (\n or \r\n). Lines holding only white
// space are skipped. The line aliases data.
func Lines(data []byte, fn func(line int, msg []byte)) {
	n := 0
	for len(data) > 0 {
		n++
		var line []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			line, data = data, nil
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		fn(n, line)
	}
}
