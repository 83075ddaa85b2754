package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/salerelay/salerelay/events"
	"github.com/salerelay/salerelay/events/broker"
	"github.com/salerelay/salerelay/webhook"
	"github.com/salerelay/salerelay/worker/pusherlocal"
)

// These tests build the salerelay binary, run `salerelay serve` on the embedded JetStream
// against a Pusher stand-in in the test process, and stop it the hard way (SIGKILL) and
// the polite way (SIGTERM) in the middle of a few hundred deliveries (SPEC §7.2, §7.7).

const (
	procAppID  = "proc-app"
	procKey    = "proc-key"
	procSecret = "proc-secret-never-logged"
	procURL    = "https://relay.example.com/webhooks/appwrite"
	procSigKey = "proc-signing-key"

	procSales = 300 // webhooks per test, one sale each

	// procAckWait is the worker's default ack wait: decisions a killed process held come
	// back only once it has passed.
	procAckWait = 30 * time.Second
)

// TestKilledProcessLosesNothing kills `salerelay serve` with SIGKILL while webhooks
// arrive and deliveries are in flight, starts it again on the same data, and checks that
// every webhook answered 200 reaches Pusher. A duplicate is possible only for a decision
// Pusher accepted just before the kill and the ledger had not yet recorded: at most the
// claims the dead process left open.
func TestKilledProcessLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; waits out the ack wait")
	}
	t.Parallel()
	r := startUnderLoad(t)
	bin, pusher, env, first, load := r.bin, r.pusher, r.env, r.first, r.load

	first.kill(syscall.SIGKILL)
	first.waitExit(10 * time.Second)
	load.wait()
	ackedBeforeKill, deliveredAtKill := load.acked(), len(pusher.Events())
	inFlight := openClaims(t, env["DATA_DIR"])
	t.Logf("killed with %d webhooks answered 200, %d events delivered and %d claims open "+
		"(sent or about to be sent to Pusher, not yet recorded)", ackedBeforeKill,
		deliveredAtKill, inFlight)

	second := startRelay(t, bin, env)
	second.waitReady()
	load.resend(t, second.url) // what the dead process never answered, as reconcile would
	waitCond(t, procAckWait+30*time.Second, "every sale delivered", func() bool {
		return len(salesDelivered(t, pusher)) == procSales
	})
	second.waitQueueEmpty()

	dups := duplicates(t, pusher)
	t.Logf("after the restart: %d sales delivered, %d duplicate events (allowed: %d open "+
		"claims at the kill)", len(salesDelivered(t, pusher)), dups, inFlight)
	if dups > inFlight {
		t.Errorf("%d duplicate events, more than the %d claims open at the kill", dups,
			inFlight)
	}
	second.kill(syscall.SIGTERM)
	if code := second.waitExit(30 * time.Second); code != 0 {
		t.Errorf("second process exited with %d after SIGTERM, want 0", code)
	}
}

// TestTerminatedProcessStopsInTime sends SIGTERM to `salerelay serve` under load: it
// exits 0 within 30 s, and after a restart nothing that was answered 200 is missing or
// sent twice.
func TestTerminatedProcessStopsInTime(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	r := startUnderLoad(t)
	bin, pusher, env, first, load := r.bin, r.pusher, r.env, r.first, r.load

	started := time.Now()
	first.kill(syscall.SIGTERM)
	code := first.waitExit(35 * time.Second)
	took := time.Since(started)
	load.wait()
	t.Logf("SIGTERM: exit code %d after %s; %d webhooks answered 200, %d events delivered",
		code, took.Round(time.Millisecond), load.acked(), len(pusher.Events()))
	if code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	if took > 30*time.Second {
		t.Errorf("exited %s after SIGTERM, want within 30s", took)
	}

	second := startRelay(t, bin, env)
	second.waitReady()
	missing := procSales - len(salesDelivered(t, pusher))
	load.resend(t, second.url)
	// What the first process handed back is redelivered at once, not after the ack wait.
	waitCond(t, 20*time.Second, "every sale delivered", func() bool {
		return len(salesDelivered(t, pusher)) == procSales
	})
	second.waitQueueEmpty()
	t.Logf("after the restart: %d sales were still to deliver, now all %d delivered",
		missing, procSales)
	if dups := duplicates(t, pusher); dups != 0 {
		t.Errorf("%d duplicate events after a graceful stop, want 0", dups)
	}
	second.kill(syscall.SIGTERM)
	second.waitExit(30 * time.Second)
}

// --- the process ---------------------------------------------------------------------

// buildRelay builds the salerelay binary into the test's temporary directory.
// loadedRelay is `salerelay serve` in the middle of procSales webhooks.
type loadedRelay struct {
	bin    string
	pusher *pusherlocal.Server
	env    map[string]string
	first  *relayProcess
	load   *webhookLoad
}

