package promtext

import (
	"fmt"
	"strings"
)

// exporterBody makes a node-exporter-like text-format body of about size
// bytes: counters and gauges with a few labels, a histogram and a summary,
// HELP and TYPE lines, repeated with numbered names until it is that big.
func exporterBody(size int) []byte {
	var b strings.Builder
	modes := []string{"idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user"}
	for round := 0; b.Len() < size; round++ {
		fmt.Fprintf(&b, "# HELP go_gc_duration_seconds_%d A summary of the pause duration of garbage collection cycles.\n", round)
		fmt.Fprintf(&b, "# TYPE go_gc_duration_seconds_%d summary\n", round)
		for _, q := range []string{"0", "0.25", "0.5", "0.75", "1"} {
			fmt.Fprintf(&b, "go_gc_duration_seconds_%d{quantile=%q} %g\n", round, q, 1.2345e-05*float64(len(q)))
		}
		fmt.Fprintf(&b, "go_gc_duration_seconds_%d_sum 0.012877541\ngo_gc_duration_seconds_%d_count 1013\n", round, round)
		fmt.Fprintf(&b, "# HELP node_cpu_seconds_total_%d Seconds the CPUs spent in each mode.\n# TYPE node_cpu_seconds_total_%d counter\n", round, round)
		for cpu := 0; cpu < 16; cpu++ {
			for _, m := range modes {
				fmt.Fprintf(&b, "node_cpu_seconds_total_%d{cpu=\"%d\",mode=\"%s\"} %d.%02d\n", round, cpu, m, 123456+cpu*7919+len(m)*31, cpu+len(m))
			}
		}
		fmt.Fprintf(&b, "# HELP node_filesystem_avail_bytes_%d Filesystem space available to non-root users in bytes.\n# TYPE node_filesystem_avail_bytes_%d gauge\n", round, round)
		for i := 0; i < 12; i++ {
			fmt.Fprintf(&b, "node_filesystem_avail_bytes_%d{device=\"/dev/nvme0n1p%d\",fstype=\"ext4\",mountpoint=\"/var/lib/data%d\"} %d\n", round, i, i, 123000000000+i*1000000000)
		}
		fmt.Fprintf(&b, "# HELP node_network_receive_bytes_total_%d Network device statistic receive_bytes.\n# TYPE node_network_receive_bytes_total_%d counter\n", round, round)
		for i := 0; i < 8; i++ {
			fmt.Fprintf(&b, "node_network_receive_bytes_total_%d{device=\"eth%d\"} %.6e\n", round, i, 9.876543e12+float64(i))
		}
		fmt.Fprintf(&b, "# HELP prometheus_http_request_duration_seconds_%d Histogram of latencies for HTTP requests.\n# TYPE prometheus_http_request_duration_seconds_%d histogram\n", round, round)
		for _, h := range []string{"/api/v1/query", "/metrics"} {
			for i, le := range []string{"0.1", "0.2", "0.4", "1", "3", "8", "20", "60", "120", "+Inf"} {
				fmt.Fprintf(&b, "prometheus_http_request_duration_seconds_%d_bucket{handler=%q,le=%q} %d\n", round, h, le, 1000+i*13)
			}
			fmt.Fprintf(&b, "prometheus_http_request_duration_seconds_%d_sum{handler=%q} 37.5\n", round, h)
			fmt.Fprintf(&b, "prometheus_http_request_duration_seconds_%d_count{handler=%q} 1117\n", round, h)
		}
		fmt.Fprintf(&b, "# HELP process_start_time_seconds_%d Start time of the process since unix epoch in seconds.\n# TYPE process_start_time_seconds_%d gauge\n", round, round)
		fmt.Fprintf(&b, "process_start_time_seconds_%d 1.73260001e+09\n", round)
	}
	return []byte(b.String())
}
