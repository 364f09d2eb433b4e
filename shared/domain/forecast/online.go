package forecast

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// OnlineConfig configures an Online forecaster. Zero fields take defaults.
type OnlineConfig struct {
	// Step is the spacing of the observations (required).
	Step time.Duration
	// Season is the number of points in a day (default SeasonFor(Step)).
	Season int
	// Horizon is how many points ahead to forecast (required, at least 1).
	Horizon int
	// Window is how many recent observations the refits see (default 7
	// days of points, as the benchmark's window; at least 2 seasons and 64
	// points). A weekly season needs 28 days.
	Window int
	// RefitEvery is how many observations pass between refits once the
	// window is full (default a season, i.e. once a day; 288 without a
	// season). Before, the refits come sooner: whenever the history has
	// grown by a quarter since the last one.
	RefitEvery int
	// MinHistory is how many observations the first fit waits for (default
	// 2*Horizon+10, at least 24; never fewer than the package's
	// MinHistory); until then Forecast repeats the last value, with no
	// interval.
	MinHistory int
}

// Online is the default forecaster for a stream: it takes observations one
// at a time and forecasts from the latest, without refitting at every step.
//
// Observe costs O(1): each candidate model's filter takes the point with
// the parameters of the last fit (a few hundred nanoseconds for all of
// them). Every RefitEvery observations, Observe refits the candidates on
// the buffered window and re-weights them by their backtest (what Default
// does on every call: about 2 ms for a 7-day window of 5-minute points).
// Forecast costs O(candidates x Horizon). Observe and Forecast(h) are the
// contract of the simulator's and the Lambda's control loop (its Predictor). Over a 215-day trace of 5-minute
// points that is 62,000 cheap updates and 215 refits: well under a second.
//
// Everything Online computes depends only on the observations given so far:
// there is nothing else it could see. It is not safe for concurrent use.
type Online struct {
	cfg      OnlineConfig
	buf      []float64 // ring of the last Window observations
	pos      int       // next write in buf
	n        int       // observations so far
	sinceFit int
	lastFitN int // history length at the last fit
	sel      *selection
	last     float64
	// FitErr is the last refit's error (nil when it succeeded).
	fitErr error
}

// NewOnline returns an Online forecaster for cfg.
func NewOnline(cfg OnlineConfig) (*Online, error) {
	if cfg.Step <= 0 {
		return nil, fmt.Errorf("step %v: must be positive", cfg.Step)
	}
	if cfg.Horizon < 1 {
		return nil, fmt.Errorf("horizon %d: must be at least 1", cfg.Horizon)
	}
	if cfg.Season < 0 || cfg.Window < 0 || cfg.RefitEvery < 0 || cfg.MinHistory < 0 {
		return nil, errors.New("season, window, refit interval and minimum history must not be negative")
	}
	if cfg.Season == 0 {
		cfg.Season = SeasonFor(cfg.Step)
	}
	if cfg.Window == 0 {
		cfg.Window = int((7 * 24 * time.Hour) / cfg.Step)
	}
	cfg.Window = max(cfg.Window, 2*cfg.Season, 64)
	if cfg.RefitEvery == 0 {
		cfg.RefitEvery = cfg.Season
		if cfg.RefitEvery < 2 {
			cfg.RefitEvery = 288
		}
	}
	if cfg.MinHistory == 0 {
		cfg.MinHistory = max(24, 2*cfg.Horizon+10)
	}
	cfg.MinHistory = max(cfg.MinHistory, MinHistory(cfg.Horizon))
	if cfg.MinHistory > cfg.Window {
		return nil, fmt.Errorf("minimum history %d is longer than the window %d", cfg.MinHistory, cfg.Window)
	}
	return &Online{cfg: cfg, buf: make([]float64, cfg.Window), last: math.NaN()}, nil
}

// Config returns the configuration with its defaults filled in.
func (o *Online) Config() OnlineConfig { return o.cfg }

// Len returns how many observations Online has taken.
func (o *Online) Len() int { return o.n }

// Observe takes the next observation (NaN for a missing one). It refits
// when a refit is due; a refit that fails (a history with no usable value)
// keeps the previous fit, and FitErr reports it.
func (o *Online) Observe(y float64) {
	y = o.push(y)
	o.n++
	o.sinceFit++
	if o.sel != nil {
		for _, st := range o.sel.steps {
			st.observe(y)
		}
	}
	if o.refitDue() {
		o.refit()
	}
}