// startUnderLoad starts the binary against a stand-in answering in 20 ms, sends procSales
// webhooks, and returns once half are answered and deliveries are under way.
func startUnderLoad(t *testing.T) loadedRelay {
	t.Helper()
	r := loadedRelay{bin: buildRelay(t)}
	var host string
	r.pusher, host = startProcStandIn(t)
	r.pusher.SetLatency(20 * time.Millisecond)
	r.env = procEnv(t, host)

	r.first = startRelay(t, r.bin, r.env)
	r.first.waitReady()
	r.load = sendLoad(r.first.url, procSales)
	waitCond(t, 30*time.Second, "half the webhooks answered and deliveries under way",
		func() bool { return r.load.acked() >= procSales/2 && len(r.pusher.Events()) >= 20 })
	return r
}

func buildRelay(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command to build the binary: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "salerelay")
	cmd := exec.Command(goBin, "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// procEnv is the environment of `salerelay serve` for a test: embedded JetStream on free
// ports in a temporary directory, the stand-in as Pusher. Nothing is inherited but PATH.
func procEnv(t *testing.T, pusherHost string) map[string]string {
	t.Helper()
	return map[string]string{
		"PATH":                           os.Getenv("PATH"),
		"PORT":                           strconv.Itoa(freePort(t)),
		"NATS_LISTEN":                    "127.0.0.1:" + strconv.Itoa(freePort(t)),
		"DATA_DIR":                       t.TempDir(),
		"PUSHER_APP_ID":                  procAppID,
		"PUSHER_KEY":                     procKey,
		"PUSHER_SECRET":                  procSecret,
		"PUSHER_HOST":                    pusherHost,
		"PUSHER_TLS":                     "false",
		"APPWRITE_WEBHOOK_URL":           procURL,
		"APPWRITE_WEBHOOK_SIGNATURE_KEY": procSigKey,
		"LOG_LEVEL":                      "info",
	}
}

// relayProcess is one running `salerelay serve`.
type relayProcess struct {
	t      *testing.T
	cmd    *exec.Cmd
	url    string
	log    *os.File
	exited chan struct{}
	code   int
}

func startRelay(t *testing.T, bin string, env map[string]string) *relayProcess {
	t.Helper()
	log, err := os.CreateTemp(t.TempDir(), "salerelay-*.log")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start salerelay: %v", err)
	}

	p := &relayProcess{t: t, cmd: cmd, url: "http://127.0.0.1:" + env["PORT"], log: log,
		exited: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		var exit *exec.ExitError
		switch {
		case errors.As(err, &exit):
			p.code = exit.ExitCode() // -1 when killed by a signal
		case err != nil:
			p.code = -2
		}
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			raw, _ := os.ReadFile(log.Name())
			t.Logf("salerelay log (warnings and errors):\n%s", importantLines(raw))
		}
	})
	return p
}

// importantLines keeps the log lines above info level.
func importantLines(raw []byte) string {
	var out strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if line := sc.Text(); !strings.Contains(line, `"level":"INFO"`) {
			out.WriteString(line + "\n")
		}
	}
	return out.String()
}

