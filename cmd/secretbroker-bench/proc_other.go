//go:build !linux

package main

import "syscall"

// childAttr sets nothing outside Linux; the bench kills its children when
// it ends.
func childAttr() *syscall.SysProcAttr { return nil }
