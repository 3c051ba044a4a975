package kafka

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/source/sourcetest"
	"github.com/lookout-dev/lookout/internal/testserver"
)

// saslCluster starts a cluster that requires SASL, with one user per
// mechanism lookout supports.
func saslCluster(t *testing.T) *kfake.Cluster {
	t.Helper()
	return testserver.Kafka(t, "orders", 2,
		kfake.EnableSASL(),
		kfake.Superuser("PLAIN", "admin", "admin-pw"),
		kfake.Superuser("PLAIN", "plain-user", "plain-pw"),
		kfake.Superuser("SCRAM-SHA-256", "scram256-user", "scram256-pw"),
		kfake.Superuser("SCRAM-SHA-512", "scram512-user", "scram512-pw"),
	)
}

// TestSASL: the source logs in with each mechanism, consumes and commits.
func TestSASL(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: in-process Kafka cluster")
	}
	c := saslCluster(t)
	admin := []kgo.Opt{kgo.SASL(plain.Auth{User: "admin", Pass: "admin-pw"}.AsMechanism())}
	var values [][]byte
	for i := range 20 {
		values = append(values, eventJSON(i))
	}
	produceWith(t, c, admin, "orders", values...)

	tests := []struct {
		mechanism, user, pass string
	}{
		{"PLAIN", "plain-user", "plain-pw"},
		{"SCRAM-SHA-256", "scram256-user", "scram256-pw"},
		{"SCRAM-SHA-512", "scram512-user", "scram512-pw"},
	}
	for _, tt := range tests {
		t.Run(tt.mechanism, func(t *testing.T) {
			group := "lookout-" + strings.ToLower(tt.mechanism)
			s := newSource(t, c, func(cfg *config.Source, k *Config) {
				k.Group = group
				k.SASL = SASL{Mechanism: tt.mechanism, Username: tt.user, Password: config.Secret(tt.pass)}
			})
			sink := sourcetest.NewAckSink()
			sourcetest.Run(t, s, sink)
			sourcetest.WaitFor(t, 20*time.Second, "20 events", func() bool { n, _ := sink.Counts(); return n == 20 })
			sourcetest.WaitFor(t, 10*time.Second, "commits at the end offsets", func() bool { ok, _ := committedAtEnd(c, group, "orders"); return ok })
			if h := s.Health().Snapshot(); !h.Up || h.Events != 20 || h.LastError != "" {
				t.Errorf("health %+v", h)
			}
		})
	}
}

// TestSASLWrongPassword: a refused login shows in Health, again and again,
// and Run keeps retrying instead of ending; nothing is consumed or
// committed.
func TestSASLWrongPassword(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: in-process Kafka cluster")
	}
	c := saslCluster(t)
	tests := []struct {
		mechanism, user string
	}{
		{"PLAIN", "plain-user"},
		{"SCRAM-SHA-256", "scram256-user"},
		{"SCRAM-SHA-512", "scram512-user"},
	}
	for _, tt := range tests {
		t.Run(tt.mechanism, func(t *testing.T) {
			group := "wrong-" + strings.ToLower(tt.mechanism)
			s := newSource(t, c, func(cfg *config.Source, k *Config) {
				k.Group = group
				k.SASL = SASL{Mechanism: tt.mechanism, Username: tt.user, Password: "wrong"}
			})
			sink := sourcetest.NewAckSink()
			stop := sourcetest.Run(t, s, sink)
			var first time.Time
			sourcetest.WaitFor(t, 20*time.Second, "the failure in Health", func() bool {
				first = s.Health().Snapshot().LastErrorAt
				return !first.IsZero()
			})
			// kfake closes the connection on a refused login (Kafka answers
			// SASL_AUTHENTICATION_FAILED first), so the error names the
			// login rather than the reason.
			h := s.Health().Snapshot()
			if want := "connecting to kafka as " + tt.user + " (SASL " + tt.mechanism + "): "; h.Up || !strings.HasPrefix(h.LastError, want) {
				t.Errorf("health after a refused login: up %v, last error %q", h.Up, h.LastError)
			}
			// A second failure, later: the source retried after its backoff
			// and Run is still going.
			sourcetest.WaitFor(t, 20*time.Second, "a retry", func() bool { return s.Health().Snapshot().LastErrorAt.After(first) })
			if n, r := sink.Counts(); n != 0 || r != 0 {
				t.Errorf("consumed %d events, %d rejected without logging in", n, r)
			}
			if gi := c.GroupInfo(group); gi != nil && len(gi.Commits) > 0 {
				t.Errorf("group %s has commits %+v", group, gi.Commits)
			}
			stop() // fails the test if Run returned an error or hangs
		})
	}
}