// waitReady polls /readyz until it answers 200.
func (p *relayProcess) waitReady() {
	p.t.Helper()
	waitCond(p.t, 30*time.Second, "/readyz 200", func() bool {
		select {
		case <-p.exited:
			p.t.Fatalf("salerelay exited with %d before it was ready", p.code)
		default:
		}
		resp, err := http.Get(p.url + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// waitQueueEmpty polls /metrics until no decision waits in the work consumer.
func (p *relayProcess) waitQueueEmpty() {
	p.t.Helper()
	waitCond(p.t, 30*time.Second, "an empty work queue", func() bool {
		resp, err := http.Get(p.url + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if sc.Text() == "salerelay_queue_pending_messages 0" {
				return true
			}
		}
		return false
	})
}

func (p *relayProcess) kill(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %v: %v", sig, err)
	}
}

// waitExit waits for the process to end and returns its exit code (-1 when a signal
// ended it).
func (p *relayProcess) waitExit(limit time.Duration) int {
	p.t.Helper()
	select {
	case <-p.exited:
		return p.code
	case <-time.After(limit):
		p.t.Fatalf("salerelay still running %s after the signal", limit)
		return 0
	}
}

// --- the load ------------------------------------------------------------------------

// webhookLoad sends one signed webhook per sale from a few concurrent senders and
// remembers which ones were answered 200.
type webhookLoad struct {
	mu     sync.Mutex
	ok     map[int]bool
	bodies [][]byte
	done   sync.WaitGroup
}

// sendLoad starts sending n webhooks to url in the background.
func sendLoad(url string, n int) *webhookLoad {
	l := &webhookLoad{ok: map[int]bool{}}
	for i := range n {
		l.bodies = append(l.bodies, saleWebhook(i))
	}
	next := make(chan int)
	go func() {
		defer close(next)
		for i := range n {
			next <- i
		}
	}()
	client := &http.Client{Timeout: 15 * time.Second}
	for range 8 {
		l.done.Go(func() {
			for i := range next {
				if postWebhook(client, url, i, l.bodies[i]) == nil {
					l.mu.Lock()
					l.ok[i] = true
					l.mu.Unlock()
				}
			}
		})
	}
	return l
}

func (l *webhookLoad) wait() { l.done.Wait() }

func (l *webhookLoad) acked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.ok)
}

// resend sends again every webhook that got no 200, and requires a 200 now.
func (l *webhookLoad) resend(t *testing.T, url string) {
	t.Helper()
	client := &http.Client{Timeout: 15 * time.Second}
	for i, body := range l.bodies {
		if l.ok[i] {
			continue
		}
		if err := postWebhook(client, url, i, body); err != nil {
			t.Fatalf("resend webhook %d: %v", i, err)
		}
	}
}

func saleID(i int) string { return fmt.Sprintf("69c9593b%012d", i) }

// saleWebhook is a real-shaped Appwrite 1.8 body for a confirmed sale i.
func saleWebhook(i int) []byte {
	return fmt.Appendf(nil, `{"$id":"%s","date":"2026-11-20","currency":"USD",`+
		`"buy_state":"VERIFIED","products":"[{\"productId\":\"p-1001\",\"quantity\":2,`+
		`\"price\":5.25}]","user_id":"698f8275%012d","delivery_type":"PICKUP","amount":10.5,`+
		`"$sequence":%d,"$createdAt":"2026-11-20T14:58:41.902+00:00",`+
		`"$updatedAt":"2026-11-20T15:04:05.123+00:00","$permissions":[],`+
		`"$databaseId":"shop","$collectionId":"sales"}`, saleID(i), i, i+1)
}

// postWebhook sends body signed as Appwrite does; nil means 200 and queued (or a
// duplicate of something queued before).
func postWebhook(client *http.Client, url string, i int, body []byte) error {
	req, err := http.NewRequest(http.MethodPost, url+"/webhooks/appwrite", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Appwrite-Webhook-Events",
		"databases.shop.collections.sales.documents."+saleID(i)+".update")
	req.Header.Set("X-Appwrite-Webhook-Signature",
		webhook.NewSigner(procURL, procSigKey).Sign(body))
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var answer struct {
		OK      bool   `json:"ok"`
		Queued  bool   `json:"queued"`
		Ignored string `json:"ignored"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
		return fmt.Errorf("answer %d: %w", resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusOK || !(answer.Queued || answer.Ignored == "duplicate") {
		return fmt.Errorf("answered %d %+v", resp.StatusCode, answer)
	}
	return nil
}

// --- what reached Pusher ---------------------------------------------------------------

// startProcStandIn starts the Pusher stand-in and returns it with its host:port.
func startProcStandIn(t *testing.T) (*pusherlocal.Server, string) {
	t.Helper()
	srv := pusherlocal.New(pusherlocal.Config{AppID: procAppID, Key: procKey,
		Secret: procSecret})
	host, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatalf("start pusher stand-in: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv, host
}

// salesDelivered counts the stand-in's events per sale id.
func salesDelivered(t *testing.T, pusher *pusherlocal.Server) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, ev := range pusher.Events() {
		var p events.Payload
		if err := json.Unmarshal([]byte(ev.Data), &p); err != nil {
			t.Fatalf("event data %q: %v", ev.Data, err)
		}
		out[p.SaleID]++
	}
	return out
}

// duplicates counts events beyond the first for each sale.
func duplicates(t *testing.T, pusher *pusherlocal.Server) int {
	t.Helper()
	n := 0
	for _, count := range salesDelivered(t, pusher) {
		n += count - 1
	}
	return n
}

// openClaims opens the dead process's data directory and counts the ledger's open
// claims: decisions a worker had claimed (and maybe sent) but not recorded as delivered.
func openClaims(t *testing.T, dataDir string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	b, err := broker.Open(ctx, broker.Options{DataDir: dataDir, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("open the killed process's data: %v", err)
	}
	defer b.Close()

	kv, err := b.JS.KeyValue(ctx, events.LedgerBucket)
	if err != nil {
		t.Fatalf("open ledger: %v", err)
	}
	keys, err := kv.ListKeys(ctx)
	if err != nil {
		t.Fatalf("list ledger keys: %v", err)
	}
	open := 0
	for key := range keys.Keys() {
		kve, err := kv.Get(ctx, key)
		if err != nil {
			t.Fatalf("read ledger %s: %v", key, err)
		}
		// The ledger's JSON form (worker.entry): an open claim is a "pending" record.
		var e struct {
			Pending json.RawMessage `json:"pending"`
		}
		if err := json.Unmarshal(kve.Value(), &e); err != nil {
			t.Fatalf("decode ledger %s: %v", key, err)
		}
		if len(e.Pending) > 0 && string(e.Pending) != "null" {
			open++
		}
	}
	return open
}

// --- small helpers ---------------------------------------------------------------------

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitCond polls cond every 20 ms until it holds, failing the test after limit.
func waitCond(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting for %s after %s", what, limit)
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("test ended while waiting for %s", what)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
