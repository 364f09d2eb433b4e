// Package catalog is the embedded table of EC2 instance types (vCPUs,
// memory, architecture, on-demand price in us-east-1) and the sizing rules
// built on it: the shadow type for a live type, and the next larger type of a
// family for a resize. The table's source and date are in its header.
package catalog

import (
	"bufio"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
)

//go:embed instance_types.csv
var embedded string

// InstanceType is one EC2 instance type.
type InstanceType struct {
	Name       string  // e.g. m7g.xlarge
	Family     string  // e.g. m7g
	VCPU       int     // vCPUs
	MemoryGiB  float64 // memory in GiB
	Arch       string  // arm64 or x86_64
	Burstable  bool    // T family: CPU credits
	USDPerHour float64 // Linux on-demand, us-east-1
}

// Errors of the sizing rules.
var (
	ErrUnknownType = errors.New("unknown instance type")
	ErrNoFit       = errors.New("no instance type fits")
)

// Catalog is an immutable set of instance types.
type Catalog struct {
	byName map[string]InstanceType
	all    []InstanceType // sorted by price, then name
	// Source is the provenance text from the file's header comments.
	Source string
}

var (
	defaultOnce sync.Once
	defaultCat  *Catalog
	defaultErr  error
)

// Default returns the embedded catalog. The embedded table is validated by
// tests, so an error here means a broken build.
func Default() (*Catalog, error) {
	defaultOnce.Do(func() {
		defaultCat, defaultErr = Parse(strings.NewReader(embedded))
	})
	return defaultCat, defaultErr
}

// Parse reads a catalog CSV: `#` comment lines (kept as Source), a header,
// then name,vcpu,memory_gib,arch,burstable,usd_per_hour rows.
func Parse(r io.Reader) (*Catalog, error) {
	c := &Catalog{byName: map[string]InstanceType{}}
	sc := bufio.NewScanner(r)
	var src []string
	line, header := 0, false
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		switch {
		case text == "":
			continue
		case strings.HasPrefix(text, "#"):
			src = append(src, strings.TrimSpace(strings.TrimPrefix(text, "#")))
			continue
		case !header:
			if text != "name,vcpu,memory_gib,arch,burstable,usd_per_hour" {
				return nil, fmt.Errorf("catalog line %d: unexpected header %q", line, text)
			}
			header = true
			continue
		}
		t, err := parseRow(text)
		if err != nil {
			return nil, fmt.Errorf("catalog line %d: %w", line, err)
		}
		if _, dup := c.byName[t.Name]; dup {
			return nil, fmt.Errorf("catalog line %d: %s listed twice", line, t.Name)
		}
		c.byName[t.Name] = t
		c.all = append(c.all, t)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading catalog: %w", err)
	}
	if len(c.all) == 0 {
		return nil, errors.New("catalog has no instance types")
	}
	sort.Slice(c.all, func(i, j int) bool {
		if c.all[i].USDPerHour != c.all[j].USDPerHour {
			return c.all[i].USDPerHour < c.all[j].USDPerHour
		}
		return c.all[i].Name < c.all[j].Name
	})
	c.Source = strings.Join(src, " ")
	return c, nil
}

func parseRow(text string) (InstanceType, error) {
	f := strings.Split(text, ",")
	if len(f) != 6 {
		return InstanceType{}, fmt.Errorf("want 6 fields, got %d", len(f))
	}
	name := f[0]
	family, _, ok := strings.Cut(name, ".")
	if !ok || family == "" {
		return InstanceType{}, fmt.Errorf("name %q is not family.size", name)
	}
	vcpu, err := strconv.Atoi(f[1])
	if err != nil || vcpu < 1 {
		return InstanceType{}, fmt.Errorf("%s: vcpu %q is not a positive integer", name, f[1])
	}
	mem, err := strconv.ParseFloat(f[2], 64)
	if err != nil || mem <= 0 || math.IsInf(mem, 0) {
		return InstanceType{}, fmt.Errorf("%s: memory_gib %q is not a positive number", name, f[2])
	}
	if f[3] != "arm64" && f[3] != "x86_64" {
		return InstanceType{}, fmt.Errorf("%s: arch %q is not arm64 or x86_64", name, f[3])
	}
	burst, err := strconv.ParseBool(f[4])
	if err != nil {
		return InstanceType{}, fmt.Errorf("%s: burstable %q is not true or false", name, f[4])
	}
	price, err := strconv.ParseFloat(f[5], 64)
	if err != nil || price <= 0 || math.IsInf(price, 0) {
		return InstanceType{}, fmt.Errorf("%s: usd_per_hour %q is not a positive number", name, f[5])
	}
	return InstanceType{Name: name, Family: family, VCPU: vcpu, MemoryGiB: mem, Arch: f[3], Burstable: burst, USDPerHour: price}, nil
}

