// Package metrics is the port through which domain code reports counts and
// gauges. The Lambda adapter writes CloudWatch embedded metric format; the
// Recorder here keeps them in memory for tests and the simulator.
package metrics

import (
	"sort"
	"strings"
	"sync"
)

// Unit is a CloudWatch metric unit.
type Unit string

// Units in use.
const (
	Count          Unit = "Count"
	Seconds        Unit = "Seconds"
	Milliseconds   Unit = "Milliseconds"
	CountPerSecond Unit = "Count/Second"
	None           Unit = "None"
)

// Dim is one metric dimension.
type Dim struct{ Name, Value string }

// Sink receives metric values.
//
// Contract: Add never blocks on the network and never fails; an adapter that
// must ship values does so on its own Flush.
type Sink interface {
	Add(name string, unit Unit, value float64, dims ...Dim)
}

// Discard drops every value.
type Discard struct{}

// Add implements Sink.
func (Discard) Add(string, Unit, float64, ...Dim) {}

// Recorder keeps the sum of every (name, dims) series in memory.
type Recorder struct {
	mu   sync.Mutex
	sums map[string]float64
}

var (
	_ Sink = Discard{}
	_ Sink = (*Recorder)(nil)
)

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder { return &Recorder{sums: map[string]float64{}} }

func key(name string, dims []Dim) string {
	parts := make([]string, 0, len(dims))
	for _, d := range dims {
		parts = append(parts, d.Name+"="+d.Value)
	}
	sort.Strings(parts)
	return name + "{" + strings.Join(parts, ",") + "}"
}

// Add implements Sink.
func (r *Recorder) Add(name string, _ Unit, value float64, dims ...Dim) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sums[key(name, dims)] += value
}

// Sum returns the sum of a series (dims in any order).
func (r *Recorder) Sum(name string, dims ...Dim) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sums[key(name, dims)]
}

// Total returns the sum of a metric over all its dimension values.
func (r *Recorder) Total(name string) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := 0.0
	for k, v := range r.sums {
		if strings.HasPrefix(k, name+"{") {
			t += v
		}
	}
	return t
}

// Reset forgets every value.
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sums = map[string]float64{}
}
