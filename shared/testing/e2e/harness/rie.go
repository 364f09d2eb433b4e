//go:build e2e

package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/shadowscale/shadowscale/shared/testing/e2e/moto"
)

// RIEModule is the pinned Lambda Runtime Interface Emulator.
const RIEModule = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d"

// RepoRoot returns the directory of the module's go.mod, searching up from
// the working directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// RIE returns the path of the emulator: $AWS_LAMBDA_RIE when set, else
// .cache/tools/aws-lambda-rie in the repository, built there with `go
// install` of the pinned version on first use (the Go module proxy and
// checksum database verify it; it stays out of the project's go.mod).
func RIE(ctx context.Context) (string, error) {
	if p := os.Getenv("AWS_LAMBDA_RIE"); p != "" {
		return p, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, ".cache", "tools")
	bin := filepath.Join(dir, "aws-lambda-rie")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "go", "install", RIEModule)
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false")
	cmd.Dir = os.TempDir() // outside the module: `go install pkg@version` ignores go.mod
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the Runtime Interface Emulator (%s): %w\n%s", RIEModule, err, out)
	}
	return bin, nil
}

// BuildFunctions builds the bootstraps of fns for linux on the host
// architecture (CGO off, -tags lambda.norpc, stripped), into dir/<fn>/
// bootstrap, and returns their paths. With SHADOWSCALE_BOOTSTRAP_DIR set
// (e.g. build/lambda-amd64 from `make build`) it takes them from there.
func BuildFunctions(ctx context.Context, dir string, fns ...string) (map[string]string, error) {
	out := map[string]string{}
	if pre := os.Getenv("SHADOWSCALE_BOOTSTRAP_DIR"); pre != "" {
		for _, fn := range fns {
			p := filepath.Join(pre, fn, "bootstrap")
			if _, err := os.Stat(p); err != nil {
				return nil, fmt.Errorf("prebuilt bootstrap of %s: %w", fn, err)
			}
			out[fn] = p
		}
		return out, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	for _, fn := range fns {
		p := filepath.Join(dir, fn, "bootstrap")
		cmd := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w", "-o", p, "./functions/"+fn)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+runtime.GOARCH, "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false")
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("building %s: %w\n%s", fn, err, b)
		}
		out[fn] = p
	}
	return out, nil
}

// Function is one bootstrap running under the emulator, on its own pair of
// loopback ports.
type Function struct {
	Name    string
	URL     string // the invoke URL
	cmd     *exec.Cmd
	done    chan error
	mu      sync.Mutex
	logs    bytes.Buffer
	started time.Time
}

// StartFunction runs bootstrap under the emulator rie with exactly env
// (plus AWS_LAMBDA_FUNCTION_NAME and a short timeout) and waits until the
// emulator accepts connections. The bootstrap itself starts on the first
// invocation (that is the cold init the REPORT line measures).
func StartFunction(ctx context.Context, rie, name, bootstrap string, env map[string]string) (*Function, error) {
	api, err := moto.FreePort()
	if err != nil {
		return nil, err
	}
	emu, err := moto.FreePort()
	if err != nil {
		return nil, err
	}
	emuAddr := "127.0.0.1:" + strconv.Itoa(emu)
	f := &Function{Name: name, URL: "http://" + emuAddr + "/2015-03-31/functions/function/invocations", done: make(chan error, 1)}
	f.cmd = exec.Command(rie,
		"--log-level", "warn",
		"--runtime-interface-emulator-address", emuAddr,
		"--runtime-api-address", "127.0.0.1:"+strconv.Itoa(api),
		bootstrap)
	vars := map[string]string{
		"AWS_LAMBDA_FUNCTION_NAME":    name,
		"AWS_LAMBDA_FUNCTION_TIMEOUT": "60",
		"PATH":                        os.Getenv("PATH"),
		"HOME":                        os.TempDir(),
	}
	for k, v := range env {
		vars[k] = v
	}
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		f.cmd.Env = append(f.cmd.Env, k+"="+vars[k])
	}
	// Its own process group: Stop signals the emulator and the bootstrap
	// it started, by the group's id.
	f.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	w := &lockedWriter{f: f}
	f.cmd.Stdout, f.cmd.Stderr = w, w
	f.started = time.Now()
	if err := f.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the emulator for %s: %w", name, err)
	}
	go func() { f.done <- f.cmd.Wait() }()
	err = Eventually(ctx, 30*time.Second, func() (bool, error) {
		select {
		case err := <-f.done:
			f.done <- err
			return false, fmt.Errorf("emulator for %s exited: %v\n%s", name, err, f.Logs())
		default:
		}
		c, err := net.DialTimeout("tcp", emuAddr, time.Second)
		if err != nil {
			return false, err
		}
		c.Close()
		return true, nil
	})
	if err != nil {
		_ = f.Stop()
		return nil, err
	}
	return f, nil
}