// Lookup returns the named type.
func (c *Catalog) Lookup(name string) (InstanceType, error) {
	t, ok := c.byName[name]
	if !ok {
		return InstanceType{}, fmt.Errorf("%w %q (not in the catalog)", ErrUnknownType, name)
	}
	return t, nil
}

// Types returns every type, cheapest first.
func (c *Catalog) Types() []InstanceType { return append([]InstanceType(nil), c.all...) }

// Fractions is how large a shadow is relative to its live instance.
type Fractions struct {
	CPU    float64 // fraction of the live type's vCPUs, (0, 1]
	Memory float64 // fraction of the live type's memory, (0, 1]
	// ExcludeBurstable leaves T-family types out: their sustained CPU is a
	// credit baseline, not their vCPU count. The stack exposes it
	// (shadowExcludeBurstable, SHADOWSCALE_SHADOW_EXCLUDE_BURSTABLE). With
	// T types in (the default) shadows are cheapest and launch with
	// standard credits: past their credits they run at the baseline, so
	// their lag reflects the credit balance too. Without them a shadow is
	// an M/C type: a lag that follows size only, at a higher price.
	ExcludeBurstable bool
}

// DefaultFractions are 25% of the vCPUs and 10% of the memory.
func DefaultFractions() Fractions { return Fractions{CPU: 0.25, Memory: 0.10} }

// Validate reports fractions outside (0, 1].
func (f Fractions) Validate() error {
	var errs []error
	if !(f.CPU > 0 && f.CPU <= 1) {
		errs = append(errs, fmt.Errorf("cpu fraction %v: must be in (0, 1]", f.CPU))
	}
	if !(f.Memory > 0 && f.Memory <= 1) {
		errs = append(errs, fmt.Errorf("memory fraction %v: must be in (0, 1]", f.Memory))
	}
	return errors.Join(errs...)
}

// ShadowFor picks the shadow type for a live type: the cheapest type of the
// same architecture with at least the given fractions of its vCPUs and
// memory (ties: fewer vCPUs, then less memory, then name).
func (c *Catalog) ShadowFor(live string, f Fractions) (InstanceType, error) {
	if err := f.Validate(); err != nil {
		return InstanceType{}, fmt.Errorf("sizing a shadow for %s: %w", live, err)
	}
	lt, err := c.Lookup(live)
	if err != nil {
		return InstanceType{}, fmt.Errorf("sizing a shadow for %s: %w", live, err)
	}
	needCPU := f.CPU * float64(lt.VCPU)
	needMem := f.Memory * lt.MemoryGiB
	var best *InstanceType
	for i := range c.all {
		t := &c.all[i]
		if t.Arch != lt.Arch || float64(t.VCPU) < needCPU-1e-9 || t.MemoryGiB < needMem-1e-9 {
			continue
		}
		if f.ExcludeBurstable && t.Burstable {
			continue
		}
		if best == nil || better(t, best) {
			best = t
		}
	}
	if best == nil {
		return InstanceType{}, fmt.Errorf("sizing a shadow for %s (%d vCPU, %g GiB, %s): %w with at least %.2f vCPU and %.2f GiB", live, lt.VCPU, lt.MemoryGiB, lt.Arch, ErrNoFit, needCPU, needMem)
	}
	return *best, nil
}

func better(a, b *InstanceType) bool {
	if a.USDPerHour != b.USDPerHour {
		return a.USDPerHour < b.USDPerHour
	}
	if a.VCPU != b.VCPU {
		return a.VCPU < b.VCPU
	}
	if a.MemoryGiB != b.MemoryGiB {
		return a.MemoryGiB < b.MemoryGiB
	}
	return a.Name < b.Name
}

// NextLarger returns the next larger type of the same family (more vCPUs,
// the smallest such step), for a resize.
func (c *Catalog) NextLarger(name string) (InstanceType, error) {
	cur, err := c.Lookup(name)
	if err != nil {
		return InstanceType{}, err
	}
	var best *InstanceType
	for i := range c.all {
		t := &c.all[i]
		if t.Family != cur.Family || t.VCPU <= cur.VCPU {
			continue
		}
		if best == nil || t.VCPU < best.VCPU || (t.VCPU == best.VCPU && t.MemoryGiB < best.MemoryGiB) {
			best = t
		}
	}
	if best == nil {
		return InstanceType{}, fmt.Errorf("%w: %s is the largest %s type in the catalog", ErrNoFit, name, cur.Family)
	}
	return *best, nil
}
