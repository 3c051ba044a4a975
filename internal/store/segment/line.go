package segment

import (
	"bytes"
	"encoding/binary"
	"strconv"
	"unicode/utf8"
	"unsafe"

	"github.com/lookout-dev/lookout/internal/event"
)

// appendEventLine appends e's segment line to dst.
func appendEventLine(dst []byte, ts int64, e *event.Event, kvs []fieldKV) ([]byte, []fieldKV) {
	dst = append(dst, `{"ts":`...)
	dst = strconv.AppendInt(dst, ts, 10)
	dst = append(dst, `,"source":`...)
	dst = appendJSONString(dst, e.Source)
	if e.Flags != 0 {
		dst = append(dst, `,"flags":`...)
		dst = appendJSONString(dst, e.Flags.String())
	}
	if e.Fields != nil {
		dst = append(dst, `,"fields":`...)
		dst, kvs = appendFields(dst, e.Fields, kvs)
	}
	if plainRaw(e.Raw) {
		dst = append(dst, '}', RawMark)
		dst = append(dst, e.Raw...)
		return append(dst, '\n'), kvs
	}
	dst = append(dst, `,"raw":`...)
	// The string shares Raw's bytes only while it is being escaped.
	dst = appendJSONString(dst, unsafe.String(unsafe.SliceData(e.Raw), len(e.Raw)))
	return append(dst, "}\n"...), kvs
}

// plainRaw reports whether raw can follow the mark as it is: UTF-8 (the
// view reads it as VARCHAR) without bytes below 0x20 (a newline would end
// the line; the mark and the delimiter are among them). Eight bytes at a
// time while they are ASCII.
func plainRaw(raw []byte) bool {
	const lo, hi = 0x2020202020202020, 0x8080808080808080
	i := 0
	for ; i+8 <= len(raw); i += 8 {
		w := binary.LittleEndian.Uint64(raw[i:])
		if (w-lo)&^w&hi != 0 {
			return false // a byte below 0x20
		}
		if w&hi != 0 {
			break // not ASCII: check the rest byte by byte
		}
	}
	for _, c := range raw[i:] {
		if c < 0x20 {
			return false
		}
	}
	return utf8.Valid(raw[i:])
}

// lineTime reads the ts a segment line starts with.
func lineTime(line []byte) (int64, bool) {
	rest, ok := bytes.CutPrefix(line, []byte(`{"ts":`))
	if !ok {
		return 0, false
	}
	end := bytes.IndexByte(rest, ',')
	if end < 0 {
		return 0, false
	}
	ts, err := strconv.ParseInt(string(rest[:end]), 10, 64)
	return ts, err == nil
}
