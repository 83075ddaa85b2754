package deploycheck

import (
	"bufio"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/salerelay/salerelay/cmd/internal/config"
)

// root is the repository, seen from this package's directory.
var root = filepath.Join("..", "..", "..")

// serveRequired are the variables `salerelay serve` cannot run without in a cluster:
// the Pusher credentials, the webhook's URL and key, and the shared NATS cluster.
var serveRequired = []string{
	"PUSHER_APP_ID", "PUSHER_KEY", "PUSHER_SECRET",
	"APPWRITE_WEBHOOK_URL", "APPWRITE_WEBHOOK_SIGNATURE_KEY",
	"NATS_URL", "STREAM_REPLICAS",
}

// sensitive variables belong in the Secret, never in the ConfigMap.
var sensitive = []string{
	"PUSHER_SECRET", "APPWRITE_WEBHOOK_SIGNATURE_KEY", "APPWRITE_WEBHOOK_PASSWORD",
	"PUBLISHER_API_KEY", "APPWRITE_API_KEY", "ADMIN_TOKEN",
}

func TestEnvExampleListsEveryVariableOnce(t *testing.T) {
	env := readEnvFile(t, ".env.example")
	known := knownNames()

	for _, name := range env.order {
		if !known[name] {
			t.Errorf(".env.example sets %s, which the configuration does not read", name)
		}
	}
	for _, name := range config.Names() {
		if _, ok := env.values[name]; !ok {
			t.Errorf(".env.example misses %s; add it with a comment and its default", name)
		}
	}
	seen := map[string]bool{}
	for _, name := range env.order {
		if seen[name] {
			t.Errorf(".env.example sets %s twice", name)
		}
		seen[name] = true
	}
}

func TestEnvExampleCommentsEveryVariable(t *testing.T) {
	lines := strings.Split(readFile(t, ".env.example"), "\n")
	for i, line := range lines {
		name, _, ok := strings.Cut(line, "=")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		if i == 0 || !strings.HasPrefix(lines[i-1], "#") {
			t.Errorf(".env.example line %d: %s has no comment line above it", i+1, name)
		}
	}
}

