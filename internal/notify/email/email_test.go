package email_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	netmail "net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/notify"
	"github.com/lookout-dev/lookout/internal/notify/email"
	"github.com/lookout-dev/lookout/internal/notify/notifytest"
	"github.com/lookout-dev/lookout/internal/notify/template"
)

// delivery is one mail the server accepted.
type delivery struct {
	from     string
	rcpts    []string
	data     []byte
	tls      bool
	authUser string
}

// server is a real SMTP server (emersion/go-smtp) on a free loopback port.
type server struct {
	addr       string
	mu         sync.Mutex
	deliveries []delivery
	// Behaviour, set before use.
	requireAuth bool
	user, pass  string
	rcptErr     *smtp.SMTPError
	dataErr     *smtp.SMTPError
}

type serverOpts struct {
	startTLS    *tls.Config // offer STARTTLS with this config
	implicitTLS *tls.Config // speak TLS from the first byte
	requireAuth bool
	rcptErr     *smtp.SMTPError
	dataErr     *smtp.SMTPError
}

func startServer(t *testing.T, o serverOpts) *server {
	t.Helper()
	s := &server{requireAuth: o.requireAuth, user: "lookout", pass: "s3cret", rcptErr: o.rcptErr, dataErr: o.dataErr}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{srv: s, conn: c}, nil
	}))
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.ErrorLog = testLogger{t}
	srv.TLSConfig = o.startTLS
	// Loopback only, so the test may authenticate without TLS as well.
	srv.AllowInsecureAuth = true
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if o.implicitTLS != nil {
		l = tls.NewListener(l, o.implicitTLS)
	}
	s.addr = l.Addr().String()
	done := make(chan struct{})
	go func() { srv.Serve(l); close(done) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return s
}

type testLogger struct{ t *testing.T }

func (l testLogger) Printf(format string, v ...any) { l.t.Logf("smtp server: "+format, v...) }
func (l testLogger) Println(v ...any)               { l.t.Log(append([]any{"smtp server:"}, v...)...) }

func (s *server) got() []delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]delivery(nil), s.deliveries...)
}

type session struct {
	srv  *server
	conn *smtp.Conn
	d    delivery
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		if user != s.srv.user || pass != s.srv.pass {
			return smtp.ErrAuthFailed
		}
		s.d.authUser = user
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.srv.requireAuth && s.d.authUser == "" {
		return smtp.ErrAuthRequired
	}
	s.d.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.srv.rcptErr != nil {
		return s.srv.rcptErr
	}
	s.d.rcpts = append(s.d.rcpts, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if s.srv.dataErr != nil {
		return s.srv.dataErr
	}
	_, s.d.tls = s.conn.TLSConnectionState()
	s.d.data = data
	s.srv.mu.Lock()
	s.srv.deliveries = append(s.srv.deliveries, s.d)
	s.srv.mu.Unlock()
	s.d = delivery{authUser: s.d.authUser}
	return nil
}

func (s *session) Reset()        { s.d = delivery{authUser: s.d.authUser} }
func (s *session) Logout() error { return nil }

// selfSigned makes a CA-signed-by-itself certificate for 127.0.0.1 and writes
// the certificate to a PEM file for tls_ca_file.
func selfSigned(t *testing.T) (*tls.Config, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "lookout test smtp"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, path
}

func newNotifier(t *testing.T, c email.Config) notify.Notifier {
	t.Helper()
	if c.From == "" {
		c.From = "lookout@example.com"
	}
	if c.To == nil {
		c.To = []string{"oncall@example.com", "boss@example.com"}
	}
	cfg := config.Notifier{Name: "mail", Type: email.Kind, Timeout: config.Duration(10 * time.Second), Settings: &c}
	n, err := notify.New(cfg, notify.Deps{ExternalURL: notifytest.ExternalURL})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// parsed is a received mail as a reader sees it.
type parsed struct {
	subject, from, to, text, html string
}

func parse(t *testing.T, data []byte) parsed {
	t.Helper()
	m, err := netmail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("reading mail: %v\n%s", err, data)
	}
	var dec mime.WordDecoder
	subject, err := dec.DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	p := parsed{subject: subject, from: m.Header.Get("From"), to: m.Header.Get("To")}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q (%v), want multipart/alternative", m.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(part) // quoted-printable is decoded by NextPart
		if err != nil {
			t.Fatal(err)
		}
		if strings.EqualFold(part.Header.Get("Content-Transfer-Encoding"), "base64") {
			if body, err = base64.StdEncoding.DecodeString(strings.ReplaceAll(string(body), "\r\n", "")); err != nil {
				t.Fatal(err)
			}
		}
		ct, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		switch ct {
		case "text/plain":
			p.text = strings.ReplaceAll(string(body), "\r\n", "\n")
		case "text/html":
			p.html = strings.ReplaceAll(string(body), "\r\n", "\n")
		default:
			t.Errorf("unexpected part %q", ct)
		}
	}
	return p
}

