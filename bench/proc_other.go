//go:build !linux

package main

import "syscall"

// sysProcAttr: the benchmark measures through /proc and is meant for Linux; elsewhere the
// servers run with default attributes.
func sysProcAttr() *syscall.SysProcAttr { return nil }
