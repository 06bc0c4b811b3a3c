package localpg

import "syscall"

// sysProcAttr runs a child as cred (nil = as ourselves) in its own process
// group, so a Ctrl-C in our terminal does not reach it behind our back, and
// asks the kernel to send it SIGINT (fast shutdown) if we die, so crashed or
// killed test binaries do not leave servers behind.
func sysProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: syscall.SIGINT}
}
