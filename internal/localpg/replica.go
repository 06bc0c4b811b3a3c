package localpg

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
)

// StartReplica starts a streaming replica of the server on 127.0.0.1:primaryPort (one
// started by Start, or any that trusts replication connections from 127.0.0.1 for the
// user postgres): pg_basebackup copies it into opts.Dir/data, which must not hold a
// cluster yet, and the copy runs as a hot standby that follows the primary. opts work as
// for Start.
//
// slot, if not empty, names a physical replication slot on the primary, made beforehand
// with its log reserved (pg_create_physical_replication_slot(slot, true)): the copy and
// then the standby stream through it, so the primary keeps every segment they still
// need however busy it is. Dropping it once the replica is gone is the caller's job.
func StartReplica(ctx context.Context, primaryPort int, slot string, opts Options) (*Server, error) {
	bin, dir, cred, err := prepare(opts)
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	if _, err := os.Stat(data); err == nil {
		return nil, fmt.Errorf("localpg: %s exists: a replica starts from a fresh copy", data)
	}
	// -R writes standby.signal and primary_conninfo; -X stream copies the log written
	// during the backup too, so the copy is consistent on its own.
	args := []string{"-D", data, "-R", "-X", "stream", "-c", "fast", "-h", "127.0.0.1",
		"-p", strconv.Itoa(primaryPort), "-U", "postgres", "--no-sync"}
	if slot != "" {
		args = append(args, "-S", slot)
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "pg_basebackup"), args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = SysProcAttr(cred)
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("localpg: pg_basebackup: %w\n%s", err, out.Bytes())
	}
	return launchOnPort(ctx, bin, dir, cred, opts)
}

// Port is the server's TCP port on 127.0.0.1.
func (s *Server) Port() int { return s.port }
