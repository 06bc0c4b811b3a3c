//go:build !linux

package localpg

import "syscall"

// SysProcAttr runs a child as cred (nil = as ourselves) in its own process
// group, so a Ctrl-C in our terminal does not reach it behind our back.
func SysProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred, Setpgid: true}
}
