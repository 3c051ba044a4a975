// Package logfile is the log file source: it follows one file the way
// `tail -F` does and turns each line into an event, so a pipeline can count
// error lines per window (the log keyword scan).
//
// The file is polled, not watched: every interval the source reads what was
// appended, then checks whether the path still names the file it has open.
// When it names another file (rotation by rename and create), the old file
// is read to its end before the new one is opened from its start; when the
// file shrank below the read position (truncation, copytruncate), reading
// restarts from 0. Polling keeps the package free of platform-specific
// notification APIs and costs one stat per interval.
//
// The read position survives restarts. Each batch carries an Ack; once
// lookout is done with it (its windows closed and stored) and with every
// batch before it, the position after its last complete line (file identity
// and offset) is saved through source.Positions. At start the source resumes
// there when the path still names that file, it is at least that long and
// starts with the same bytes; a file truncated while lookout was down (or an
// inode reused by a new file) is read from its start, and one
// rotated away is read from where it stopped (when it is still next to the
// path under another name, app.log.1) before the new one from its start.
// Lines read but not yet acknowledged at a crash are read again: the
// windows they fell into were never emitted, so they count once.
//
// Each line becomes an event with `message`, `path` and one bool field per
// `match` name. With payload json a line that is a JSON object is decoded
// too. A line longer than max_line_bytes is stored in the rejected table
// (cut to the limit) instead of growing the buffer without bound.
package logfile
