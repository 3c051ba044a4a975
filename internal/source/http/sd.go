package http

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	promconfig "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/discovery/file"
	promhttp "github.com/prometheus/prometheus/discovery/http"
	"github.com/prometheus/prometheus/discovery/targetgroup"
)

// startDiscovery starts the source's service discovery mechanisms; each
// sends what it finds to updates until ctx is done, counted in wg.
//
// The mechanisms are Prometheus's own Discoverers, run directly rather than
// under its discovery manager: the manager keys everything by scrape-config
// name and holds updates back for five seconds, where a source wants its
// few mechanisms' groups at once and merges them itself (runFleet).
func (s *Source) startDiscovery(ctx context.Context, wg *sync.WaitGroup, updates chan<- sdUpdate) error {
	// The mechanisms' own metrics go to a registry of the source's, not
	// lookout's /metrics: they would clash between sources.
	reg := prometheus.NewRegistry()
	refresh := discovery.NewRefreshMetrics(reg)
	logger := s.deps.Log.With("source", s.name)
	var ds []namedDiscoverer
	if len(s.tc.FileSD) > 0 {
		conf := &file.SDConfig{Files: s.tc.FileSD, RefreshInterval: model.Duration(s.tc.FileRefresh.D())}
		if conf.RefreshInterval <= 0 {
			conf.RefreshInterval = model.Duration(5 * time.Minute)
		}
		d, err := file.NewDiscovery(conf, logger, conf.NewDiscovererMetrics(reg, refresh))
		if err != nil {
			return fmt.Errorf("starting file_sd: %w", err)
		}
		ds = append(ds, namedDiscoverer{"file_sd", d})
	}
	if h := s.tc.HTTPSD; h != nil {
		conf := &promhttp.SDConfig{HTTPClientConfig: promconfig.DefaultHTTPClientConfig, URL: h.URL, RefreshInterval: model.Duration(h.Refresh.D())}
		if conf.RefreshInterval <= 0 {
			conf.RefreshInterval = model.Duration(DefaultHTTPRefresh)
		}
		d, err := promhttp.NewDiscovery(conf, discovery.DiscovererOptions{Logger: logger, Metrics: conf.NewDiscovererMetrics(reg, refresh)})
		if err != nil {
			return fmt.Errorf("starting http_sd: %w", err)
		}
		ds = append(ds, namedDiscoverer{"http_sd", d})
	}
	if c := s.tc.DNSSD; c != nil {
		d, err := newDNSDiscovery(*c, logger)
		if err != nil {
			return fmt.Errorf("starting dns_sd: %w", err)
		}
		ds = append(ds, namedDiscoverer{"dns_sd", d})
	}
	for _, nd := range ds {
		ch := make(chan []*targetgroup.Group)
		wg.Add(2)
		go func() {
			defer wg.Done()
			nd.d.Run(ctx, ch)
		}()
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case gs := <-ch:
					select {
					case updates <- sdUpdate{provider: nd.name, groups: gs}:
					case <-ctx.Done():
						return
					}
				}
			}
		}()
	}
	return nil
}

type namedDiscoverer struct {
	name string
	d    discovery.Discoverer
}

// dnsDiscovery finds targets in SRV, A or AAAA records.
//
// It is lookout's own rather than Prometheus's discovery/dns, which always
// asks the servers of /etc/resolv.conf: a source may name its DNS server
// (dns_sd.server), for a service registry's DNS interface such as Consul's
// on port 8600. The labels are Prometheus's: __meta_dns_name,
// __meta_dns_srv_record_target and __meta_dns_srv_record_port.
type dnsDiscovery struct {
	names   []string
	qtype   uint16
	port    int
	refresh time.Duration
	servers []string
	log     *slog.Logger
	client  *dns.Client
}

func newDNSDiscovery(c DNSSD, log *slog.Logger) (*dnsDiscovery, error) {
	d := &dnsDiscovery{names: c.Names, port: c.Port, refresh: c.Refresh.D(), log: log, client: &dns.Client{Timeout: 5 * time.Second}}
	if d.refresh <= 0 {
		d.refresh = DefaultSDRefresh
	}
	switch strings.ToUpper(c.Type) {
	case "", "SRV":
		d.qtype = dns.TypeSRV
	case "A":
		d.qtype = dns.TypeA
	case "AAAA":
		d.qtype = dns.TypeAAAA
	default:
		return nil, fmt.Errorf("%q is not SRV, A or AAAA", c.Type)
	}
	if c.Server != "" {
		d.servers = []string{c.Server}
	} else {
		rc, err := dns.ClientConfigFromFile("/etc/resolv.conf")
		if err != nil {
			return nil, fmt.Errorf("reading /etc/resolv.conf: %w", err)
		}
		for _, s := range rc.Servers {
			d.servers = append(d.servers, net.JoinHostPort(s, rc.Port))
		}
	}
	return d, nil
}

// Run looks the names up at once and then every refresh. A name whose
// lookup fails keeps the targets it had.
func (d *dnsDiscovery) Run(ctx context.Context, ch chan<- []*targetgroup.Group) {
	t := time.NewTicker(d.refresh)
	defer t.Stop()
	for {
		var gs []*targetgroup.Group
		for _, name := range d.names {
			g, err := d.lookup(ctx, name)
			if err != nil {
				d.log.Warn("dns_sd lookup failed", "name", name, "err", err)
				continue
			}
			gs = append(gs, g)
		}
		if len(gs) > 0 {
			select {
			case ch <- gs:
			case <-ctx.Done():
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (d *dnsDiscovery) lookup(ctx context.Context, name string) (*targetgroup.Group, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), d.qtype)
	var errs []error
	for _, srv := range d.servers {
		r, _, err := d.client.ExchangeContext(ctx, m, srv)
		if err != nil {
			errs = append(errs, fmt.Errorf("asking %s: %w", srv, err))
			continue
		}
		if r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError {
			errs = append(errs, fmt.Errorf("asking %s: %s", srv, dns.RcodeToString[r.Rcode]))
			continue
		}
		g := &targetgroup.Group{Source: name}
		for _, rr := range r.Answer {
			ls := model.LabelSet{"__meta_dns_name": model.LabelValue(name)}
			switch a := rr.(type) {
			case *dns.SRV:
				host := strings.TrimSuffix(a.Target, ".")
				ls[model.AddressLabel] = model.LabelValue(net.JoinHostPort(host, strconv.Itoa(int(a.Port))))
				ls["__meta_dns_srv_record_target"] = model.LabelValue(a.Target)
				ls["__meta_dns_srv_record_port"] = model.LabelValue(strconv.Itoa(int(a.Port)))
			case *dns.A:
				ls[model.AddressLabel] = model.LabelValue(net.JoinHostPort(a.A.String(), strconv.Itoa(d.port)))
			case *dns.AAAA:
				ls[model.AddressLabel] = model.LabelValue(net.JoinHostPort(a.AAAA.String(), strconv.Itoa(d.port)))
			default:
				continue
			}
			g.Targets = append(g.Targets, ls)
		}
		return g, nil
	}
	return nil, fmt.Errorf("looking up %s: %w", name, errors.Join(errs...))
}