func TestDeliversMultipartMail(t *testing.T) {
	tlsConf, caFile := selfSigned(t)
	tests := []struct {
		name     string
		opts     serverOpts
		cfg      email.Config
		wantTLS  bool
		wantUser string
	}{
		{name: "plain, tls none", cfg: email.Config{TLS: "none"}},
		{name: "opportunistic, server without STARTTLS", cfg: email.Config{}},
		{name: "opportunistic, server offers STARTTLS", opts: serverOpts{startTLS: tlsConf}, cfg: email.Config{TLSCAFile: caFile}, wantTLS: true},
		{name: "starttls required, with PLAIN auth", opts: serverOpts{startTLS: tlsConf, requireAuth: true},
			cfg: email.Config{TLS: "starttls", TLSCAFile: caFile, Username: "lookout", Password: "s3cret"}, wantTLS: true, wantUser: "lookout"},
		{name: "implicit tls", opts: serverOpts{implicitTLS: tlsConf}, cfg: email.Config{TLS: "tls", TLSCAFile: caFile}, wantTLS: true},
		{name: "PLAIN auth in clear on loopback", opts: serverOpts{requireAuth: true},
			cfg: email.Config{TLS: "none", Username: "lookout", Password: "s3cret"}, wantUser: "lookout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServer(t, tt.opts)
			tt.cfg.SMTP = srv.addr
			if err := newNotifier(t, tt.cfg).Send(context.Background(), notifytest.Messages()[1].Msg); err != nil {
				t.Fatalf("Send: %v", err)
			}
			got := srv.got()
			if len(got) != 1 {
				t.Fatalf("server accepted %d mails, want 1", len(got))
			}
			d := got[0]
			if d.tls != tt.wantTLS || d.authUser != tt.wantUser {
				t.Errorf("session tls=%v user=%q, want tls=%v user=%q", d.tls, d.authUser, tt.wantTLS, tt.wantUser)
			}
			if d.from != "lookout@example.com" || strings.Join(d.rcpts, ",") != "oncall@example.com,boss@example.com" {
				t.Errorf("envelope from %q to %q", d.from, d.rcpts)
			}
			m := parse(t, d.data)
			if m.subject != "[RESOLVED] HighErrorRate critical service=checkout" {
				t.Errorf("subject = %q", m.subject)
			}
			if m.from != "<lookout@example.com>" || m.to != "<oncall@example.com>, <boss@example.com>" {
				t.Errorf("From %q To %q", m.from, m.to)
			}
			for _, want := range []string{"- Summary: checkout error rate 0.125", "- Resolved at: 2025-03-01 12:01:30 UTC",
				"Alert on the dashboard: http://lookout.example:9470/#/alerts?fingerprint=5f1d3a2b9c0e4d71"} {
				if !strings.Contains(m.text, want) {
					t.Errorf("text part lacks %q:\n%s", want, m.text)
				}
			}
			for _, want := range []string{"<th align=\"left\">service</th><td>checkout</td>", "<a href=\"http://lookout.example:9470/#/alerts?fingerprint=5f1d3a2b9c0e4d71\">Alert on the dashboard</a>"} {
				if !strings.Contains(m.html, want) {
					t.Errorf("HTML part lacks %q:\n%s", want, m.html)
				}
			}
		})
	}
}

func TestChineseAndUserTemplates(t *testing.T) {
	srv := startServer(t, serverOpts{})
	n := newNotifier(t, email.Config{SMTP: srv.addr, TLS: "none", Config: template.Config{Lang: "zh-CN"}})
	if err := n.Send(context.Background(), notifytest.Messages()[0].Msg); err != nil {
		t.Fatal(err)
	}
	u := newNotifier(t, email.Config{SMTP: srv.addr, TLS: "none", Config: template.Config{Title: "{{ .Rule }}: {{ len .Alerts }} <alert>",
		Template: "{{ range .Alerts }}{{ .Labels.service }} is at {{ value .Value }} & rising{{ end }}"}})
	if err := u.Send(context.Background(), notifytest.Messages()[0].Msg); err != nil {
		t.Fatal(err)
	}
	got := srv.got()
	if len(got) != 2 {
		t.Fatalf("server accepted %d mails, want 2", len(got))
	}
	zh := parse(t, got[0].data)
	if zh.subject != "[告警] HighErrorRate 严重 service=checkout" || !strings.Contains(zh.text, "- 摘要：checkout error rate 0.125") || !strings.Contains(zh.html, "<th align=\"left\">级别</th><td>严重</td>") {
		t.Errorf("zh-CN mail: subject %q\ntext:\n%s\nhtml:\n%s", zh.subject, zh.text, zh.html)
	}
	user := parse(t, got[1].data)
	if user.subject != "HighErrorRate: 1 <alert>" || user.text != "checkout is at 0.125 & rising\n" || user.html != "<pre>checkout is at 0.125 &amp; rising\n</pre>\n" {
		t.Errorf("user-template mail: subject %q text %q html %q", user.subject, user.text, user.html)
	}
}

