package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/duckdb/duckdb-go/v2/mapping"
)

// parser counts the statements in a query text with DuckDB's own parser.
// It matters because the driver, asked to prepare a text with several
// statements, executes all but the last on the spot; counting first is the
// only way to refuse "SELECT 1; DROP TABLE events" before anything runs. The
// database behind it is an empty in-memory one that is only ever used to
// parse, never to prepare or execute.
type parser struct {
	mu   sync.Mutex // a DuckDB connection is not safe for concurrent use
	db   mapping.Database
	conn mapping.Connection

	// The allow-list of the database queries run on, read from its catalog
	// on first use (see policy).
	polOnce sync.Once
	pol     *policy
	polErr  error
}

// policy returns the allow-list of the database conn belongs to, reading it
// the first time.
func (p *parser) policy(ctx context.Context, conn *sql.Conn) (*policy, error) {
	// The first caller's deadline must not spoil the list for the others.
	p.polOnce.Do(func() { p.pol, p.polErr = loadPolicy(context.WithoutCancel(ctx), conn) })
	return p.pol, p.polErr
}

func newParser() (*parser, error) {
	// Parsing is not inert: IMPORT DATABASE, for one, reads files while its
	// statements are extracted. So the parser's database gets the same
	// lock-down as the real one.
	var cfg mapping.Config
	if mapping.CreateConfig(&cfg) == mapping.StateError {
		return nil, errors.New("creating parser database config")
	}
	defer mapping.DestroyConfig(&cfg)
	for _, kv := range [][2]string{
		{"autoinstall_known_extensions", "false"},
		{"autoload_known_extensions", "false"},
		{"enable_external_access", "false"},
		{"lock_configuration", "true"},
	} {
		if mapping.SetConfig(cfg, kv[0], kv[1]) == mapping.StateError {
			return nil, fmt.Errorf("setting %s on the parser database", kv[0])
		}
	}
	p := &parser{}
	var msg string
	if mapping.OpenExt("", &p.db, cfg, &msg) == mapping.StateError {
		return nil, fmt.Errorf("opening parser database: %s", msg)
	}
	if mapping.Connect(p.db, &p.conn) == mapping.StateError {
		mapping.Close(&p.db)
		return nil, errors.New("connecting to parser database")
	}
	return p, nil
}

// count returns the number of statements in q, or DuckDB's parser error.
func (p *parser) count(q string) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var st mapping.ExtractedStatements
	n := mapping.ExtractStatements(p.conn, q, &st)
	defer mapping.DestroyExtracted(&st)
	if n == 0 {
		if msg := mapping.ExtractStatementsError(st); msg != "" {
			return 0, errors.New(msg)
		}
	}
	return int(n), nil
}

func (p *parser) close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	mapping.Disconnect(&p.conn)
	mapping.Close(&p.db)
	return nil
}

// token is one lexical token of a query, as far as screen needs to know.
type token struct {
	kind byte   // 'w' word, 'q' quoted identifier, 's' string literal, 'p' punctuation, 'n' number or parameter
	text string // lower-cased for words; the contents for strings and quoted identifiers
	pos  int    // byte offset in the query
}

// lex splits a query into tokens, skipping whitespace and comments. It knows
// the quoting rules DuckDB's (PostgreSQL-derived) parser uses, so that a word
// inside a string or a comment is not taken for a function name and one
// hidden by quoting is not missed.
func lex(q string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(q) {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			i++
		case c == '-' && strings.HasPrefix(q[i:], "--"):
			if j := strings.IndexByte(q[i:], '\n'); j >= 0 {
				i += j + 1
			} else {
				i = len(q)
			}
		case c == '/' && strings.HasPrefix(q[i:], "/*"):
			depth, j := 0, i
			for j < len(q) {
				if strings.HasPrefix(q[j:], "/*") {
					depth++
					j += 2
				} else if strings.HasPrefix(q[j:], "*/") {
					depth--
					j += 2
					if depth == 0 {
						break
					}
				} else {
					j++
				}
			}
			if depth != 0 {
				return nil, errors.New("unterminated comment")
			}
			i = j
		case c == '\'':
			s, n, err := quoted(q[i:], '\'', false)
			if err != nil {
				return nil, err
			}
			toks = append(toks, token{'s', s, i})
			i += n
		case c == '"':
			s, n, err := quoted(q[i:], '"', false)
			if err != nil {
				return nil, err
			}
			toks = append(toks, token{'q', strings.ToLower(s), i})
			i += n
		case c == '$':
			j := i + 1
			for j < len(q) && isWordByte(q[j]) {
				j++
			}
			if j < len(q) && q[j] == '$' && (j == i+1 || !isDigit(q[i+1])) {
				tag := q[i : j+1]
				end := strings.Index(q[j+1:], tag)
				if end < 0 {
					return nil, errors.New("unterminated dollar-quoted string")
				}
				toks = append(toks, token{'s', q[j+1 : j+1+end], i})
				i = j + 1 + end + len(tag)
			} else {
				toks = append(toks, token{'n', q[i:j], i})
				i = j
			}
		case isWordByte(c) && !isDigit(c):
			j := i
			for j < len(q) && isWordByte(q[j]) {
				j++
			}
			word := strings.ToLower(q[i:j])
			// E'...' is a string with backslash escapes.
			if (word == "e") && j < len(q) && q[j] == '\'' {
				s, n, err := quoted(q[j:], '\'', true)
				if err != nil {
					return nil, err
				}
				toks = append(toks, token{'s', s, i})
				i = j + n
				continue
			}
			toks = append(toks, token{'w', word, i})
			i = j
		case isDigit(c):
			j := i
			for j < len(q) && (isWordByte(q[j]) || q[j] == '.') {
				j++
			}
			toks = append(toks, token{'n', q[i:j], i})
			i = j
		default:
			toks = append(toks, token{'p', string(c), i})
			i++
		}
	}
	return toks, nil
}

// quoted reads a literal that starts with the quote character q[0], where a
// doubled quote stands for itself. It returns the contents and the length
// consumed.
func quoted(q string, quote byte, backslash bool) (string, int, error) {
	var b strings.Builder
	for i := 1; i < len(q); i++ {
		switch {
		case backslash && q[i] == '\\' && i+1 < len(q):
			b.WriteByte(q[i+1])
			i++
		case q[i] == quote:
			if i+1 < len(q) && q[i+1] == quote {
				b.WriteByte(quote)
				i++
				continue
			}
			return b.String(), i + 1, nil
		default:
			b.WriteByte(q[i])
		}
	}
	return "", 0, fmt.Errorf("unterminated %c-quoted text", quote)
}

func isWordByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
