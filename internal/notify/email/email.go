package email

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	netmail "net/mail"
	"net/textproto"
	"os"
	"strconv"
	"time"

	"github.com/wneessen/go-mail"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/notify"
	"github.com/lookout-dev/lookout/internal/notify/template"
)

// Kind is the config type of this channel.
const Kind = "email"

// DefaultTimeout bounds one delivery (connect, TLS, auth, send) when the
// config sets no timeout.
const DefaultTimeout = 10 * time.Second

// The values of the tls config key.
const (
	// TLSOpportunistic (the key left empty) uses STARTTLS when the server
	// offers it and sends in clear otherwise.
	TLSOpportunistic = ""
	// TLSStartTLS requires STARTTLS; a server without it is an error.
	TLSStartTLS = "starttls"
	// TLSImplicit speaks TLS from the first byte (SMTPS, port 465).
	TLSImplicit = "tls"
	// TLSNone never encrypts.
	TLSNone = "none"
)

func init() {
	notify.Register(notify.Kind{Name: Kind, NewConfig: func() config.KindConfig { return &Config{} }, New: New})
}

// Config is the settings of an email notifier, besides name, type, timeout
// and max_age.
type Config struct {
	// SMTP is the server as host:port.
	SMTP string `yaml:"smtp"`
	// From is the sender's address; To the recipients.
	From string   `yaml:"from"`
	To   []string `yaml:"to"`
	// Username and Password authenticate to the SMTP server.
	Username string        `yaml:"username"`
	Password config.Secret `yaml:"password"`
	// TLS is the connection security: starttls, tls or none; empty means
	// STARTTLS when the server offers it. TLSCAFile adds a PEM CA to trust
	// for the server's certificate (a private or self-signed CA).
	TLS             string `yaml:"tls"`
	TLSCAFile       string `yaml:"tls_ca_file"`
	template.Config `yaml:",inline"`
}

// Defaults does nothing: the empty tls is the opportunistic default.
func (c *Config) Defaults() {}

// Validate checks the server, the addresses, the tls keys and the template keys.
func (c *Config) Validate(v *config.Validator) {
	if c.SMTP == "" {
		v.Missing("smtp", "smtp is required for type email: the server as host:port")
	} else if _, _, err := net.SplitHostPort(c.SMTP); err != nil {
		v.Errorf("smtp", "%q is not a host:port address", c.SMTP)
	}
	if c.From == "" {
		v.Missing("from", "from is required for type email")
	}
	if len(c.To) == 0 {
		v.Missing("to", "to is required for type email: at least one address")
	}
	v.NonEmpty("to", c.To)
	switch c.TLS {
	case TLSOpportunistic, TLSStartTLS, TLSImplicit, TLSNone:
	default:
		v.Errorf("tls", "%q is not a tls mode (starttls, tls or none)", c.TLS)
	}
	if c.TLSCAFile != "" {
		c.TLSCAFile = v.File("tls_ca_file", c.TLSCAFile)
	}
	c.Config.Validate(v)
}

// Notifier mails messages through one SMTP server. It is safe for
// concurrent use: every Send opens its own connection.
type Notifier struct {
	host     string
	port     int
	from     string
	to       []string
	username string
	password string
	tlsMode  string
	tlsConf  *tls.Config
	timeout  time.Duration
	render   *template.Renderer
}

