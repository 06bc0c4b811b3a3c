package main

import "syscall"

// sysProcAttr puts a server in its own process group, so a Ctrl-C in the terminal reaches
// only the benchmark, which then stops its servers in order, and has the kernel send it
// SIGTERM should the benchmark die without stopping it.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
