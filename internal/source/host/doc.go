// Package host is the source that watches the machine lookout runs on, the
// heart of the built-in default configuration: every interval it reads
// /proc/stat, /proc/meminfo, /proc/loadavg, /proc/net/dev and statfs("/")
// and emits one event with cpu, mem, swap, load1/5/15, disk, net_rx and
// net_tx. CPU and network are rates, so it keeps the previous reading and
// emits its first event one interval after it starts.
package host