func TestComposeSetsOnlyKnownVariables(t *testing.T) {
	compose := readCompose(t)
	known := knownNames()

	for service, svc := range compose.Services {
		for name := range svc.environment(t) {
			if service == "soketi" && strings.HasPrefix(name, "SOKETI_") {
				continue // soketi's own settings
			}
			if !known[name] {
				t.Errorf("docker-compose.yml: service %s sets %s, which salerelay does not read",
					service, name)
			}
		}
	}

	refs := regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)`)
	for _, m := range refs.FindAllStringSubmatch(readFile(t, "docker-compose.yml"), -1) {
		if !known[m[1]] {
			t.Errorf("docker-compose.yml refers to ${%s}, which .env.example cannot hold: "+
				"salerelay does not read it", m[1])
		}
	}
}

// TestComposeWiresTheLocalStack checks that salerelay reads .env, reaches the nats and
// soketi services by name, publishes its PORT, and that soketi takes the same
// credentials salerelay signs with.
func TestComposeWiresTheLocalStack(t *testing.T) {
	compose := readCompose(t)
	relay, ok := compose.Services["salerelay"]
	if !ok {
		t.Fatalf("docker-compose.yml has no salerelay service")
	}
	if !slices.Contains(relay.envFiles(t), ".env") {
		t.Errorf("salerelay env_file is %v, want .env (cp .env.example .env)", relay.envFiles(t))
	}

	env := relay.environment(t)
	for name, service := range map[string]string{"NATS_URL": "nats", "PUSHER_HOST": "soketi"} {
		host := strings.TrimPrefix(env[name], "nats://")
		host, _, _ = strings.Cut(host, ":")
		if _, ok := compose.Services[host]; !ok || host != service {
			t.Errorf("salerelay %s is %q, want the %s service", name, env[name], service)
		}
	}
	if env["PUSHER_TLS"] != "false" {
		t.Errorf("salerelay PUSHER_TLS is %q, want false for soketi", env["PUSHER_TLS"])
	}

	port := readEnvFile(t, ".env.example").values["PORT"]
	published := false
	for _, p := range relay.Ports {
		published = published || strings.HasSuffix(p, ":"+port) ||
			strings.HasSuffix(p, ":${PORT:-"+port+"}")
	}
	if !published {
		t.Errorf("salerelay ports %v do not publish container port %s", relay.Ports, port)
	}

	soketi := compose.Services["soketi"].environment(t)
	for soketiName, name := range map[string]string{
		"SOKETI_DEFAULT_APP_ID": "PUSHER_APP_ID", "SOKETI_DEFAULT_APP_KEY": "PUSHER_KEY",
		"SOKETI_DEFAULT_APP_SECRET": "PUSHER_SECRET",
	} {
		if !strings.HasPrefix(soketi[soketiName], "${"+name) {
			t.Errorf("soketi %s is %q, want ${%s...} so that it matches salerelay's",
				soketiName, soketi[soketiName], name)
		}
	}
}

// TestEnvExampleIsAValidServeConfig loads .env.example, with and without the compose
// overrides, through the real configuration and validates it as `serve` does.
func TestEnvExampleIsAValidServeConfig(t *testing.T) {
	env := readEnvFile(t, ".env.example").values
	t.Run("alone", func(t *testing.T) {
		if err := validateServe(t, env); err != nil {
			t.Errorf(".env.example is not a valid serve configuration:\n%v", err)
		}
	})
	t.Run("with compose", func(t *testing.T) {
		merged := map[string]string{}
		for k, v := range env {
			merged[k] = v
		}
		for k, v := range readCompose(t).Services["salerelay"].environment(t) {
			merged[k] = v
		}
		if err := validateServe(t, merged); err != nil {
			t.Errorf(".env.example with the compose overrides is not valid:\n%v", err)
		}
	})
}

func TestKubernetesConfigCoversServe(t *testing.T) {
	cm := readManifest(t, "deploy/k8s/configmap.yaml")
	secret := readManifest(t, "deploy/k8s/secret.example.yaml")
	known := knownNames()

	for _, m := range []struct {
		file string
		data map[string]string
	}{
		{"configmap.yaml data", cm.Data},
		{"secret.example.yaml stringData", secret.StringData},
	} {
		for name := range m.data {
			if !known[name] {
				t.Errorf("%s sets %s, which the configuration does not read", m.file, name)
			}
		}
	}
	for name := range cm.Data {
		if _, ok := secret.StringData[name]; ok {
			t.Errorf("%s is in both the ConfigMap and the Secret: one silently wins", name)
		}
		if slices.Contains(sensitive, name) {
			t.Errorf("%s is sensitive: move it from the ConfigMap to the Secret", name)
		}
	}
	env := merge(cm.Data, secret.StringData)
	for _, name := range serveRequired {
		if env[name] == "" {
			t.Errorf("the ConfigMap and Secret together miss %s, which serve requires", name)
		}
	}
	if err := validateServe(t, env); err != nil {
		t.Errorf("ConfigMap and Secret together are not a valid serve configuration:\n%v", err)
	}
}

func TestKustomizationListsExistingFilesButNoSecret(t *testing.T) {
	var k struct {
		Resources []string `yaml:"resources"`
	}
	decodeYAML(t, "deploy/k8s/kustomization.yaml", &k)
	if len(k.Resources) == 0 {
		t.Fatalf("kustomization.yaml lists no resources")
	}
	for _, r := range k.Resources {
		if _, err := os.Stat(filepath.Join(root, "deploy", "k8s", r)); err != nil {
			t.Errorf("kustomization.yaml lists %s: %v", r, err)
		}
		if strings.Contains(r, "secret") {
			t.Errorf("kustomization.yaml lists %s: the Secret is created out of band", r)
		}
	}
	for _, want := range []string{"configmap.yaml", "deployment.yaml", "service.yaml", "pdb.yaml"} {
		if !slices.Contains(k.Resources, want) {
			t.Errorf("kustomization.yaml does not list %s", want)
		}
	}
}

// TestDeploymentMatchesTheBinary checks the Deployment against what salerelay serves:
// the serve command, the ConfigMap's PORT, /readyz and /healthz, and a grace period
// longer than the 30 s a stop may take.
func TestDeploymentMatchesTheBinary(t *testing.T) {
	d := readManifest(t, "deploy/k8s/deployment.yaml")
	cm := readManifest(t, "deploy/k8s/configmap.yaml")
	secret := readManifest(t, "deploy/k8s/secret.example.yaml")
	spec := d.Spec.Template.Spec

	if d.Spec.Replicas < 2 {
		t.Errorf("Deployment replicas %d, want at least 2", d.Spec.Replicas)
	}
	if len(spec.Containers) != 1 {
		t.Fatalf("Deployment has %d containers, want 1", len(spec.Containers))
	}
	c := spec.Containers[0]
	if !slices.Equal(c.Args, []string{"serve"}) {
		t.Errorf("container args %v, want [serve]", c.Args)
	}

	port, err := strconv.Atoi(cm.Data["PORT"])
	if err != nil {
		t.Fatalf("ConfigMap PORT %q: %v", cm.Data["PORT"], err)
	}
	portName := ""
	for _, p := range c.Ports {
		if p.ContainerPort == port {
			portName = p.Name
		}
	}
	if portName == "" {
		t.Errorf("container ports %+v do not include PORT %d", c.Ports, port)
	}

	for _, probe := range []struct {
		kind string
		p    *probe
		path string
	}{
		{"readinessProbe", c.ReadinessProbe, "/readyz"},
		{"livenessProbe", c.LivenessProbe, "/healthz"},
	} {
		switch {
		case probe.p == nil || probe.p.HTTPGet == nil:
			t.Errorf("%s is missing or not httpGet", probe.kind)
		case probe.p.HTTPGet.Path != probe.path:
			t.Errorf("%s path %q, want %q", probe.kind, probe.p.HTTPGet.Path, probe.path)
		case probe.p.HTTPGet.Port != portName && probe.p.HTTPGet.Port != strconv.Itoa(port):
			t.Errorf("%s port %q, want %q or %d", probe.kind, probe.p.HTTPGet.Port, portName, port)
		}
	}

	var refs []string
	for _, e := range c.EnvFrom {
		if e.ConfigMapRef != nil {
			refs = append(refs, "configmap/"+e.ConfigMapRef.Name)
		}
		if e.SecretRef != nil {
			refs = append(refs, "secret/"+e.SecretRef.Name)
		}
	}
	for _, want := range []string{"configmap/" + cm.Metadata.Name, "secret/" + secret.Metadata.Name} {
		if !slices.Contains(refs, want) {
			t.Errorf("container envFrom %v does not read %s", refs, want)
		}
	}

	if c.Resources.Requests["cpu"] == "" || c.Resources.Requests["memory"] == "" {
		t.Errorf("container resource requests %v, want cpu and memory", c.Resources.Requests)
	}
	wait := 0
	if c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
		wait = c.Lifecycle.PreStop.Sleep.Seconds
	}
	if spec.TerminationGracePeriodSeconds <= 30+wait {
		t.Errorf("terminationGracePeriodSeconds %d, want above the %d s preStop wait plus "+
			"the 30 s a stop may take", spec.TerminationGracePeriodSeconds, wait)
	}
	if a := d.Spec.Template.Metadata.Annotations; a["prometheus.io/port"] != strconv.Itoa(port) ||
		a["prometheus.io/path"] != "/metrics" {
		t.Errorf("prometheus annotations %v, want port %d and path /metrics", a, port)
	}
}

func TestServiceAndBudgetSelectTheDeployment(t *testing.T) {
	d := readManifest(t, "deploy/k8s/deployment.yaml")
	labels := d.Spec.Template.Metadata.Labels
	for _, file := range []string{"deploy/k8s/service.yaml", "deploy/k8s/pdb.yaml"} {
		m := readManifest(t, file)
		selector := m.Spec.Selector
		if len(selector) == 0 {
			selector = m.Spec.SelectorMatch.MatchLabels
		}
		if len(selector) == 0 {
			t.Errorf("%s selects nothing", file)
		}
		for k, v := range selector {
			if labels[k] != v {
				t.Errorf("%s selects %s=%s, which the pods do not carry (%v)", file, k, v, labels)
			}
		}
	}
}

// TestNATSValuesHoldTheStreamReplicas checks that the Helm values give a JetStream
// cluster with at least as many nodes as the ConfigMap's STREAM_REPLICAS.
func TestNATSValuesHoldTheStreamReplicas(t *testing.T) {
	var v struct {
		Config struct {
			Cluster struct {
				Enabled  bool `yaml:"enabled"`
				Replicas int  `yaml:"replicas"`
			} `yaml:"cluster"`
			JetStream struct {
				Enabled   bool `yaml:"enabled"`
				FileStore struct {
					Enabled bool `yaml:"enabled"`
				} `yaml:"fileStore"`
			} `yaml:"jetstream"`
		} `yaml:"config"`
	}
	decodeYAML(t, "deploy/nats/values.yaml", &v)
	replicas, err := strconv.Atoi(readManifest(t, "deploy/k8s/configmap.yaml").Data["STREAM_REPLICAS"])
	if err != nil {
		t.Fatalf("ConfigMap STREAM_REPLICAS: %v", err)
	}
	if !v.Config.JetStream.Enabled || !v.Config.JetStream.FileStore.Enabled {
		t.Errorf("NATS values: JetStream with file storage is off")
	}
	if !v.Config.Cluster.Enabled || v.Config.Cluster.Replicas < replicas {
		t.Errorf("NATS values: cluster enabled %v with %d nodes, want at least STREAM_REPLICAS=%d",
			v.Config.Cluster.Enabled, v.Config.Cluster.Replicas, replicas)
	}
}

// TestDockerfileMatchesTheBinary checks the image build against cmd/salerelay: the
// ldflags stamp variables main really declares, the image runs serve on the default
// PORT, and every ENV is a variable the configuration reads.
func TestDockerfileMatchesTheBinary(t *testing.T) {
	dockerfile := readFile(t, "deploy/Dockerfile")
	known := knownNames()

	for _, name := range dockerfileEnv(t, dockerfile) {
		if !known[name] {
			t.Errorf("deploy/Dockerfile sets ENV %s, which the configuration does not read", name)
		}
	}

	vars := mainVars(t)
	for _, v := range []string{"version", "commit"} {
		if !strings.Contains(dockerfile, "-X main."+v+"=") {
			t.Errorf("deploy/Dockerfile does not stamp main.%s with -ldflags -X", v)
		}
		if !vars[v] {
			t.Errorf("deploy/Dockerfile stamps main.%s, but cmd/salerelay declares no such "+
				"string variable", v)
		}
	}

	cfg := loadClean(t, nil)
	for _, want := range []string{
		"./cmd/salerelay", `CMD ["serve"]`, "EXPOSE " + strconv.Itoa(cfg.Port),
		"CGO_ENABLED=0", "USER nonroot",
	} {
		if !strings.Contains(dockerfile, want) {
			t.Errorf("deploy/Dockerfile lacks %q", want)
		}
	}
}

// --- reading the files ---------------------------------------------------------------

func readFile(t *testing.T, rel string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatalf("read %s: %v", rel, err)
	}
	return string(raw)
}

func decodeYAML(t *testing.T, rel string, v any) {
	t.Helper()
	if err := yaml.Unmarshal([]byte(readFile(t, rel)), v); err != nil {
		t.Fatalf("decode %s: %v", rel, err)
	}
}

// envFile is a NAME=value file such as .env.example, in file order.
type envFile struct {
	values map[string]string
	order  []string
}

var envName = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)

func readEnvFile(t *testing.T, rel string) envFile {
	t.Helper()
	env := envFile{values: map[string]string{}}
	sc := bufio.NewScanner(strings.NewReader(readFile(t, rel)))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		if !ok || !envName.MatchString(name) {
			t.Fatalf("%s line %d: %q is not NAME=value", rel, n, line)
		}
		env.values[name] = value
		env.order = append(env.order, name)
	}
	return env
}

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
}

type composeService struct {
	Image       string    `yaml:"image"`
	Environment yaml.Node `yaml:"environment"`
	EnvFile     yaml.Node `yaml:"env_file"`
	Ports       []string  `yaml:"ports"`
}

func readCompose(t *testing.T) composeFile {
	t.Helper()
	var c composeFile
	decodeYAML(t, "docker-compose.yml", &c)
	if len(c.Services) == 0 {
		t.Fatalf("docker-compose.yml has no services")
	}
	return c
}

// environment reads the map form (NAME: value) or the list form (- NAME=value).
func (s composeService) environment(t *testing.T) map[string]string {
	t.Helper()
	env := map[string]string{}
	switch s.Environment.Kind {
	case 0:
	case yaml.MappingNode:
		if err := s.Environment.Decode(&env); err != nil {
			t.Fatalf("docker-compose.yml environment: %v", err)
		}
	case yaml.SequenceNode:
		var list []string
		if err := s.Environment.Decode(&list); err != nil {
			t.Fatalf("docker-compose.yml environment: %v", err)
		}
		for _, item := range list {
			name, value, _ := strings.Cut(item, "=")
			env[name] = value
		}
	default:
		t.Fatalf("docker-compose.yml environment is neither a map nor a list")
	}
	return env
}

// envFiles reads env_file as a string or a list of strings (the long form's path too).
func (s composeService) envFiles(t *testing.T) []string {
	t.Helper()
	switch s.EnvFile.Kind {
	case 0:
		return nil
	case yaml.ScalarNode:
		return []string{s.EnvFile.Value}
	}
	var items []yaml.Node
	if err := s.EnvFile.Decode(&items); err != nil {
		t.Fatalf("docker-compose.yml env_file: %v", err)
	}
	var out []string
	for _, item := range items {
		var long struct {
			Path string `yaml:"path"`
		}
		if item.Kind == yaml.ScalarNode {
			out = append(out, item.Value)
		} else if item.Decode(&long) == nil {
			out = append(out, long.Path)
		}
	}
	return out
}

// manifest holds the fields of the Kubernetes objects the tests look at.
type manifest struct {
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Data       map[string]string `yaml:"data"`
	StringData map[string]string `yaml:"stringData"`
	Spec       struct {
		Replicas      int               `yaml:"replicas"`
		Selector      map[string]string `yaml:"-"`
		SelectorMatch struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"-"`
		RawSelector yaml.Node `yaml:"selector"`
		Template    struct {
			Metadata struct {
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"metadata"`
			Spec struct {
				TerminationGracePeriodSeconds int         `yaml:"terminationGracePeriodSeconds"`
				Containers                    []container `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type container struct {
	Args  []string `yaml:"args"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	EnvFrom []struct {
		ConfigMapRef *struct {
			Name string `yaml:"name"`
		} `yaml:"configMapRef"`
		SecretRef *struct {
			Name string `yaml:"name"`
		} `yaml:"secretRef"`
	} `yaml:"envFrom"`
	Lifecycle struct {
		PreStop *struct {
			Sleep *struct {
				Seconds int `yaml:"seconds"`
			} `yaml:"sleep"`
		} `yaml:"preStop"`
	} `yaml:"lifecycle"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
	Resources      struct {
		Requests map[string]string `yaml:"requests"`
	} `yaml:"resources"`
}

type probe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"` // a name or a number, read as text
	} `yaml:"httpGet"`
}

