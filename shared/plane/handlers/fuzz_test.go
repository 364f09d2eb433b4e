package handlers_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/shadowscale/shadowscale/shared/plane/handlers"
)

// seeds adds every sample event of events/ to the corpus.
func seeds(f *testing.F) {
	paths, err := filepath.Glob(filepath.Join("..", "..", "..", "events", "*.json"))
	if err != nil || len(paths) == 0 {
		f.Fatalf("no sample events: %v", err)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"source":"aws.ec2","detail-type":"EC2 Instance State-change Notification","detail":{"instance-id":"i-0","state":"running"}}`))
}

// FuzzParse: the registry never panics, and whatever it accepts is one of
// the typed events with its invariants.
func FuzzParse(f *testing.F) {
	seeds(f)
	r := handlers.DefaultRegistry()
	f.Fuzz(func(t *testing.T, payload []byte) {
		ev, err := r.Parse(payload)
		if err != nil {
			return
		}
		switch e := ev.(type) {
		case handlers.InstanceStateChange:
			if len(e.InstanceID) < 3 || len(e.InstanceID) > 64 || e.InstanceID[:2] != "i-" || e.State == "" {
				t.Fatalf("accepted %+v", e)
			}
		case handlers.GroupInstanceEvent:
			if len(e.InstanceID) < 3 || len(e.InstanceID) > 64 || e.InstanceID[:2] != "i-" || e.Group == "" || len(e.Group) > 255 {
				t.Fatalf("accepted %+v", e)
			}
		case handlers.LaunchAction:
			if len(e.InstanceID) < 3 || e.InstanceID[:2] != "i-" || e.Group == "" || e.Hook == "" || e.Token == "" || e.Transition != handlers.TransitionLaunching {
				t.Fatalf("accepted %+v", e)
			}
		case handlers.Scheduled:
		default:
			t.Fatalf("parsed into %T", ev)
		}
	})
}

// FuzzHandlers: the three handlers, on in-memory adapters, never panic,
// and never return an error for an event they cannot parse (an error makes
// Lambda retry it).
func FuzzHandlers(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, payload []byte) {
		e := newEnv(t, 10)
		withShadow(t, e)
		_, perr := handlers.DefaultRegistry().Parse(payload)
		for name, h := range map[string]handlers.HandleFunc{
			"launch":     launch(t, e).Handle,
			"terminate":  terminate(t, e).Handle,
			"reconciler": reconciler(t, e).Handle,
		} {
			resp, err := h(invocation(), payload)
			if perr != nil && (err != nil || resp.Outcome != handlers.OutcomeIgnored) {
				t.Fatalf("%s: unparseable payload answered %+v, %v", name, resp, err)
			}
		}
	})
}
