package localpg

import "syscall"

// SysProcAttr runs a child as cred (nil = as ourselves) in its own process
// group, so a Ctrl-C in our terminal does not reach it behind our back, and
// asks the kernel to send it SIGINT (fast shutdown) if we die, so crashed or
// killed test binaries do not leave servers behind.
func SysProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: syscall.SIGINT}
}