// ObserveAll takes the observations ys in order, leaving Online exactly as
// calling Observe on each would, but fitting only where a fit's result
// survives: a replay of history (a restored loop) makes many refits whose
// forecasts nobody reads, and only the last refit that succeeds (its
// selection stepped through the observations after it) is in the final
// state. Until a first fit succeeds the refits are due at every point and
// run as Observe runs them; after it, when a refit is due depends on the
// counts alone, so the schedule is known before fitting. The refits are
// then tried from the last backwards until one succeeds (each a fresh fit
// of its own window: a refit carries nothing from the ones before); the
// last one's error, if it failed, is what FitErr reports, as after
// Observe.
func (o *Online) ObserveAll(ys []float64) {
	for len(ys) > 0 && o.sel == nil {
		o.Observe(ys[0])
		ys = ys[1:]
	}
	if len(ys) == 0 {
		return
	}
	// The history before ys (the buffered window: all a refit can see).
	before := o.window()
	// The points, stored as Observe stores them, and the refits' schedule:
	// Observe's bookkeeping without the fits.
	vals := make([]float64, len(ys))
	var refits []int // indices into vals after which a refit is due
	var sizes []int  // the window's length at each
	for i, y := range ys {
		vals[i] = o.push(y)
		o.n++
		o.sinceFit++
		if o.refitDue() { // o.sel is the earlier fit until the last is known
			have := min(o.n, len(o.buf))
			refits = append(refits, i)
			sizes = append(sizes, have)
			o.sinceFit, o.lastFitN = 0, have
		}
	}
	// The window at a refit after vals[i], oldest first.
	windowAt := func(i, size int) []float64 {
		all := make([]float64, 0, len(before)+i+1)
		all = append(all, before...)
		all = append(all, vals[:i+1]...)
		return all[len(all)-size:]
	}
	from := 0 // the first observation the surviving selection steps through
	var lastErr error
	for j := len(refits) - 1; j >= 0; j-- {
		sel, err := o.fitWindow(windowAt(refits[j], sizes[j]))
		if j == len(refits)-1 {
			lastErr = err
		}
		if err == nil {
			o.sel, from = sel, refits[j]+1
			break
		}
	}
	for _, y := range vals[from:] {
		for _, st := range o.sel.steps {
			st.observe(y)
		}
	}
	if len(refits) > 0 {
		o.fitErr = lastErr
	}
}

// push stores y in the window (an infinity as a missing point), keeps it
// as the last value when it is one, and returns what it stored.
func (o *Online) push(y float64) float64 {
	if math.IsInf(y, 0) {
		y = math.NaN()
	}
	o.buf[o.pos] = y
	if o.pos++; o.pos == len(o.buf) {
		o.pos = 0
	}
	if finite(y) {
		o.last = y
	}
	return y
}

// refitDue reports whether the history warrants a refit now.
func (o *Online) refitDue() bool {
	have := min(o.n, len(o.buf))
	if have < o.cfg.MinHistory {
		return false
	}
	if o.sel == nil {
		return true
	}
	if o.sinceFit >= o.cfg.RefitEvery {
		return true
	}
	// While the window fills, refit whenever the history grew by a quarter.
	return o.n < len(o.buf) && 4*o.sinceFit >= o.lastFitN
}

// window returns the buffered observations, oldest first.
func (o *Online) window() []float64 {
	if o.n < len(o.buf) {
		return append([]float64(nil), o.buf[:o.n]...)
	}
	out := make([]float64, 0, len(o.buf))
	out = append(out, o.buf[o.pos:]...)
	return append(out, o.buf[:o.pos]...)
}

func (o *Online) refit() {
	o.sinceFit = 0
	y := o.window()
	o.lastFitN = len(y)
	sel, err := o.fitWindow(y)
	if err != nil {
		o.fitErr = err
		return
	}
	o.sel, o.fitErr = sel, nil
}

// fitWindow fits the default's selection to the window y.
func (o *Online) fitWindow(y []float64) (*selection, error) {
	if have, need := countFinite(y), MinHistory(o.cfg.Horizon); have < need {
		return nil, fmt.Errorf("refitting on %d points: %d known, need %d: %w", len(y), have, need, ErrTooShort)
	}
	sel, err := selectModels(newHistory(y, o.cfg.Season, o.cfg.Horizon))
	if err != nil {
		return nil, fmt.Errorf("refitting on %d points: %w", len(y), err)
	}
	return sel, nil
}

// FitErr returns the error of the last refit (nil when it succeeded or
// none was due yet).
func (o *Online) FitErr() error { return o.fitErr }

// Forecast returns the forecast of the next h points, h from 1 to the
// configured Horizon (the combination's weights and intervals are fitted per
// horizon up to it). Before the first fit it repeats the last value (P10 =
// P90 = that value, Model "persistence"); with no finite observation at all
// it returns ErrTooShort.
func (o *Online) Forecast(h int) (Forecast, error) {
	if h < 1 || h > o.cfg.Horizon {
		return Forecast{}, fmt.Errorf("horizon %d: must be from 1 to the configured %d", h, o.cfg.Horizon)
	}
	if o.sel == nil {
		if !finite(o.last) {
			return Forecast{}, fmt.Errorf("%d observations, none finite: %w", o.n, ErrTooShort)
		}
		f := Forecast{Model: "persistence", Why: fmt.Sprintf("%d observations: too few to fit (need %d)", o.n, o.cfg.MinHistory)}
		for range h {
			f.Mean = append(f.Mean, o.last)
			f.P10 = append(f.P10, o.last)
			f.P90 = append(f.P90, o.last)
		}
		return f, nil
	}
	f := o.sel.forecast()
	f.Mean, f.P10, f.P90 = f.Mean[:h], f.P10[:h], f.P90[:h]
	return f, nil
}
