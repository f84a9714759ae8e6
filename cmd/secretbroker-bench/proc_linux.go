package main

import "syscall"

// childAttr makes a child process receive SIGKILL when the bench dies, so
// a killed bench leaves no server behind.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