// readManifest decodes one object. A Service's selector is a plain label map, a
// Deployment's and a PodDisruptionBudget's has matchLabels: both are filled in.
func readManifest(t *testing.T, rel string) manifest {
	t.Helper()
	var m manifest
	decodeYAML(t, rel, &m)
	if m.Spec.RawSelector.Kind == yaml.MappingNode {
		var plain map[string]any
		if err := m.Spec.RawSelector.Decode(&plain); err != nil {
			t.Fatalf("%s selector: %v", rel, err)
		}
		if _, ok := plain["matchLabels"]; ok {
			if err := m.Spec.RawSelector.Decode(&m.Spec.SelectorMatch); err != nil {
				t.Fatalf("%s selector: %v", rel, err)
			}
		} else if err := m.Spec.RawSelector.Decode(&m.Spec.Selector); err != nil {
			t.Fatalf("%s selector: %v", rel, err)
		}
	}
	return m
}

// dockerfileEnv returns the names set by ENV instructions (ARG is build-time only).
func dockerfileEnv(t *testing.T, dockerfile string) []string {
	t.Helper()
	var names []string
	for line := range strings.Lines(dockerfile) {
		fields := strings.Fields(line)
		if len(fields) < 2 || !strings.EqualFold(fields[0], "ENV") {
			continue
		}
		if !strings.Contains(fields[1], "=") { // legacy form: ENV NAME value
			names = append(names, fields[1])
			continue
		}
		for _, f := range fields[1:] {
			if name, _, ok := strings.Cut(f, "="); ok {
				names = append(names, name)
			}
		}
	}
	if len(names) == 0 {
		t.Logf("deploy/Dockerfile sets no ENV")
	}
	return names
}

