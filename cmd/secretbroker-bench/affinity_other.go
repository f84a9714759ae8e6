//go:build !linux

package main

import "runtime"

// cpuSplit pins nothing outside Linux.
func cpuSplit() (loader, servers []int, ok bool, why string) {
	return nil, nil, false, "not pinned: CPU pinning is implemented on Linux only (this is " + runtime.GOOS + ")"
}

// pinProcess is never called outside Linux.
func pinProcess(int, []int) (int, error) { return 0, nil }
