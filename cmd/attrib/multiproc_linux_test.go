package main

import "syscall"

// childProcAttr makes the kernel kill a process the test started when the
// test binary dies (a panic, a timeout), so that none outlives it.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
