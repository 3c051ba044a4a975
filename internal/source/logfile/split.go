package logfile

import "bytes"

// splitter cuts a byte stream, fed in arbitrary chunks, into lines. It keeps
// an unfinished last line until its newline arrives, and never holds more
// than max bytes of one line: a longer line is handed on once, cut to max and
// marked oversize, and the rest of it is skipped up to its newline. That
// bound is what keeps a runaway writer (a binary file, a log without
// newlines) from exhausting memory.
type splitter struct {
	max      int
	buf      []byte // the unfinished line so far
	skipping bool   // inside an oversize line that was already handed on
}

// feed splits data and calls emit for each complete line, without its line
// ending (\n or \r\n). Lines holding only white space are skipped. line is
// only valid during the call.
func (s *splitter) feed(data []byte, emit func(line []byte, oversize bool)) {
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		chunk := data
		if i >= 0 {
			chunk, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		if s.skipping {
			if i >= 0 {
				s.skipping = false
			}
			continue
		}
		if s.content(chunk) > s.max {
			var cut []byte
			if len(s.buf) >= s.max {
				cut = s.buf[:s.max]
			} else {
				s.buf = append(s.buf, chunk[:s.max-len(s.buf)]...)
				cut = s.buf
			}
			emit(cut, true)
			s.buf = s.buf[:0]
			s.skipping = i < 0
			continue
		}
		if i < 0 {
			s.buf = append(s.buf, chunk...)
			continue
		}
		line := chunk
		if len(s.buf) > 0 {
			s.buf = append(s.buf, chunk...)
			line = s.buf
		}
		s.emitLine(line, emit)
		s.buf = s.buf[:0]
	}
}

// content is the length of the unfinished line with chunk appended, not
// counting a final \r: it may be the first half of a \r\n line ending, and a
// line of exactly max bytes ended by \r\n is not oversize.
func (s *splitter) content(chunk []byte) int {
	n := len(s.buf) + len(chunk)
	switch {
	case len(chunk) > 0 && chunk[len(chunk)-1] == '\r':
		n--
	case len(chunk) == 0 && len(s.buf) > 0 && s.buf[len(s.buf)-1] == '\r':
		n--
	}
	return n
}

// flush hands on the unfinished line, for when no more will be written to
// the file: it was rotated away.
func (s *splitter) flush(emit func(line []byte, oversize bool)) {
	if !s.skipping && len(s.buf) > 0 {
		s.emitLine(s.buf, emit)
	}
	s.reset()
}

// reset forgets the unfinished line, for when the file was truncated.
func (s *splitter) reset() {
	s.buf = s.buf[:0]
	s.skipping = false
}

func (s *splitter) emitLine(line []byte, emit func([]byte, bool)) {
	line = bytes.TrimSuffix(line, []byte{'\r'})
	if len(bytes.TrimSpace(line)) == 0 {
		return
	}
	emit(line, false)
}
