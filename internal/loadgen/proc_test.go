package loadgen

import (
	"net"
	"os"
	"strings"
	"testing"
)

func TestReadProcSelf(t *testing.T) {
	s, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.RSSBytes < 1<<20 || s.CPUSeconds < 0 {
		t.Errorf("own process: %+v, want RSS over 1 MiB", s)
	}
	if _, err := ReadProc(1 << 30); err == nil {
		t.Error("ReadProc of a process that cannot exist succeeded")
	}
}

func TestParseStatCPU(t *testing.T) {
	// The command name may hold spaces and parentheses.
	stat := "4242 (my (odd) cmd) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 75 0 0 20 0 8 0 100 1000000 2000 18446744073709551615\n"
	got, err := parseStatCPU([]byte(stat))
	if err != nil || got != 3.25 {
		t.Errorf("parseStatCPU = %v, %v; want 3.25 s (250+75 ticks)", got, err)
	}
	if _, err := parseStatCPU([]byte("4242 (x) S 1 2")); err == nil {
		t.Error("a short stat line parsed")
	}
}

func TestParseVmRSS(t *testing.T) {
	got, err := parseVmRSS([]byte("Name:\tlookout\nVmPeak:\t 999 kB\nVmRSS:\t  123456 kB\n"))
	if err != nil || got != 123456*1024 {
		t.Errorf("parseVmRSS = %v, %v", got, err)
	}
	if _, err := parseVmRSS([]byte("Name:\tx\n")); err == nil {
		t.Error("status without VmRSS parsed")
	}
}

func TestPIDByPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	pid, err := PIDByPort(port)
	if err != nil || pid != os.Getpid() {
		t.Errorf("PIDByPort(%d) = %d, %v; want this process %d", port, pid, err, os.Getpid())
	}
	l.Close()
	if _, err := PIDByPort(port); err == nil || !strings.Contains(err.Error(), "no process listens") {
		t.Errorf("PIDByPort of a closed port: %v", err)
	}
}

func TestListeningInodes(t *testing.T) {
	tcp := `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:24FE 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 111 1 0000000000000000 100 0 0 10 0
   1: 0100007F:24FE 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 222 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:1389 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 333 1 0000000000000000 100 0 0 10 0
`
	got := listeningInodes([]byte(tcp), 9470) // 0x24FE
	if len(got) != 1 || !got["111"] {
		t.Errorf("listening inodes on 9470 = %v, want only 111 (222 is an established connection)", got)
	}
}