// New builds an email notifier from its Config and cfg.Timeout. It does not connect. It is the notify.Factory registered
// for Kind.
func New(cfg config.Notifier, deps notify.Deps) (notify.Notifier, error) {
	c := notify.SettingsOf[Config](cfg)
	host, portStr, err := net.SplitHostPort(c.SMTP)
	if err != nil || host == "" {
		return nil, fmt.Errorf("smtp %q is not a host:port address", c.SMTP)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port <= 0 || port > 65535 {
		return nil, fmt.Errorf("smtp %q has a bad port", c.SMTP)
	}
	if _, err := netmail.ParseAddress(c.From); err != nil {
		return nil, fmt.Errorf("from %q is not a mail address: %w", c.From, err)
	}
	if len(c.To) == 0 {
		return nil, errors.New("to names no recipient")
	}
	for _, to := range c.To {
		if _, err := netmail.ParseAddress(to); err != nil {
			return nil, fmt.Errorf("to %q is not a mail address: %w", to, err)
		}
	}
	switch c.TLS {
	case TLSOpportunistic, TLSStartTLS, TLSImplicit, TLSNone:
	default:
		return nil, fmt.Errorf("tls %q is not starttls, tls or none", c.TLS)
	}
	tlsConf := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if c.TLSCAFile != "" {
		pem, err := os.ReadFile(c.TLSCAFile)
		if err != nil {
			return nil, fmt.Errorf("reading tls_ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls_ca_file %s holds no PEM certificate", c.TLSCAFile)
		}
		tlsConf.RootCAs = pool
	}
	r, err := template.ForNotifier(c.Config, deps)
	if err != nil {
		return nil, err
	}
	n := &Notifier{
		host: host, port: port, from: c.From, to: append([]string(nil), c.To...),
		username: c.Username, password: c.Password.Reveal(),
		tlsMode: c.TLS, tlsConf: tlsConf, timeout: cfg.Timeout.D(), render: r,
	}
	if n.timeout <= 0 {
		n.timeout = DefaultTimeout
	}
	return n, nil
}

// BuildMessage renders m into a mail: subject = title, a text/plain part and
// a text/html alternative.
func (n *Notifier) BuildMessage(m notify.Message) (*mail.Msg, error) {
	title, err := n.render.Title(m)
	if err != nil {
		return nil, err
	}
	text, err := n.render.Body(m, template.Text)
	if err != nil {
		return nil, err
	}
	html, err := n.render.Body(m, template.HTML)
	if err != nil {
		return nil, err
	}
	msg := mail.NewMsg()
	if err := msg.From(n.from); err != nil {
		return nil, fmt.Errorf("setting from: %w", err)
	}
	if err := msg.To(n.to...); err != nil {
		return nil, fmt.Errorf("setting to: %w", err)
	}
	msg.Subject(title)
	msg.SetDate()
	msg.SetMessageID()
	msg.SetGenHeader("X-Lookout-Receiver", m.Receiver)
	msg.SetBodyString(mail.TypeTextPlain, text)
	msg.AddAlternativeString(mail.TypeTextHTML, html)
	return msg, nil
}

// client builds a go-mail client for one delivery.
func (n *Notifier) client() (*mail.Client, error) {
	opts := []mail.Option{
		mail.WithPort(n.port),
		mail.WithTimeout(n.timeout),
		// go-mail keeps a pointer; each client gets its own copy.
		mail.WithTLSConfig(n.tlsConf.Clone()),
	}
	switch n.tlsMode {
	case TLSOpportunistic:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSOpportunistic))
	case TLSStartTLS:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	case TLSImplicit:
		opts = append(opts, mail.WithSSL())
	case TLSNone:
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	}
	if n.username != "" {
		// PLAIN, else LOGIN, else what go-mail finds best. go-mail refuses
		// to send PLAIN or LOGIN in clear to a server that is not on
		// loopback, so a password never crosses the network unencrypted.
		opts = append(opts, mail.WithOpportunisticSMTPAuth(mail.SMTPAuthPlain, mail.SMTPAuthLogin),
			mail.WithUsername(n.username), mail.WithPassword(n.password))
	}
	return mail.NewClient(n.host, opts...)
}

// Send renders the message and delivers it over one SMTP session. SMTP 4xx
// replies, network errors and timeouts are retried; 5xx replies (a refused
// recipient, failed authentication, a message rejected as spam) wrap
// notify.ErrPermanent.
func (n *Notifier) Send(ctx context.Context, m notify.Message) error {
	msg, err := n.BuildMessage(m)
	if err != nil {
		return fmt.Errorf("building email: %w: %w", notify.ErrPermanent, err)
	}
	c, err := n.client()
	if err != nil {
		return fmt.Errorf("configuring smtp client: %w: %w", notify.ErrPermanent, err)
	}
	ctx, cancel := context.WithTimeout(ctx, n.timeout)
	defer cancel()
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return classify(fmt.Errorf("sending email via %s: %w", net.JoinHostPort(n.host, strconv.Itoa(n.port)), err))
	}
	return nil
}

// classify marks an SMTP failure permanent when the server answered 5xx.
func classify(err error) error {
	if code := replyCode(err); code >= 500 && code < 600 {
		return fmt.Errorf("%w: %w", notify.ErrPermanent, err)
	}
	return err
}

// replyCode finds the SMTP reply code in err's chain, 0 when the failure was
// not a server reply (a network error, a timeout).
func replyCode(err error) int {
	var se *mail.SendError
	if errors.As(err, &se) {
		if c := se.ErrorCode(); c != 0 {
			return c
		}
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}

var _ notify.Notifier = (*Notifier)(nil)
