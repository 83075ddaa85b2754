package app

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
	"go.yaml.in/yaml/v3"

	"github.com/salerelay/salerelay/events"
)

// TestFixturesOnExternalNATS runs the fixtures suite against a NATS server the App does
// not own, reached through NATS_URL, as in compose and Kubernetes. The server runs
// in-process, so this always runs; TestFixturesOnContainerNATS repeats it on the image
// compose uses.
func TestFixturesOnExternalNATS(t *testing.T) {
	fx := loadFixtures(t)
	port := freePort(t)
	startNATSServer(t, port, t.TempDir())

	cfg := testConfig(t, fx, t.TempDir())
	cfg.NATSURL = fmt.Sprintf("nats://127.0.0.1:%d", port)
	s := startStack(t, cfg, nil, events.StreamOptions{})
	if s.app.Broker().Embedded() {
		t.Fatalf("app started its embedded server, want the one at %s", cfg.NATSURL)
	}
	runFixtureSuite(t, s, fx)
}

// TestFixturesOnContainerNATS starts the NATS image of docker-compose.yml with JetStream
// in a container and runs the fixtures suite against it. It is skipped where no Docker
// engine answers.
func TestFixturesOnContainerNATS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a container; skipped with -short")
	}
	requireDocker(t)
	image := composeNATSImage(t)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ctr, err := testcontainers.Run(ctx, image,
		testcontainers.WithCmd("-js"),
		testcontainers.WithExposedPorts("4222/tcp"),
		testcontainers.WithWaitStrategy(
			wait.ForLog("Server is ready"),
			wait.ForListeningPort("4222/tcp"),
		),
	)
	testcontainers.CleanupContainer(t, ctr)
	if err != nil {
		t.Fatalf("start %s: %v", image, err)
	}
	url, err := ctr.PortEndpoint(ctx, "4222/tcp", "nats")
	if err != nil {
		t.Fatalf("nats endpoint of the container: %v", err)
	}

	fx := loadFixtures(t)
	cfg := testConfig(t, fx, t.TempDir())
	cfg.NATSURL = url
	s := startStack(t, cfg, nil, events.StreamOptions{})
	runFixtureSuite(t, s, fx)
}

// runFixtureSuite sends every fixture to s and checks the answers and that exactly the
// expected events reach the Pusher stand-in, as TestFixturesEndToEnd does on the
// embedded server.
func runFixtureSuite(t *testing.T, s *stack, fx *fixtureSet) {
	t.Helper()
	var want []fixtureEvent
	for _, c := range fx.Cases {
		status, answer := s.post("/webhooks/appwrite", c.body(t, fx), c.header())
		if status != c.Expect.Status {
			t.Errorf("%s: status %d, want %d (answer %v)", c.Name, status, c.Expect.Status, answer)
		}
		if c.Expect.Queued != nil && answer["queued"] != *c.Expect.Queued {
			t.Errorf("%s: queued %v, want %v (answer %v)", c.Name, answer["queued"],
				*c.Expect.Queued, answer)
		}
		want = append(want, c.Expect.Events...)
	}

	s.waitEvents(len(want))
	s.waitIdle()
	got := s.pusher.Events()
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d: %+v", len(got), len(want), got)
	}
	for _, w := range want {
		if !containsEvent(t, got, w) {
			t.Errorf("missing event %s on %s with payload %s; got %+v", w.Event, w.Channel,
				w.Payload, got)
		}
	}
}

// requireDocker skips the test unless a Docker engine answers within a few seconds.
func requireDocker(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	answered := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				answered <- fmt.Errorf("docker client: %v", r)
			}
		}()
		cli, err := testcontainers.NewDockerClientWithOpts(ctx)
		if err == nil {
			cli.Close()
		}
		answered <- err
	}()

	select {
	case err := <-answered:
		if err != nil {
			t.Skipf("no Docker engine answers (%v): container test skipped; the same "+
				"suite runs on the embedded and an in-process external server", err)
		}
	case <-ctx.Done():
		t.Skip("no Docker engine answered within 5s: container test skipped; the same " +
			"suite runs on the embedded and an in-process external server")
	}
}

// composeNATSImage is the image of the nats service in docker-compose.yml, so that the
// container test runs the server version the local stack runs.
func composeNATSImage(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "docker-compose.yml"))
	if err != nil {
		t.Fatalf("read docker-compose.yml: %v", err)
	}
	var compose struct {
		Services map[string]struct {
			Image string `yaml:"image"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(raw, &compose); err != nil {
		t.Fatalf("decode docker-compose.yml: %v", err)
	}
	image := compose.Services["nats"].Image
	if image == "" {
		t.Fatalf("docker-compose.yml has no services.nats.image")
	}
	return image
}
