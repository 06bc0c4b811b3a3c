// Package localnginx runs nginx on the loopback interface in front of local HTTP
// servers, as a foreground process of our own with a generated configuration in a folder
// of its own, the way deploy/nginx/nginx.conf sets up the Compose stack's: the same log
// format, request-id and WebSocket maps, and an upstream "inkwell" with keep-alive
// connections. A caller that needs other settings (the operations tests) gives the whole
// configuration instead, and may reload it. It needs nginx (.ci/install-nginx installs
// Debian's package).
package localnginx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/template"
	"time"

	"inkwell/internal/localpg"
)

// Options configures Start.
type Options struct {
	// Dir holds nginx.conf, server.conf, the logs (error.log, access.log), the PID file
	// and nginx's temporary files. It is created if missing; Stop leaves it.
	Dir string
	// Addr is the listen address, "127.0.0.1:8080"; port 0 picks a free one.
	Addr string
	// Upstreams are the host:port addresses of the upstream "inkwell"'s servers.
	Upstreams []string
	// Server is the content of the server block after its listen directive, e.g.
	// deploy.NginxProxy; empty proxies every request to the upstream.
	Server string
	// Conf, when set, is the whole nginx.conf, written in place of the generated one;
	// Upstreams and Server are then unused. It must listen on Addr, which needs a port of
	// its own (not 0), and keep its pid file, logs and temporary files in Dir. As root it
	// needs "user root;" for the workers to use Dir, which is private.
	Conf string
}

// Nginx is a running nginx started by Start.
type Nginx struct {
	addr string
	dir  string
	bin  string
	cmd  *exec.Cmd
	done chan struct{} // closed once the master process has exited
	out  bytes.Buffer  // what it printed; read after done is closed
}

// The Compose stack's nginx.conf (deploy/nginx/nginx.conf) with paths of our own. One
// worker is plenty on a development machine. As root the workers run as root too, so
// that they can use a private folder; otherwise nginx runs as whoever starts it.
var confTemplate = template.Must(template.New("nginx.conf").Parse(`# Written by inkwell/internal/localnginx, after deploy/nginx/nginx.conf.
worker_processes 1;
worker_shutdown_timeout 10s;
pid {{.Dir}}/nginx.pid;
error_log {{.Dir}}/error.log warn;
{{if .Root}}user root;
{{end}}
events {
    worker_connections 1024;
}

http {
    default_type application/octet-stream;
    server_tokens off;

    log_format inkwell '$remote_addr [$time_local] "$request" $status $body_bytes_sent '
                       '$request_time rid=$inkwell_request_id upstream=$upstream_addr '
                       'ustatus=$upstream_status utime=$upstream_response_time';
    access_log {{.Dir}}/access.log inkwell;
    client_body_temp_path {{.Dir}}/temp/body;
    proxy_temp_path {{.Dir}}/temp/proxy;
    fastcgi_temp_path {{.Dir}}/temp/fastcgi;
    uwsgi_temp_path {{.Dir}}/temp/uwsgi;
    scgi_temp_path {{.Dir}}/temp/scgi;

    map $http_upgrade $connection_upgrade {
        default upgrade;
        ''      '';
    }
    map $http_x_request_id $inkwell_request_id {
        default $http_x_request_id;
        ''      $request_id;
    }

    upstream inkwell {
{{range .Upstreams}}        server {{.}} max_fails=3 fail_timeout=10s;
{{end}}        keepalive 32;
        keepalive_timeout 2s;
    }

    server {
        listen {{.Addr}};
        include {{.Dir}}/server.conf;
    }
}
`))

const defaultServer = `location / {
    proxy_pass http://inkwell;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
}
`

// Start writes the configuration, starts nginx, and returns once it accepts connections
// on its address (at most 15s, or until ctx ends).
func Start(ctx context.Context, opts Options) (*Nginx, error) {
	if opts.Dir == "" || (opts.Conf == "" && len(opts.Upstreams) == 0) {
		return nil, errors.New("localnginx: Options.Dir and Options.Upstreams (or Options.Conf) are required")
	}
	bin, err := findNginx()
	if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "temp"), 0o700); err != nil {
		return nil, fmt.Errorf("localnginx: %w", err)
	}
	host, port, err := net.SplitHostPort(opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("localnginx: Addr %q: %w", opts.Addr, err)
	}
	if opts.Conf != "" {
		// The caller's configuration names the port, so none can be picked for it here.
		if port == "0" {
			return nil, errors.New("localnginx: Options.Conf needs Addr with a port of its own")
		}
		return launch(ctx, bin, dir, opts.Addr, opts.Conf)
	}
	server := opts.Server
	if server == "" {
		server = defaultServer
	}
	if err := os.WriteFile(filepath.Join(dir, "server.conf"), []byte(server), 0o600); err != nil {
		return nil, fmt.Errorf("localnginx: %w", err)
	}
	// A free port picked here may be taken before nginx binds it; then another is tried.
	for attempt := 1; ; attempt++ {
		addr := opts.Addr
		if port == "0" {
			p, err := localpg.FreePort()
			if err != nil {
				return nil, err
			}
			addr = net.JoinHostPort(host, strconv.Itoa(p))
		}
		var conf bytes.Buffer
		if err := confTemplate.Execute(&conf, map[string]any{
			"Dir": dir, "Root": os.Geteuid() == 0, "Addr": addr, "Upstreams": opts.Upstreams,
		}); err != nil {
			return nil, err
		}
		n, err := launch(ctx, bin, dir, addr, conf.String())
		if err == nil || port != "0" || attempt == 3 || !strings.Contains(err.Error(), "Address already in use") {
			return n, err
		}
	}
}

