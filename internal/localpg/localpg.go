// Package localpg runs a project-managed PostgreSQL server on the loopback
// interface, for development and tests, using the machine's server binaries.
package localpg

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	_ "github.com/lib/pq" // readiness check
)

// FindBinDir finds the PostgreSQL server binaries (postgres, initdb): $PG_BINDIR
// if set, else the newest /usr/lib/postgresql/<N>/bin, else `pg_config --bindir`,
// else the folder on PATH that contains postgres.
func FindBinDir() (string, error) {
	if d := os.Getenv("PG_BINDIR"); d != "" {
		if !hasPostgres(d) {
			return "", fmt.Errorf("localpg: PG_BINDIR=%s does not contain the postgres binary", d)
		}
		return d, nil
	}
	// Debian and Ubuntu install server versions side by side, off PATH.
	if d := newestDebianBinDir("/usr/lib/postgresql"); d != "" {
		return d, nil
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if d := strings.TrimSpace(string(out)); hasPostgres(d) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("postgres"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("localpg: PostgreSQL server binaries not found; install them " +
		"(Debian/Ubuntu: apt-get install postgresql; Fedora: dnf install postgresql-server; macOS: brew install postgresql) " +
		"or set PG_BINDIR to the folder that contains postgres and initdb")
}

func hasPostgres(dir string) bool {
	fi, err := os.Stat(filepath.Join(dir, "postgres"))
	return err == nil && fi.Mode().IsRegular()
}

// newestDebianBinDir returns root/<N>/bin for the highest version N that has a server.
func newestDebianBinDir(root string) string {
	entries, err := os.ReadDir(root)
	if err != nil {
		return ""
	}
	best, bestVer := "", -1.0
	for _, e := range entries {
		v, err := strconv.ParseFloat(e.Name(), 64) // "15", "9.6"
		d := filepath.Join(root, e.Name(), "bin")
		if err == nil && v > bestVer && hasPostgres(d) {
			best, bestVer = d, v
		}
	}
	return best
}

// Options configures Start.
type Options struct {
	// Dir is the server's own folder: the cluster lives in Dir/data (created by
	// initdb on first use and reused afterwards) and the server log is appended
	// to Dir/postgres.log. Dir is created if missing.
	Dir string
	// Port is the TCP port on 127.0.0.1; 0 picks a free one.
	Port int
	// Log also receives the server's output (nil = only Dir/postgres.log). It
	// is written from another goroutine; write errors are ignored.
	Log io.Writer
	// Fast trades crash safety for speed, for throw-away test clusters:
	// fsync=off, synchronous_commit=off, full_page_writes=off.
	Fast bool
	// Settings are postgresql.conf parameters (name to value, e.g. "shared_buffers":
	// "256MB"), passed on the command line after the ones Start sets itself, so they
	// override those too (max_connections, Fast's).
	Settings map[string]string
}

// Server is a running postgres process started by Start. It is our child
// process, so Stop stops exactly that server.
type Server struct {
	port    int
	cmd     *exec.Cmd
	done    chan struct{} // closed once the process has exited
	waitErr error         // the process's exit status; read only after done is closed

	stopOnce sync.Once
	stopErr  error
}

const readyTimeout = 30 * time.Second

// Start initialises Dir/data if it holds no cluster yet (superuser postgres,
// UTF8, no locale, trust authentication for local and 127.0.0.1 connections
// only), starts postgres listening only on 127.0.0.1 without a unix socket,
// and waits until it accepts connections (at most 30s, or until ctx ends).
//
// PostgreSQL refuses to run as root, so when we are root the server runs as
// the OS user postgres: Start then chowns Dir to it and adds search (o+x)
// permission to the ancestors of Dir that lack it, so postgres can reach Dir.
//
// A postmaster.pid left by a crashed run is handled: postgres removes it itself
// when its PID is dead, and Start removes it when the PID now belongs to an
// unrelated process. If a server is still running on Dir/data, Start fails.
func Start(ctx context.Context, opts Options) (*Server, error) {
	bin, dir, cred, err := prepare(opts)
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	if err := checkPidFile(data); err != nil {
		return nil, err
	}

	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); errors.Is(err, fs.ErrNotExist) {
		if err := initCluster(ctx, bin, dir, cred, opts); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, fmt.Errorf("localpg: %w", err)
	}
	return launchOnPort(ctx, bin, dir, cred, opts)
}

// prepare finds the server binaries and makes opts.Dir (absolute) ready for the user
// the server runs as (cred; nil for ourselves).
func prepare(opts Options) (bin, dir string, cred *syscall.Credential, err error) {
	if opts.Dir == "" {
		return "", "", nil, errors.New("localpg: Options.Dir is required")
	}
	if bin, err = FindBinDir(); err != nil {
		return "", "", nil, err
	}
	if dir, err = filepath.Abs(opts.Dir); err != nil {
		return "", "", nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", nil, fmt.Errorf("localpg: %w", err)
	}
	if cred, err = ServerUser(); err != nil {
		return "", "", nil, err
	}
	if cred != nil {
		if err := GrantAccess(dir, cred); err != nil {
			return "", "", nil, err
		}
	}
	return bin, dir, cred, nil
}

// launchOnPort launches the server on opts.Port, or on a free port: one picked by
// FreePort can be taken by someone else before postgres binds it, and then another is
// tried.
func launchOnPort(ctx context.Context, bin, dir string, cred *syscall.Credential, opts Options) (*Server, error) {
	for attempt := 1; ; attempt++ {
		port := opts.Port
		if port == 0 {
			var err error
			if port, err = FreePort(); err != nil {
				return nil, err
			}
		}
		s, err := launch(ctx, bin, dir, port, cred, opts)
		if err == nil || opts.Port != 0 || attempt == 3 || !errors.Is(err, errPortInUse) {
			return s, err
		}
	}
}

// ServerUser returns the credentials to run PostgreSQL (and tools that refuse root
// likewise, such as pg_autoctl and pgbouncer) with: nil (ourselves) unless we are
// root, which PostgreSQL refuses to run as.
func ServerUser() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("localpg: running as root, which PostgreSQL refuses, and there is no OS user postgres to run it as: %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("localpg: user postgres: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// GrantAccess lets the user of cred (ServerUser's) own dir and reach it from /.
func GrantAccess(dir string, cred *syscall.Credential) error {
	if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
		return fmt.Errorf("localpg: %w", err)
	}
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("localpg: %w", err)
		}
		// Private parents such as t.TempDir()'s (0700, root) would lock postgres out.
		if fi.Mode()&0o001 == 0 {
			if err := os.Chmod(p, fi.Mode()|0o001); err != nil {
				return fmt.Errorf("localpg: making %s reachable for user postgres: %w", p, err)
			}
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

// checkPidFile fails if a server is running on data, and removes a
// postmaster.pid whose PID has been recycled by an unrelated process (common
// in containers, where PIDs are small), which postgres would take for a live
// server. A dead PID is left to postgres, which cleans that up itself.
func checkPidFile(data string) error {
	pidFile := filepath.Join(data, "postmaster.pid")
	b, err := os.ReadFile(pidFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("localpg: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || pid <= 0 {
		return nil //nolint:nilerr // an unreadable pid file is postgres's to judge
	}
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return nil
	}
	// A postmaster's working directory is its data directory. When we cannot
	// tell (no /proc, not our process), assume it is a live server.
	cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	realData, _ := filepath.EvalSymlinks(data)
	if err != nil || cwd == data || cwd == realData {
		e := &RunningError{PID: pid, Data: data}
		e.Holder, e.holderPID = holder(pid)
		return e
	}
	if err := os.Remove(pidFile); err != nil {
		return fmt.Errorf("localpg: removing stale %s: %w", pidFile, err)
	}
	return nil
}

// RunningError is Start's error when a server already runs on the data folder: usually
// one that another process started with Start (`inkwell serve`), which stops it when it
// ends. Attach connects to it instead.
type RunningError struct {
	PID  int    // the postmaster
	Data string // its data folder
	// Holder describes the process that started it, e.g. "inkwell serve (PID 4242)";
	// empty when that cannot be told.
	Holder    string
	holderPID int
}

func (e *RunningError) Error() string {
	if e.Holder != "" {
		return fmt.Sprintf("localpg: a PostgreSQL server (PID %d) started by %s is already running on %s; "+
			"it stops when that process ends (Ctrl-C in its terminal, or kill %d)", e.PID, e.Holder, e.Data, e.holderPID)
	}
	return fmt.Sprintf("localpg: a PostgreSQL server (PID %d) is already running on %s", e.PID, e.Data)
}

// holder describes the parent of pid, the process that started the server, from /proc,
// and returns its PID; "" and 0 when that cannot be told.
func holder(pid int) (string, int) {
	ppid, err := ParentPID(pid)
	if err != nil || ppid <= 1 {
		return "", 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", ppid))
	if err != nil {
		return "", 0
	}
	args := strings.Fields(strings.ReplaceAll(strings.TrimRight(string(b), "\x00"), "\x00", " "))
	if len(args) == 0 {
		return "", 0
	}
	args[0] = filepath.Base(args[0])
	return fmt.Sprintf("%s (PID %d)", strings.Join(args, " "), ppid), ppid
}

// ParentPID reads pid's parent from /proc/<pid>/stat, whose second field (the command
// name, in parentheses) may itself hold spaces.
func ParentPID(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("unexpected /proc stat format")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0, errors.New("unexpected /proc stat format")
	}
	return strconv.Atoi(f[1])
}

// Attach returns the URL of database dbname on the server already running on Dir/data
// (one Start left running in another process), after checking that the server on the
// port its postmaster.pid names is that one. Stopping it stays its starter's business.
func Attach(ctx context.Context, dir, dbname string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	data := filepath.Join(dir, "data")
	b, err := os.ReadFile(filepath.Join(data, "postmaster.pid"))
	if err != nil {
		return "", fmt.Errorf("localpg: no server running on %s: %w", data, err)
	}
	// postmaster.pid: PID, data folder, start time, port, socket folder, listen address, …
	lines := strings.Split(string(b), "\n")
	if len(lines) < 4 {
		return "", fmt.Errorf("localpg: the server on %s is still starting", data)
	}
	port, err := strconv.Atoi(strings.TrimSpace(lines[3]))
	if err != nil {
		return "", fmt.Errorf("localpg: %s names no port: %w", filepath.Join(data, "postmaster.pid"), err)
	}
	s := &Server{port: port, done: make(chan struct{})}
	if err := s.waitReady(ctx, data); err != nil {
		return "", fmt.Errorf("localpg: the server running on %s: %w", data, err)
	}
	return s.URL(dbname), nil
}

// initCluster runs initdb into a scratch folder and renames it to dir/data
// only when complete, so an interrupted initdb is never mistaken for a cluster.
func initCluster(ctx context.Context, bin, dir string, cred *syscall.Credential, opts Options) error {
	tmp := filepath.Join(dir, "data.initdb")
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("localpg: %w", err)
	}
	log, logFile, err := openLog(dir, opts.Log)
	if err != nil {
		return err
	}
	defer logFile.Close()
	args := []string{"-D", tmp, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale"}
	if opts.Fast {
		args = append(args, "--no-sync")
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), args...)
	cmd.Dir = dir // the working directory must be readable by the postgres user
	cmd.Stdout = teeWriter{log, &out}
	cmd.Stderr = cmd.Stdout
	cmd.SysProcAttr = SysProcAttr(cred)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("localpg: initdb: %w\n%s", err, out.Bytes())
	}
	// initdb's --auth=trust also trusts ::1; allow exactly local and 127.0.0.1.
	hba := filepath.Join(tmp, "pg_hba.conf")
	const rules = "# Written by inkwell/internal/localpg.\n" +
		"local all         all              trust\n" +
		"host  all         all 127.0.0.1/32 trust\n" +
		"local replication all              trust\n" +
		"host  replication all 127.0.0.1/32 trust\n"
	if err := os.WriteFile(hba, []byte(rules), 0o600); err != nil {
		return fmt.Errorf("localpg: %w", err)
	}
	if cred != nil {
		if err := os.Chown(hba, int(cred.Uid), int(cred.Gid)); err != nil {
			return fmt.Errorf("localpg: %w", err)
		}
	}
	if err := os.Rename(tmp, filepath.Join(dir, "data")); err != nil {
		return fmt.Errorf("localpg: %s exists but holds no cluster (no PG_VERSION): %w", filepath.Join(dir, "data"), err)
	}
	return nil
}

