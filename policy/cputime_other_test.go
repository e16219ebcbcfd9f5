//go:build !unix

package policy

import "time"

// processCPU cannot be read on this platform.
func processCPU() time.Duration { return 0 }
