package catalog

import (
	"errors"
	"strings"
	"testing"
)

func mustDefault(t *testing.T) *Catalog {
	t.Helper()
	c, err := Default()
	if err != nil {
		t.Fatalf("embedded catalog: %v", err)
	}
	return c
}

func TestEmbeddedCatalog(t *testing.T) {
	c := mustDefault(t)
	if !strings.Contains(c.Source, "us-east-1") || !strings.Contains(c.Source, "2026-11-28") {
		t.Fatalf("Source %q must name the region and the date", c.Source)
	}
	m, err := c.Lookup("m7g.xlarge")
	if err != nil {
		t.Fatal(err)
	}
	// The figure bench/SCALING.md gives.
	if m.USDPerHour != 0.1632 || m.VCPU != 4 || m.MemoryGiB != 16 || m.Arch != "arm64" {
		t.Fatalf("m7g.xlarge = %+v", m)
	}
	for _, ty := range c.Types() {
		// Within a family, price grows with size.
		if n, err := c.NextLarger(ty.Name); err == nil && n.USDPerHour <= ty.USDPerHour {
			t.Errorf("%s ($%v) is not dearer than %s ($%v)", n.Name, n.USDPerHour, ty.Name, ty.USDPerHour)
		}
	}
}

func TestShadowFor(t *testing.T) {
	c := mustDefault(t)
	for _, tc := range []struct {
		name    string
		live    string
		f       Fractions
		wantErr error
	}{
		{"default", "m7g.xlarge", DefaultFractions(), nil},
		{"no burstable", "m7g.xlarge", Fractions{CPU: 0.25, Memory: 0.10, ExcludeBurstable: true}, nil},
		{"x86", "m5.2xlarge", DefaultFractions(), nil},
		{"memory heavy", "r7g.xlarge", DefaultFractions(), nil},
		{"largest", "m7g.16xlarge", DefaultFractions(), nil},
		{"unknown", "m9z.large", DefaultFractions(), ErrUnknownType},
		{"whole live type", "m7g.16xlarge", Fractions{CPU: 1, Memory: 1}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.ShadowFor(tc.live, tc.f)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			live, _ := c.Lookup(tc.live)
			checkRule(t, c, live, tc.f, got)
		})
	}
}

// checkRule asserts got satisfies the sizing rule and nothing cheaper does.
func checkRule(t *testing.T, c *Catalog, live InstanceType, f Fractions, got InstanceType) {
	t.Helper()
	fits := func(x InstanceType) bool {
		return x.Arch == live.Arch && float64(x.VCPU) >= f.CPU*float64(live.VCPU)-1e-9 && x.MemoryGiB >= f.Memory*live.MemoryGiB-1e-9 && !(f.ExcludeBurstable && x.Burstable)
	}
	if !fits(got) {
		t.Fatalf("%s does not fit %s at %+v", got.Name, live.Name, f)
	}
	for _, x := range c.Types() {
		if fits(x) && x.USDPerHour < got.USDPerHour {
			t.Fatalf("%s ($%v) fits and is cheaper than the pick %s ($%v)", x.Name, x.USDPerHour, got.Name, got.USDPerHour)
		}
	}
}

func TestShadowForKnownPicks(t *testing.T) {
	c := mustDefault(t)
	tests := []struct {
		live string
		f    Fractions
		want string
	}{
		{"m7g.xlarge", DefaultFractions(), "t4g.small"}, // needs 1 vCPU, 1.6 GiB
		{"m7g.xlarge", Fractions{CPU: 0.25, Memory: 0.10, ExcludeBurstable: true}, "c6g.medium"},
		{"m5.2xlarge", Fractions{CPU: 0.25, Memory: 0.10, ExcludeBurstable: true}, "c5.large"}, // needs 2 vCPU, 3.2 GiB
		{"c7g.large", DefaultFractions(), "t4g.nano"},                                          // needs 0.5 vCPU, 0.4 GiB
	}
	for _, tc := range tests {
		t.Run(tc.live, func(t *testing.T) {
			got, err := c.ShadowFor(tc.live, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if got.Name != tc.want {
				t.Fatalf("ShadowFor(%s) = %s, want %s", tc.live, got.Name, tc.want)
			}
		})
	}
}

func TestShadowForErrors(t *testing.T) {
	c := mustDefault(t)
	tests := []struct {
		name string
		live string
		f    Fractions
		want error
	}{
		{"unknown type", "m9z.large", DefaultFractions(), ErrUnknownType},
		{"bad fraction", "m7g.xlarge", Fractions{CPU: 0, Memory: 0.1}, nil},
		{"no fit", "t4g.small", Fractions{CPU: 0.5, Memory: 0.5, ExcludeBurstable: true}, ErrNoFit},
	}
	// A catalog of burstable types only: nothing fits when they are excluded.
	small, err := Parse(strings.NewReader("name,vcpu,memory_gib,arch,burstable,usd_per_hour\nt4g.small,2,2,arm64,true,0.0168\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cat := c
			if tc.name == "no fit" {
				cat = small
			}
			_, err := cat.ShadowFor(tc.live, tc.f)
			if err == nil {
				t.Fatal("ShadowFor succeeded, want an error")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestNextLarger(t *testing.T) {
	c := mustDefault(t)
	tests := []struct{ from, want string }{
		{"m7g.xlarge", "m7g.2xlarge"},
		{"t4g.small", "t4g.xlarge"}, // same vCPU count sizes are skipped: a resize must add CPU
		{"c7g.medium", "c7g.large"},
	}
	for _, tc := range tests {
		got, err := c.NextLarger(tc.from)
		if err != nil || got.Name != tc.want {
			t.Errorf("NextLarger(%s) = %s, %v; want %s", tc.from, got.Name, err, tc.want)
		}
	}
	if _, err := c.NextLarger("m7g.16xlarge"); !errors.Is(err, ErrNoFit) {
		t.Errorf("NextLarger of the largest: err = %v, want ErrNoFit", err)
	}
}

func TestParseErrors(t *testing.T) {
	head := "name,vcpu,memory_gib,arch,burstable,usd_per_hour\n"
	tests := map[string]string{
		"bad header": "a,b\n",
		"few fields": head + "m7g.large,2,8\n",
		"bad vcpu":   head + "m7g.large,x,8,arm64,false,0.1\n",
		"bad arch":   head + "m7g.large,2,8,sparc,false,0.1\n",
		"bad price":  head + "m7g.large,2,8,arm64,false,-1\n",
		"duplicate":  head + "m7g.large,2,8,arm64,false,0.1\nm7g.large,2,8,arm64,false,0.1\n",
		"empty":      head,
		"bad name":   head + "large,2,8,arm64,false,0.1\n",
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse(strings.NewReader(in)); err == nil {
				t.Fatal("Parse succeeded, want an error")
			}
		})
	}
}
