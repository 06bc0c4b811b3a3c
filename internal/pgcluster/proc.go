package pgcluster

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"inkwell/internal/localpg"
)

// proc is a long-running child (pg_autoctl run, pgbouncer) in a process group of its
// own, which holds whatever it starts except PostgreSQL's backends (those call setsid).
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	stopSig syscall.Signal // the signal that asks for a quick, clean shutdown
	done    chan struct{}  // closed once the process has exited
	waitErr error          // read only after done is closed
}

// openLog opens dir/<name>.log for appending, owned by the server user so that files
// a child creates next to it stay consistent.
func (c *Cluster) openLog(name string) (*os.File, string, error) {
	path := filepath.Join(c.dir, name+".log")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, "", fmt.Errorf("pgcluster: %w", err)
	}
	return f, path, nil
}

func (c *Cluster) command(ctx context.Context, path string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Dir = c.dir // must be reachable by the server user
	cmd.Env = c.env
	cmd.SysProcAttr = localpg.SysProcAttr(c.cred)
	// On cancellation, end what the command started too (create runs postgres).
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	return cmd
}

// autoctl runs a one-shot pg_autoctl command, logging to <logName>.log.
func (c *Cluster) autoctl(ctx context.Context, logName string, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	f, path, err := c.openLog(logName)
	if err != nil {
		return err
	}
	defer f.Close()
	var out bytes.Buffer
	cmd := c.command(ctx, c.tools.autoctl, args...)
	cmd.Stdout = io.MultiWriter(f, &out)
	cmd.Stderr = cmd.Stdout
	if err := cmd.Run(); err != nil {
		// A failed create may leave the postgres it started; the group is still
		// ours while any member remains.
		if cmd.Process != nil {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
		tail := out.String()
		if len(tail) > 4000 {
			tail = tail[len(tail)-4000:]
		}
		return fmt.Errorf("pgcluster: pg_autoctl %s: %w (log %s):\n%s", strings.Join(args[:2], " "), err, path, tail)
	}
	return nil
}

// spawn starts a long-running child logging to <name>.log.
func (c *Cluster) spawn(name string, path string, args ...string) (*proc, error) {
	f, logPath, err := c.openLog(name)
	if err != nil {
		return nil, err
	}
	defer f.Close() // the child has its own descriptor
	// Not CommandContext: the process outlives Start's context.
	cmd := c.command(context.Background(), path, args...)
	cmd.Cancel = nil
	cmd.Stdout = f // a file, not a pipe, so Wait does not hang on orphaned backends
	cmd.Stderr = f
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("pgcluster: starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, stopSig: syscall.SIGINT, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill SIGKILLs the whole process group.
func (p *proc) kill() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL) // ESRCH when already gone
}

// stop asks the process to shut down, SIGKILLs its group after timeout, and then
// SIGKILLs whatever is left in the group (nothing, after a clean shutdown). The group
// ID cannot have been reused while members remain, so this only hits our processes.
func (p *proc) stop(timeout time.Duration) error {
	var err error
	if !p.exited() {
		_ = p.cmd.Process.Signal(p.stopSig)
		select {
		case <-p.done:
		case <-time.After(timeout):
			err = fmt.Errorf("pgcluster: %s did not stop within %s; killed it", p.name, timeout)
		}
	}
	p.kill()
	<-p.done
	return err
}

// childPIDs lists the processes whose parent is pid, from /proc.
func childPIDs(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, err := localpg.ParentPID(child); err == nil && ppid == pid {
			out = append(out, child)
		}
	}
	return out
}
