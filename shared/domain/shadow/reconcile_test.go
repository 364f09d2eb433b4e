package shadow_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/shadowscale/shadowscale/shared/domain/shadow"
)

func inst(id string, st shadow.State, tags map[string]string) shadow.Instance {
	return shadow.Instance{ID: id, State: st, Tags: tags, LaunchedAt: t0.Add(-time.Hour)}
}

func shadowTags(live string, gen string) map[string]string {
	return map[string]string{shadow.TagRole: "shadow", shadow.TagStack: stack, shadow.TagLive: live, shadow.TagGeneration: gen}
}

func TestReconcile(t *testing.T) {
	opt := shadow.DefaultReconcileOptions()
	now := t0
	synced := now.Add(-time.Hour)
	active := func(live, sh string) shadow.Record {
		return shadow.Record{LiveID: live, ShadowID: sh, Status: shadow.Active, Generation: 1, UpdatedAt: synced, SyncedAt: synced}
	}
	tests := []struct {
		name string
		obs  shadow.Observed
		want []shadow.Action
	}{
		{
			name: "in sync: nothing to do",
			obs: shadow.Observed{
				Lives: []shadow.Instance{inst("i-l1", shadow.Running, nil)}, Shadows: []shadow.Instance{inst("i-s1", shadow.Running, shadowTags("i-l1", "1"))},
				Records: []shadow.Record{active("i-l1", "i-s1")},
			},
		},
		{
			name: "missing shadow is created",
			obs:  shadow.Observed{Lives: []shadow.Instance{inst("i-l1", shadow.Running, nil)}},
			want: []shadow.Action{{Kind: shadow.Create, LiveID: "i-l1", Reason: "live instance has no shadow"}},
		},
		{
			name: "a shadow in the live list never gets a shadow",
			obs:  shadow.Observed{Lives: []shadow.Instance{inst("i-s9", shadow.Running, shadowTags("i-x", "1"))}},
		},
		{
			name: "live gone: retire",
			obs:  shadow.Observed{Shadows: []shadow.Instance{inst("i-s1", shadow.Running, shadowTags("i-l1", "1"))}, Records: []shadow.Record{active("i-l1", "i-s1")}},
			want: []shadow.Action{{Kind: shadow.Retire, LiveID: "i-l1", ShadowID: "i-s1", Reason: "live instance is no longer running in an enrolled group"}},
		},
		{
			name: "shadow terminated out of band: replace",
			obs: shadow.Observed{
				Lives: []shadow.Instance{inst("i-l1", shadow.Running, nil)}, Shadows: []shadow.Instance{inst("i-s1", shadow.ShuttingDown, shadowTags("i-l1", "1"))},
				Records: []shadow.Record{active("i-l1", "i-s1")},
			},
			want: []shadow.Action{{Kind: shadow.Replace, LiveID: "i-l1", ShadowID: "i-s1", Reason: "shadow instance is shutting-down"}},
		},
		{
			name: "shadow vanished: replace",
			obs:  shadow.Observed{Lives: []shadow.Instance{inst("i-l1", shadow.Running, nil)}, Records: []shadow.Record{active("i-l1", "i-s1")}},
			want: []shadow.Action{{Kind: shadow.Replace, LiveID: "i-l1", ShadowID: "i-s1", Reason: "shadow instance no longer exists"}},
		},
		{
			name: "shadow impaired: replace",
			obs: shadow.Observed{
				Lives: []shadow.Instance{inst("i-l1", shadow.Running, nil)},
				Shadows: []shadow.Instance{func() shadow.Instance {
					s := inst("i-s1", shadow.Running, shadowTags("i-l1", "1"))
					s.Impaired = true
					return s
				}()},
				Records: []shadow.Record{active("i-l1", "i-s1")},
			},
			want: []shadow.Action{{Kind: shadow.Replace, LiveID: "i-l1", ShadowID: "i-s1", Reason: "shadow instance status checks impaired"}},
		},
		{
			name: "launch stuck: replace; launch fresh: wait",
			obs: shadow.Observed{
				Lives: []shadow.Instance{inst("i-l1", shadow.Running, nil), inst("i-l2", shadow.Running, nil)},
				Records: []shadow.Record{
					{LiveID: "i-l1", Status: shadow.Launching, Generation: 1, UpdatedAt: now.Add(-10 * time.Minute)},
					{LiveID: "i-l2", Status: shadow.Launching, Generation: 1, UpdatedAt: now.Add(-time.Minute)},
				},
			},
			want: []shadow.Action{{Kind: shadow.Replace, LiveID: "i-l1", Reason: "launch stuck for 10m0s"}},
		},
		{
			name: "orphans: unowned old shadow deleted, young one and in-flight launch kept",
			obs: shadow.Observed{
				Lives: []shadow.Instance{inst("i-l1", shadow.Running, nil), inst("i-l2", shadow.Running, nil)},
				Shadows: []shadow.Instance{
					inst("i-s1", shadow.Running, shadowTags("i-l1", "1")),
					inst("i-old", shadow.Running, shadowTags("i-l1", "1")),  // a duplicate of i-l1's
					inst("i-gone", shadow.Running, shadowTags("i-l9", "1")), // live without record
					func() shadow.Instance {
						s := inst("i-young", shadow.Running, shadowTags("i-l8", "1"))
						s.LaunchedAt = now
						return s
					}(),
					inst("i-inflight", shadow.Pending, shadowTags("i-l2", "2")),
				},
				Records: []shadow.Record{active("i-l1", "i-s1"), {LiveID: "i-l2", Status: shadow.Launching, Generation: 2, UpdatedAt: now}},
			},
			want: []shadow.Action{
				{Kind: shadow.DeleteOrphan, LiveID: "i-l1", ShadowID: "i-old", Reason: "no shadow record owns this instance"},
				{Kind: shadow.DeleteOrphan, LiveID: "i-l9", ShadowID: "i-gone", Reason: "no shadow record owns this instance"},
			},
		},
		{
			name: "resync: never synced, diverged, lagging, periodic",
			obs: shadow.Observed{
				Lives: []shadow.Instance{inst("i-l1", shadow.Running, nil), inst("i-l2", shadow.Running, nil), inst("i-l3", shadow.Running, nil), inst("i-l4", shadow.Running, nil), inst("i-l5", shadow.Running, nil)},
				Shadows: []shadow.Instance{
					inst("i-s1", shadow.Running, shadowTags("i-l1", "1")), inst("i-s2", shadow.Running, shadowTags("i-l2", "1")),
					inst("i-s3", shadow.Running, shadowTags("i-l3", "1")), inst("i-s4", shadow.Running, shadowTags("i-l4", "1")),
					inst("i-s5", shadow.Running, shadowTags("i-l5", "1")),
				},
				Records: []shadow.Record{
					func() shadow.Record { r := active("i-l1", "i-s1"); r.SyncedAt = time.Time{}; return r }(),
					active("i-l2", "i-s2"), active("i-l3", "i-s3"),
					func() shadow.Record { r := active("i-l4", "i-s4"); r.SyncedAt = now.Add(-7 * time.Hour); return r }(),
					active("i-l5", "i-s5"), // behind but converging: no action
				},
				Agents: map[string]shadow.AgentPair{
					"i-l2": {Live: shadow.AgentState{AcceptedSeq: 9, AppliedSeq: 9, Digest: "a"}, Shadow: shadow.AgentState{AcceptedSeq: 9, AppliedSeq: 9, Digest: "b"}},
					"i-l3": {Live: shadow.AgentState{AcceptedSeq: 200_010, AppliedSeq: 200_010, Digest: "a"}, Shadow: shadow.AgentState{AcceptedSeq: 10, AppliedSeq: 10, Digest: "b"}},
					"i-l5": {Live: shadow.AgentState{AcceptedSeq: 900, AppliedSeq: 900, Digest: "a"}, Shadow: shadow.AgentState{AcceptedSeq: 900, AppliedSeq: 700, Digest: "b"}},
				},
			},
			want: []shadow.Action{
				{Kind: shadow.Resync, LiveID: "i-l1", ShadowID: "i-s1", Reason: "shadow was never synced from its live instance"},
				{Kind: shadow.Resync, LiveID: "i-l2", ShadowID: "i-s2", Reason: "shadow diverged: same applied sequence 9, different digests"},
				{Kind: shadow.Resync, LiveID: "i-l3", ShadowID: "i-s3", Reason: "shadow lags its live by 200000 sequences"},
				{Kind: shadow.Resync, LiveID: "i-l4", ShadowID: "i-s4", Reason: "periodic resync (last 7h0m0s ago)"},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.obs.Now = now
			got := shadow.Reconcile(tc.obs, opt)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Reconcile =\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
}

// One reconcile pass over a broken world leaves it converged: one healthy,
// synced shadow per live instance, no orphans.
func TestReconcileExecuteConverges(t *testing.T) {
	e := newEnv(t, 10)
	ctx := context.Background()
	l1, l2, l3 := e.addLive("i-live1", "us-east-1a"), e.addLive("i-live2", "us-east-1b"), e.addLive("i-live3", "us-east-1a")
	r1, _ := e.m.Ensure(ctx, l1)
	r2, _ := e.m.Ensure(ctx, l2)
	if _, err := e.m.Ensure(ctx, l3); err != nil {
		t.Fatal(err)
	}
	e.fleet.SetState(r1.ShadowID, shadow.Terminated) // shadow killed out of band
	e.fleet.SetState(l2.ID, shadow.Terminated)       // live gone, its shadow left
	_ = r2
	stray, _ := e.fleet.Launch(ctx, shadow.LaunchSpec{SubnetID: "subnet-a1", InstanceType: "t4g.small", Tags: e.m.Tags("i-live9", "web", 1)})
	e.clock.Advance(time.Hour)

	observe := func() shadow.Observed {
		shadows, _ := e.fleet.Shadows(ctx, "")
		recs, _ := e.records.List(ctx)
		return shadow.Observed{Lives: e.fleet.Running("web"), Shadows: shadows, Records: recs, Now: e.clock.Now()}
	}
	obs := observe()
	res := e.m.Execute(ctx, shadow.Reconcile(obs, shadow.DefaultReconcileOptions()), obs.Lives)
	if err := shadow.Failed(res); err != nil {
		t.Fatal(err)
	}
	// The second pass resyncs the replacement; after it nothing is left.
	obs = observe()
	if err := shadow.Failed(e.m.Execute(ctx, shadow.Reconcile(obs, shadow.DefaultReconcileOptions()), obs.Lives)); err != nil {
		t.Fatal(err)
	}
	if acts := shadow.Reconcile(observe(), shadow.DefaultReconcileOptions()); len(acts) != 0 {
		t.Fatalf("not converged after reconcile: %+v", acts)
	}
	if s, _ := e.fleet.Get(stray.ID); s.State != shadow.Terminated {
		t.Fatal("orphan not deleted")
	}
	for _, l := range []string{"i-live1", "i-live3"} {
		if n := len(e.shadowsOf(t, l)); n != 1 {
			t.Fatalf("%s has %d shadows", l, n)
		}
	}
	if n := len(e.shadowsOf(t, "i-live2")); n != 0 {
		t.Fatalf("retired live still has %d shadows", n)
	}
}

func TestReconcileComparesCheckpoints(t *testing.T) {
	synced := t0.Add(-time.Hour)
	cp := func(pairs ...any) []shadow.Checkpoint {
		var out []shadow.Checkpoint
		for i := 0; i < len(pairs); i += 2 {
			out = append(out, shadow.Checkpoint{Seq: uint64(pairs[i].(int)), Digest: pairs[i+1].(string)})
		}
		return out
	}
	tests := []struct {
		name       string
		live, shad []shadow.Checkpoint
		want       string
	}{
		{"lagging shadow agrees at the common checkpoint", cp(256, "a", 512, "b", 768, "c"), cp(256, "a", 512, "b"), ""},
		{"lagging shadow differs at the common checkpoint", cp(256, "a", 512, "b", 768, "c"), cp(256, "a", 512, "x"), "shadow diverged: different digests at checkpoint 512"},
		{"no common checkpoint", cp(768, "c"), cp(256, "a"), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			obs := shadow.Observed{
				Now:     t0,
				Lives:   []shadow.Instance{inst("i-l1", shadow.Running, nil)},
				Shadows: []shadow.Instance{inst("i-s1", shadow.Running, shadowTags("i-l1", "1"))},
				Records: []shadow.Record{{LiveID: "i-l1", ShadowID: "i-s1", Status: shadow.Active, Generation: 1, UpdatedAt: synced, SyncedAt: synced}},
				Agents: map[string]shadow.AgentPair{"i-l1": {
					Live:   shadow.AgentState{AcceptedSeq: 800, AppliedSeq: 800, Digest: "live", Checkpoints: tc.live},
					Shadow: shadow.AgentState{AcceptedSeq: 800, AppliedSeq: 600, Digest: "shadow", Checkpoints: tc.shad},
				}},
			}
			acts := shadow.Reconcile(obs, shadow.DefaultReconcileOptions())
			got := ""
			if len(acts) == 1 && acts[0].Kind == shadow.Resync {
				got = acts[0].Reason
			} else if len(acts) > 1 {
				t.Fatalf("actions %+v", acts)
			}
			if got != tc.want {
				t.Fatalf("resync reason %q, want %q", got, tc.want)
			}
		})
	}
}