func TestSendClassifiesFailures(t *testing.T) {
	tests := []struct {
		name          string
		opts          serverOpts
		cfg           email.Config
		wantPermanent bool
	}{
		{name: "450 mailbox busy", opts: serverOpts{rcptErr: &smtp.SMTPError{Code: 450, EnhancedCode: smtp.EnhancedCode{4, 2, 0}, Message: "mailbox busy"}}},
		{name: "550 no such user", opts: serverOpts{rcptErr: &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}}, wantPermanent: true},
		{name: "452 at data", opts: serverOpts{dataErr: &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 3, 1}, Message: "insufficient storage"}}},
		{name: "554 rejected as spam", opts: serverOpts{dataErr: &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "spam"}}, wantPermanent: true},
		{name: "535 wrong password", opts: serverOpts{requireAuth: true}, cfg: email.Config{Username: "lookout", Password: "wrong"}, wantPermanent: true},
		{name: "502 auth required first", opts: serverOpts{requireAuth: true}, wantPermanent: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServer(t, tt.opts)
			tt.cfg.SMTP, tt.cfg.TLS = srv.addr, "none"
			err := newNotifier(t, tt.cfg).Send(context.Background(), notifytest.Messages()[0].Msg)
			if err == nil {
				t.Fatal("Send succeeded, want an error")
			}
			t.Logf("Send: %v", err)
			if got := errors.Is(err, notify.ErrPermanent); got != tt.wantPermanent {
				t.Errorf("permanent = %v, want %v (err %v)", got, tt.wantPermanent, err)
			}
			if strings.Contains(err.Error(), "wrong") {
				t.Errorf("error leaks the password: %v", err)
			}
			if len(srv.got()) != 0 {
				t.Error("server accepted the mail")
			}
		})
	}
}

func TestUnreachableServerIsRetryable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there any more
	err = newNotifier(t, email.Config{SMTP: addr, TLS: "none"}).Send(context.Background(), notifytest.Messages()[0].Msg)
	if err == nil || errors.Is(err, notify.ErrPermanent) {
		t.Fatalf("err = %v, want a retryable error", err)
	}
}

func TestUntrustedCertificateFails(t *testing.T) {
	tlsConf, _ := selfSigned(t)
	srv := startServer(t, serverOpts{startTLS: tlsConf})
	err := newNotifier(t, email.Config{SMTP: srv.addr, TLS: "starttls"}).Send(context.Background(), notifytest.Messages()[0].Msg)
	if err == nil || len(srv.got()) != 0 {
		t.Fatalf("err = %v with %d mails delivered, want the unknown CA refused", err, len(srv.got()))
	}
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name string
		cfg  email.Config
	}{
		{"bad smtp", email.Config{SMTP: "localhost", From: "a@example.com", To: []string{"b@example.com"}}},
		{"bad from", email.Config{SMTP: "127.0.0.1:25", From: "not an address", To: []string{"b@example.com"}}},
		{"no to", email.Config{SMTP: "127.0.0.1:25", From: "a@example.com"}},
		{"bad tls", email.Config{SMTP: "127.0.0.1:25", From: "a@example.com", To: []string{"b@example.com"}, TLS: "ssl"}},
		{"ca file not pem", email.Config{SMTP: "127.0.0.1:25", From: "a@example.com", To: []string{"b@example.com"}, TLSCAFile: "email.go"}},
		{"bad template", email.Config{SMTP: "127.0.0.1:25", From: "a@example.com", To: []string{"b@example.com"}, Config: template.Config{Template: "{{ .Alerts"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Notifier{Name: "mail", Type: email.Kind, Settings: &tt.cfg}
			if _, err := notify.New(cfg, notify.Deps{}); err == nil {
				t.Fatal("New accepted the config")
			}
		})
	}
}
