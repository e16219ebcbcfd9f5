//go:build unix

package policy

import (
	"syscall"
	"time"
)

// processCPU is the CPU time (user + system) all of the process's threads
// have used, or 0 when it cannot be read.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