type lockedWriter struct{ f *Function }

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.f.mu.Lock()
	defer w.f.mu.Unlock()
	return w.f.logs.Write(p)
}

// PID is the emulator's process id (the bootstrap is its child, in its
// process group); 0 when stopped.
func (f *Function) PID() int {
	if f.cmd == nil || f.cmd.Process == nil {
		return 0
	}
	return f.cmd.Process.Pid
}

// Logs returns everything the emulator and the function printed so far.
func (f *Function) Logs() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.logs.String()
}

// Invoke posts an event and returns the function's answer. A function error
// comes back as the emulator's error document, with a nil error.
func (f *Function) Invoke(ctx context.Context, event []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.URL, bytes.NewReader(event))
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("invoking %s: %w\n%s", f.Name, err, f.Logs())
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return b, fmt.Errorf("invoking %s: %s: %s", f.Name, resp.Status, b)
	}
	return b, nil
}

var reportRE = regexp.MustCompile(`REPORT RequestId: \S+\s+(?:Init Duration: ([0-9.]+) ms\s+)?Duration: ([0-9.]+) ms`)

// Report is one REPORT line of the emulator.
type Report struct {
	// Init is the emulator's "Init Duration". This emulator starts the
	// bootstrap asynchronously and reports microseconds here: use
	// ColdInit for the real figure.
	Init time.Duration
	// Duration of the invocation; for the first one it includes the
	// bootstrap's start (the emulator's init returns before it).
	Duration time.Duration
}

// Reports returns the REPORT lines printed so far, in order.
func (f *Function) Reports() []Report {
	var out []Report
	for _, m := range reportRE.FindAllStringSubmatch(f.Logs(), -1) {
		var r Report
		if m[1] != "" {
			ms, _ := strconv.ParseFloat(m[1], 64)
			r.Init = time.Duration(ms * float64(time.Millisecond))
		}
		ms, _ := strconv.ParseFloat(m[2], 64)
		r.Duration = time.Duration(ms * float64(time.Millisecond))
		out = append(out, r)
	}
	return out
}

// ProbeEvent is no EventBridge event: every plane function answers it
// "ignored" at once, without an AWS call.
var ProbeEvent = []byte(`{"probe":"cold-init"}`)

// ColdInit measures the cold start of a fresh function under the emulator:
// the wall time of its first invocation (the emulator spawns the bootstrap,
// which initialises: configuration, AWS clients, the Lambda loop) minus
// that of an identical warm one, both with ProbeEvent.
func (f *Function) ColdInit(ctx context.Context) (time.Duration, error) {
	if len(f.Reports()) > 0 {
		return 0, fmt.Errorf("%s was invoked already: not cold", f.Name)
	}
	start := time.Now()
	if _, err := f.Invoke(ctx, ProbeEvent); err != nil {
		return 0, err
	}
	cold := time.Since(start)
	start = time.Now()
	if _, err := f.Invoke(ctx, ProbeEvent); err != nil {
		return 0, err
	}
	return cold - time.Since(start), nil
}

// Stop stops the emulator (and with it the bootstrap) by its PID.
func (f *Function) Stop() error {
	if f.cmd == nil || f.cmd.Process == nil {
		return nil
	}
	pgid := f.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-f.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-f.done
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL) // a bootstrap that outlived its emulator
	f.cmd = nil
	return nil
}
