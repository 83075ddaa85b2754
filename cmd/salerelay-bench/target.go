package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Credentials the bench gives the salerelay it starts and its Pusher stand-in.
const (
	benchAppID  = "bench-app"
	benchKey    = "bench-key"
	benchSecret = "bench-secret"
)

// target is the salerelay under test.
type target struct {
	url   string        // base URL, http://127.0.0.1:PORT
	pid   int           // process to read memory from; 0 when unknown
	ready time.Duration // start until /readyz answered 200; 0 when already running
	stop  func() error  // stops what the bench started; nil for a running salerelay
	logs  string        // file holding the child's output, if any
}

// serveEnv is the environment of `salerelay serve` under the bench: the embedded
// JetStream in dataDir, Pusher at the stand-in, webhooks signed by the bench.
func serveEnv(o options, pusherHost, dataDir string, port, natsPort int) map[string]string {
	env := map[string]string{
		"PORT":          strconv.Itoa(port),
		"PUSHER_APP_ID": benchAppID, "PUSHER_KEY": benchKey, "PUSHER_SECRET": benchSecret,
		"PUSHER_HOST": pusherHost, "PUSHER_TLS": "false",
		"APPWRITE_WEBHOOK_URL":           o.webhookURL,
		"APPWRITE_WEBHOOK_SIGNATURE_KEY": o.webhookKey,
		"APPWRITE_WEBHOOK_USER":          "", "APPWRITE_WEBHOOK_PASSWORD": "",
		"APPWRITE_DATABASE_ID": benchDatabase, "APPWRITE_SALES_COLLECTION_ID": benchCollection,
		"NATS_URL": "", "STREAM_REPLICAS": "1", "DATA_DIR": dataDir,
		"NATS_LISTEN":        "127.0.0.1:" + strconv.Itoa(natsPort),
		"RECONCILE_INTERVAL": "0",
		"LOG_LEVEL":          "warn", "LOG_FORMAT": "json",
	}
	if o.workers > 0 {
		env["WORKERS"] = strconv.Itoa(o.workers)
	}
	return env
}

// spawn starts `salerelay serve` as a child process and waits until it is ready.
func spawn(ctx context.Context, o options, bin, pusherHost, dir string) (*target, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	natsPort, err := freePort()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "salerelay.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("create log file: %w", err)
	}
	defer logFile.Close() // the child holds its own descriptor

	cmd := exec.Command(bin, "serve")
	cmd.Env = os.Environ()
	for k, v := range serveEnv(o, pusherHost, filepath.Join(dir, "data"), port, natsPort) {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile

	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	child := &child{cmd: cmd, exited: make(chan struct{})}
	go child.wait()

	t := &target{url: fmt.Sprintf("http://127.0.0.1:%d", port), pid: cmd.Process.Pid,
		logs: logPath, stop: child.stop}

	if err := waitReady(ctx, t.url, child.exited); err != nil {
		_ = t.stop()
		return nil, fmt.Errorf("%w\n%s", err, tail(logPath, 20))
	}
	t.ready = time.Since(start)
	return t, nil
}

// waitReady polls /readyz every 2 ms until it answers 200, exited closes or 30 s pass.
func waitReady(ctx context.Context, base string, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c := &http.Client{Timeout: time.Second}
	for {
		if resp, err := c.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited:
			return errors.New("salerelay stopped before it was ready")
		case <-ctx.Done():
			return fmt.Errorf("salerelay not ready at %s/readyz after 30s", base)
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// child is a started salerelay process.
type child struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has ended
	err    error         // its exit status, once exited is closed
}

func (c *child) wait() {
	c.err = c.cmd.Wait()
	close(c.exited)
}

// stop sends SIGTERM and waits for the graceful stop (at most 30 s by SPEC §7), killing
// the process if it takes longer.
func (c *child) stop() error {
	err := c.cmd.Process.Signal(syscall.SIGTERM)
	if err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal salerelay: %w", err)
	}
	select {
	case <-c.exited:
		if c.err != nil {
			return fmt.Errorf("salerelay stopped with %w", c.err)
		}
		return nil
	case <-time.After(35 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
		return errors.New("salerelay did not stop within 35s after SIGTERM; killed")
	}
}

// buildSalerelay compiles ./cmd/salerelay of the module in the working directory.
func buildSalerelay(dir string) (string, error) {
	bin := filepath.Join(dir, "salerelay")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin,
		"github.com/salerelay/salerelay/cmd/salerelay")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build salerelay (run from the repository, or pass "+
			"-salerelay): %w", err)
	}
	return bin, nil
}

// memory reads VmRSS and VmHWM (peak resident size) of pid from /proc, in kB.
func memory(pid int) (rss, peak int64) {
	if pid <= 0 {
		return 0, 0
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	defer f.Close()

	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		switch name {
		case "VmRSS":
			rss = kb
		case "VmHWM":
			peak = kb
		}
	}
	return rss, peak
}

// freePort asks the kernel for a loopback port that is free right now.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// tail returns the last n lines of a file, for error reports.
func tail(path string, n int) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}
