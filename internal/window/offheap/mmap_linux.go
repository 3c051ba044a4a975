package offheap

import "syscall"

// reservation is the address range a Slice reserves when it leaves the Go
// heap: reserved, not committed (PROT_NONE, MAP_NORESERVE), so it costs
// neither memory nor swap until made usable, only address space.
const reservation = 16 << 30

func reserve(n uintptr) ([]byte, error) {
	res, err := syscall.Mmap(-1, 0, int(n), syscall.PROT_NONE,
		syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS|syscall.MAP_NORESERVE)
	if err != nil {
		return nil, err
	}
	// Huge pages where the kernel offers them on request: the engine reads
	// these arrays at random, and with 4 KiB pages a million groups' state
	// misses the TLB on nearly every access. A Slice is only here when it
	// is over a megabyte, so the rounding to 2 MiB costs little.
	syscall.Madvise(res, 14) // MADV_HUGEPAGE; ignored where unsupported
	return res, nil
}

// commit makes [from, to) of a reservation readable and writable, rounded
// out to whole pages.
func commit(res []byte, from, to uintptr) error {
	page := uintptr(syscall.Getpagesize())
	from = from &^ (page - 1)
	to = min((to+page-1)&^(page-1), uintptr(len(res)))
	if to <= from {
		return nil
	}
	return syscall.Mprotect(res[from:to], syscall.PROT_READ|syscall.PROT_WRITE)
}

func release(res []byte) { syscall.Munmap(res) }