// mainVars returns the package-level string variables of cmd/salerelay.
func mainVars(t *testing.T) map[string]bool {
	t.Helper()
	dir := filepath.Join(root, "cmd", "salerelay")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read cmd/salerelay: %v", err)
	}
	vars := map[string]bool{}
	fset := token.NewFileSet()
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatalf("parse %s: %v", e.Name(), err)
		}
		if f.Name.Name != "main" {
			continue
		}
		for _, decl := range f.Decls {
			gen, ok := decl.(*ast.GenDecl)
			if !ok || gen.Tok != token.VAR {
				continue
			}
			for _, spec := range gen.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					// -X sets only string variables, initialised by constants or not at all.
					isString := len(vs.Values) > i && isStringLit(vs.Values[i])
					if id, ok := vs.Type.(*ast.Ident); ok && id.Name == "string" {
						isString = true
					}
					vars[name.Name] = isString
				}
			}
		}
	}
	return vars
}

func isStringLit(e ast.Expr) bool {
	lit, ok := e.(*ast.BasicLit)
	return ok && lit.Kind == token.STRING
}

// --- the configuration -------------------------------------------------------------

func knownNames() map[string]bool {
	known := map[string]bool{}
	for _, name := range config.Names() {
		known[name] = true
	}
	return known
}

func merge(maps ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range maps {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// loadClean loads the configuration from env alone: every variable the configuration
// reads is cleared first (an empty value counts as unset), so the machine's own
// environment plays no part.
func loadClean(t *testing.T, env map[string]string) config.Config {
	t.Helper()
	cfg, err := loadCleanErr(t, env)
	if err != nil {
		t.Fatalf("load configuration: %v", err)
	}
	return cfg
}

func loadCleanErr(t *testing.T, env map[string]string) (config.Config, error) {
	t.Helper()
	for _, name := range config.Names() {
		t.Setenv(name, "")
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	return config.Load()
}

// validateServe reports what `salerelay serve` would refuse to start with.
func validateServe(t *testing.T, env map[string]string) error {
	t.Helper()
	cfg, err := loadCleanErr(t, env)
	return errors.Join(err, cfg.Validate(config.Need{Pusher: true}))
}