// openLog opens the log that server output goes to: Dir/postgres.log, plus extra if not nil.
func openLog(dir string, extra io.Writer) (teeWriter, *os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "postgres.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("localpg: %w", err)
	}
	if extra != nil {
		return teeWriter{f, extra}, f, nil
	}
	return teeWriter{f}, f, nil
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago, and that no
// earlier call in this process returned: the kernel may hand the same free port to two
// listens in a row, and two servers started on one port would answer as one. A caller
// must still cope with another process taking it before it binds.
func FreePort() (int, error) {
	given.mu.Lock()
	defer given.mu.Unlock()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("localpg: picking a port: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		if !given.ports[port] {
			given.ports[port] = true
			return port, nil
		}
	}
	return 0, errors.New("localpg: picking a port: every free port offered was given out already")
}

// given is the ports FreePort returned.
var given = struct {
	mu    sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

var errPortInUse = errors.New("port in use")

// launch starts postgres as our child and waits until it accepts connections.
func launch(ctx context.Context, bin, dir string, port int, cred *syscall.Credential, opts Options) (*Server, error) {
	// Settings go on the command line, not into postgresql.conf, so a cluster
	// always runs with what this code says, whoever created it.
	args := []string{"-D", filepath.Join(dir, "data"),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "port=" + strconv.Itoa(port),
		"-c", "unix_socket_directories=", // TCP only: no socket path length limits, no /var/run
		"-c", "max_connections=200",
	}
	if opts.Fast {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	// Sorted, so the command line is the same on every start; postgres takes the last -c.
	for _, k := range slices.Sorted(maps.Keys(opts.Settings)) {
		args = append(args, "-c", k+"="+opts.Settings[k])
	}
	log, logFile, err := openLog(dir, opts.Log)
	if err != nil {
		return nil, err
	}
	tail := &tailBuffer{}
	out := append(log, tail)
	cmd := exec.Command(filepath.Join(bin, "postgres"), args...)
	cmd.Dir = dir
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = SysProcAttr(cred)
	cmd.WaitDelay = 5 * time.Second // don't hang on output pipes held by orphaned backends
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("localpg: starting postgres: %w", err)
	}
	s := &Server{port: port, cmd: cmd, done: make(chan struct{})}
	go func() {
		s.waitErr = cmd.Wait()
		logFile.Close()
		close(s.done)
	}()

	err = s.waitReady(ctx, filepath.Join(dir, "data"))
	if err == nil {
		return s, nil
	}
	_ = s.Stop()
	<-s.done // the tail is complete once the output has been copied
	if strings.Contains(tail.String(), "Address already in use") {
		err = fmt.Errorf("%w: %w", errPortInUse, err)
	}
	return nil, fmt.Errorf("localpg: %w; server output:\n%s", err, tail.String())
}

// waitReady waits until our server accepts connections. It asks for the data
// directory because the port may be served by some other server.
func (s *Server) waitReady(ctx context.Context, data string) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	db, err := sql.Open("postgres", s.URL("postgres")+"&connect_timeout=2")
	if err != nil {
		return err
	}
	defer db.Close()
	for {
		var got string
		queryCtx, cancelQuery := context.WithTimeout(ctx, 2*time.Second)
		err := db.QueryRowContext(queryCtx, "SHOW data_directory").Scan(&got) // fails while "the database system is starting up"
		cancelQuery()
		if err == nil && got == data {
			return nil
		} else if err == nil {
			// Ours will fail to bind and exit; wait for that.
			err = fmt.Errorf("port %d is served by the PostgreSQL server of %s", s.port, got)
		}
		select {
		case <-s.done:
			return fmt.Errorf("postgres exited during startup: %w", s.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("postgres not accepting connections on port %d: %w (last error: %w)", s.port, ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// URL returns a connection URL for database dbname as superuser postgres,
// e.g. "postgres://postgres@127.0.0.1:5432/app?sslmode=disable".
func (s *Server) URL(dbname string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, url.PathEscape(dbname))
}

// Stop shuts the server down with PostgreSQL's fast shutdown (SIGINT: roll
// back open transactions, disconnect clients, checkpoint) and waits for the
// process to exit, killing it after a minute. It is safe to call more than
// once; later calls return the first call's result.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() { s.stopErr = s.stop() })
	return s.stopErr
}

func (s *Server) stop() error {
	select {
	case <-s.done:
		return fmt.Errorf("localpg: postgres had already exited: %w", s.waitErr)
	default:
	}
	if err := s.cmd.Process.Signal(os.Interrupt); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("localpg: stopping postgres: %w", err)
	}
	select {
	case <-s.done:
		if s.waitErr != nil {
			return fmt.Errorf("localpg: postgres: %w", s.waitErr)
		}
		return nil
	case <-time.After(time.Minute):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL) // the whole process group: postmaster and backends
		<-s.done
		return errors.New("localpg: postgres did not shut down within a minute; killed it")
	}
}

// teeWriter writes to every writer and ignores their errors: a failing log
// must not stop us draining the server's output, or postgres would block.
type teeWriter []io.Writer

func (t teeWriter) Write(p []byte) (int, error) {
	for _, w := range t {
		_, _ = w.Write(p) // a failing log sink must not stop the server's output
	}
	return len(p), nil
}

// tailBuffer keeps the last few KB written to it, for error messages.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

const tailSize = 8 << 10

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > tailSize {
		b.buf = append(b.buf[:0], b.buf[len(b.buf)-tailSize:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
