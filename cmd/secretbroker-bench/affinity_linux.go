package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// cpuSplit divides the CPUs this process may run on between the loader
// (the first half, at least one) and the servers (the rest). ok is false
// when there is only one CPU, or the set cannot be read: nothing is pinned
// then.
func cpuSplit() (loader, servers []int, ok bool, why string) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, nil, false, fmt.Sprintf("not pinned: reading this process's CPU set: %v", err)
	}
	var cpus []int
	for c := 0; c < len(set)*64; c++ {
		if set.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	if len(cpus) < 2 {
		return nil, nil, false, fmt.Sprintf("not pinned: only %d CPU available", len(cpus))
	}
	half := len(cpus) / 2
	return cpus[:half], cpus[half:], true, ""
}

// pinProcess sets the CPU affinity of every thread of process pid (its
// /proc/PID/task entries) to cpus, and goes over the list again until a
// pass finds no thread it had not pinned (threads a pinned thread creates
// inherit its affinity). It returns the number of threads pinned.
func pinProcess(pid int, cpus []int) (int, error) {
	var set unix.CPUSet
	set.Zero()
	for _, c := range cpus {
		set.Set(c)
	}
	pinned := map[int]bool{}
	for pass := 0; pass < 10; pass++ {
		entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			return len(pinned), fmt.Errorf("listing the threads of process %d: %w", pid, err)
		}
		fresh := 0
		for _, e := range entries {
			tid, err := strconv.Atoi(e.Name())
			if err != nil || pinned[tid] {
				continue
			}
			if err := unix.SchedSetaffinity(tid, &set); err != nil {
				if errors.Is(err, unix.ESRCH) {
					continue // the thread exited meanwhile
				}
				return len(pinned), fmt.Errorf("pinning thread %d of process %d: %w", tid, pid, err)
			}
			pinned[tid] = true
			fresh++
		}
		if fresh == 0 {
			return len(pinned), nil
		}
	}
	return len(pinned), nil
}