// testCA is a self-signed CA and a server certificate it signed for
// 127.0.0.1.
type testCA struct {
	caFile string
	server tls.Certificate
}

func newTestCA(t *testing.T, hosts ...string) testCA {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "lookout test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kafka"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			leafTmpl.IPAddresses = append(leafTmpl.IPAddresses, ip)
		} else {
			leafTmpl.DNSNames = append(leafTmpl.DNSNames, h)
		}
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return testCA{caFile: caFile, server: tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: key}}
}

// TestTLS: against a cluster that speaks only TLS, the source consumes and
// commits when ca_file is the CA that signed the broker's certificate, and
// reports the failure (and keeps retrying) when it is not.
func TestTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: in-process Kafka cluster")
	}
	ca := newTestCA(t, "127.0.0.1")
	other := newTestCA(t, "127.0.0.1")
	c := testserver.Kafka(t, "orders", 2,
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{ca.server}, MinVersion: tls.VersionTLS12}))
	var values [][]byte
	for i := range 20 {
		values = append(values, eventJSON(i))
	}
	producerTLS, err := tlsConfig(TLS{CAFile: ca.caFile})
	if err != nil {
		t.Fatal(err)
	}
	produceWith(t, c, []kgo.Opt{kgo.DialTLSConfig(producerTLS)}, "orders", values...)

	t.Run("ca_file", func(t *testing.T) {
		s := newSource(t, c, func(cfg *config.Source, k *Config) {
			k.Group = "tls-ok"
			k.TLS = TLS{Enabled: true, CAFile: ca.caFile}
		})
		sink := sourcetest.NewAckSink()
		sourcetest.Run(t, s, sink)
		sourcetest.WaitFor(t, 20*time.Second, "20 events", func() bool { n, _ := sink.Counts(); return n == 20 })
		sourcetest.WaitFor(t, 10*time.Second, "commits at the end offsets", func() bool { ok, _ := committedAtEnd(c, "tls-ok", "orders"); return ok })
		if h := s.Health().Snapshot(); !h.Up || h.LastError != "" {
			t.Errorf("health %+v", h)
		}
	})
	t.Run("another CA", func(t *testing.T) {
		s := newSource(t, c, func(cfg *config.Source, k *Config) {
			k.Group = "tls-bad"
			k.TLS = TLS{Enabled: true, CAFile: other.caFile}
		})
		sink := sourcetest.NewAckSink()
		sourcetest.Run(t, s, sink)
		var first time.Time
		sourcetest.WaitFor(t, 20*time.Second, "the failure in Health", func() bool {
			first = s.Health().Snapshot().LastErrorAt
			return !first.IsZero()
		})
		if h := s.Health().Snapshot(); h.Up || !strings.Contains(h.LastError, "certificate signed by unknown authority") {
			t.Errorf("health %+v", h)
		}
		sourcetest.WaitFor(t, 20*time.Second, "a retry", func() bool { return s.Health().Snapshot().LastErrorAt.After(first) })
		if n, _ := sink.Counts(); n != 0 {
			t.Errorf("consumed %d events over an unverified connection", n)
		}
	})
}