// findNginx is nginx on PATH, else Debian's, which a non-root PATH often lacks.
func findNginx() (string, error) {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, nil
	}
	if fi, err := os.Stat("/usr/sbin/nginx"); err == nil && fi.Mode().IsRegular() {
		return "/usr/sbin/nginx", nil
	}
	return "", errors.New("localnginx: nginx not found: run .ci/install-nginx as root (Debian/Ubuntu), or install nginx")
}

func launch(ctx context.Context, bin, dir, addr, conf string) (*Nginx, error) {
	n := &Nginx{addr: addr, dir: dir, bin: bin, done: make(chan struct{})}
	if err := n.writeConf(conf); err != nil {
		return nil, err
	}
	n.cmd = exec.Command(bin, n.args("-g", "daemon off;")...)
	n.cmd.Stdout, n.cmd.Stderr = &n.out, &n.out
	// A process group of its own: a Ctrl-C meant for our process does not reach nginx
	// behind our back, and Stop can end its workers with it.
	n.cmd.SysProcAttr = localpg.SysProcAttr(nil)
	if err := n.cmd.Start(); err != nil {
		return nil, fmt.Errorf("localnginx: starting nginx: %w", err)
	}
	go func() {
		_ = n.cmd.Wait()
		close(n.done)
	}()
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
			return n, nil
		}
		select {
		case <-n.done:
			errLog, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			return nil, fmt.Errorf("localnginx: nginx exited: %s%s", n.out.String(), errLog)
		case <-ctx.Done():
			_ = n.Stop()
			return nil, fmt.Errorf("localnginx: nginx not accepting connections on %s: %w", addr, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (n *Nginx) writeConf(conf string) error {
	if err := os.WriteFile(filepath.Join(n.dir, "nginx.conf"), []byte(conf), 0o600); err != nil {
		return fmt.Errorf("localnginx: %w", err)
	}
	return nil
}

// args are nginx's arguments for our folder and configuration, then extra. -e: errors
// before the configuration is read go to our folder too, not to the package's
// /var/log/nginx.
func (n *Nginx) args(extra ...string) []string {
	return append([]string{"-p", n.dir, "-c", filepath.Join(n.dir, "nginx.conf"),
		"-e", filepath.Join(n.dir, "error.log")}, extra...)
}

// Reload replaces nginx.conf with conf and has nginx load it gracefully (nginx -s
// reload): new workers take the new configuration at once, while the old ones finish the
// requests they have. It returns once nginx is signalled, before the old workers are
// gone. A configuration nginx cannot parse is an error, and the old one stays in use.
func (n *Nginx) Reload(conf string) error {
	if err := n.writeConf(conf); err != nil {
		return err
	}
	if out, err := exec.Command(n.bin, n.args("-s", "reload")...).CombinedOutput(); err != nil {
		return fmt.Errorf("localnginx: nginx -s reload: %w: %s", err, out)
	}
	return nil
}

// Output is what nginx printed on its standard output and error, once it has exited
// (empty before: it is still being written). Its log is error.log in Dir.
func (n *Nginx) Output() string {
	select {
	case <-n.done:
		return n.out.String()
	default:
		return ""
	}
}

// Addr is the address nginx listens on, host:port.
func (n *Nginx) Addr() string { return n.addr }

// URL is http://Addr.
func (n *Nginx) URL() string { return "http://" + n.addr }

// Dir is the folder of its configuration and logs.
func (n *Nginx) Dir() string { return n.dir }

// PID is the master process's.
func (n *Nginx) PID() int { return n.cmd.Process.Pid }

// Stop shuts nginx down (SIGTERM, its fast shutdown: open connections are closed) and
// waits for it, killing its process group after 10s. Safe to call more than once.
func (n *Nginx) Stop() error {
	select {
	case <-n.done:
		return nil
	default:
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.done:
		return nil // the master ends its workers before it exits
	case <-time.After(10 * time.Second):
	}
	// The master is still running, so its process group is still ours.
	_ = syscall.Kill(-n.cmd.Process.Pid, syscall.SIGKILL)
	<-n.done
	return errors.New("localnginx: nginx did not stop within 10s; killed it")
}
