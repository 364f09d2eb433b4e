package control

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/shadowscale/shadowscale/shared/domain/forecast"
)

// Smoother is the loop's built-in online forecaster: a handful of simple
// variants run side by side on every value (level smoothing at several
// speeds, damped trends, and seasonal naive with a smoothed level
// correction); the one with the smallest recent absolute error at the
// scoring horizon gives the forecast, and its interval comes from those
// errors. Observe is O(variants), Forecast(h) O(h).
//
// It is a small, self-contained stand-in: the loop accepts any Predictor,
// and the forecast package's online default model is the one to prefer.
type Smoother struct {
	cfg   SmootherConfig
	cands []smoothCand
	n     int       // values observed
	hist  []float64 // ring of the last Season values (NaN: missing)
}

// SmootherConfig tunes the Smoother.
type SmootherConfig struct {
	// Score is the horizon (in steps) at which the variants are compared
	// and their errors measured: the instance lead time.
	Score int
	// HalfLife is the half-life, in steps, of the error averages.
	HalfLife float64
	// Season is the number of steps in a day (0: no seasonal variants).
	Season int
}

// DefaultSmootherConfig scores at 5 steps, with a one-day half-life and a
// daily season, at 1-minute steps.
func DefaultSmootherConfig() SmootherConfig {
	return SmootherConfig{Score: 5, HalfLife: 1440, Season: 1440}
}

// Kinds of variants.
const (
	kindLevel    = "level"
	kindTrend    = "trend"
	kindSeasonal = "seasonal"
)

// smoothCand is one variant and its running score.
type smoothCand struct {
	Kind             string    `json:"kind"`
	Alpha, Beta, Phi float64   `json:"-"`
	Level            float64   `json:"level"`
	Trend            float64   `json:"trend"`
	Init             bool      `json:"init"`
	MAE              float64   `json:"mae"`  // decayed sum of absolute errors at the score horizon
	Weight           float64   `json:"w"`    // decayed count behind MAE
	Past             []float64 `json:"past"` // ring: the forecast made Score steps before each step
}

// NewSmoother returns a Smoother.
func NewSmoother(cfg SmootherConfig) (*Smoother, error) {
	if cfg.Score < 1 || cfg.Score > 10000 {
		return nil, fmt.Errorf("smoother score horizon %d: must be in [1, 10000]", cfg.Score)
	}
	if !(cfg.HalfLife >= 1) || math.IsInf(cfg.HalfLife, 0) {
		return nil, fmt.Errorf("smoother half-life %v: must be at least 1", cfg.HalfLife)
	}
	if cfg.Season < 0 || cfg.Season > 100000 || (cfg.Season > 0 && cfg.Season <= cfg.Score) {
		return nil, fmt.Errorf("smoother season %d: must be 0 or in (score %d, 100000]", cfg.Season, cfg.Score)
	}
	s := &Smoother{cfg: cfg}
	add := func(kind string, a, b, phi float64) {
		c := smoothCand{Kind: kind, Alpha: a, Beta: b, Phi: phi, Past: make([]float64, cfg.Score)}
		for i := range c.Past {
			c.Past[i] = math.NaN()
		}
		s.cands = append(s.cands, c)
	}
	for _, a := range []float64{1, 0.5, 0.2, 0.05} {
		add(kindLevel, a, 0, 1)
	}
	for _, p := range [][3]float64{{0.8, 0.3, 0.9}, {0.5, 0.1, 0.95}, {0.3, 0.05, 0.98}} {
		add(kindTrend, p[0], p[1], p[2])
	}
	if cfg.Season > 0 {
		s.hist = make([]float64, cfg.Season)
		for i := range s.hist {
			s.hist[i] = math.NaN()
		}
		for _, a := range []float64{0, 0.1, 0.5} {
			add(kindSeasonal, a, 0, 1)
		}
	}
	return s, nil
}

// back returns the value k steps back from the next one (1: the last).
func (s *Smoother) back(k int) float64 {
	if k < 1 || k > len(s.hist) || k > s.n {
		return math.NaN()
	}
	return s.hist[(s.n-k)%len(s.hist)]
}

// forecast returns the variant's forecast h steps past the last value.
func (s *Smoother) forecast(c *smoothCand, h int) float64 {
	switch c.Kind {
	case kindSeasonal:
		v := s.back(s.cfg.Season - h + 1) // the value a season before the target
		if math.IsNaN(v) {
			return math.NaN()
		}
		return v + c.Level
	case kindTrend:
		sum, p := 0.0, 1.0
		for range h {
			p *= c.Phi
			sum += p
		}
		return c.Level + sum*c.Trend
	default:
		return c.Level
	}
}

// Observe implements Predictor. A NaN or infinite value is a missing step:
// the variants coast and nothing is scored.
func (s *Smoother) Observe(v float64) {
	slot := s.n % s.cfg.Score
	decay := math.Pow(0.5, 1/s.cfg.HalfLife)
	ok := !math.IsNaN(v) && !math.IsInf(v, 0)
	seasonAgo := s.back(s.cfg.Season) // the value a season before v
	for i := range s.cands {
		c := &s.cands[i]
		if ok && !math.IsNaN(c.Past[slot]) {
			c.MAE = decay*c.MAE + math.Abs(v-max(0, c.Past[slot]))
			c.Weight = decay*c.Weight + 1
		}
		switch {
		case c.Kind == kindSeasonal:
			if ok && !math.IsNaN(seasonAgo) {
				c.Level = c.Alpha*(v-seasonAgo) + (1-c.Alpha)*c.Level
				c.Init = true
			}
		case !ok:
			c.Level += c.Phi * c.Trend
			c.Trend *= c.Phi
		case !c.Init:
			c.Level, c.Trend, c.Init = v, 0, true
		default:
			prev := c.Level
			c.Level = c.Alpha*v + (1-c.Alpha)*(c.Level+c.Phi*c.Trend)
			c.Trend = c.Beta*(c.Level-prev) + (1-c.Beta)*c.Phi*c.Trend
		}
	}
	if len(s.hist) > 0 {
		if !ok {
			v = math.NaN()
		}
		s.hist[s.n%len(s.hist)] = v
	}
	s.n++
	for i := range s.cands {
		c := &s.cands[i]
		c.Past[slot] = math.NaN()
		if c.Init {
			c.Past[slot] = s.forecast(c, s.cfg.Score)
		}
	}
}

// best returns the variant with the smallest recent error that can
// forecast h steps.
func (s *Smoother) best(h int) *smoothCand {
	var b *smoothCand
	score := func(c *smoothCand) float64 {
		if c.Weight == 0 {
			return math.Inf(1)
		}
		return c.MAE / c.Weight
	}
	for i := range s.cands {
		c := &s.cands[i]
		if !c.Init || math.IsNaN(s.forecast(c, h)) {
			continue
		}
		if b == nil || score(c) < score(b) {
			b = c
		}
	}
	return b
}

// Forecast implements Predictor: h points starting one step after the last
// observed value, with a P10-P90 interval from the chosen variant's recent
// absolute errors (scaled by the square root of the horizon).
func (s *Smoother) Forecast(h int) (forecast.Forecast, error) {
	if h < 1 {
		return forecast.Forecast{}, fmt.Errorf("horizon %d: must be at least 1", h)
	}
	b := s.best(h)
	if b == nil || s.n < 2 {
		return forecast.Forecast{}, fmt.Errorf("smoother has %d values: %w", s.n, forecast.ErrTooShort)
	}
	mae := 0.0
	if b.Weight > 0 {
		mae = b.MAE / b.Weight
	}
	f := forecast.Forecast{Model: "smoother/" + b.Kind, Mean: make([]float64, h), P10: make([]float64, h), P90: make([]float64, h)}
	f.Why = fmt.Sprintf("%s variant (alpha %.2f) has the smallest recent error, %.3g at %d steps", b.Kind, b.Alpha, mae, s.cfg.Score)
	// 1.2816 sigma is the P90 of a normal; sigma is about 1.2533 MAE.
	const z = 1.2816 * 1.2533
	for i := range h {
		m := max(0, s.forecast(b, i+1))
		w := z * mae * math.Sqrt(float64(i+1)/float64(s.cfg.Score))
		f.Mean[i], f.P10[i], f.P90[i] = m, max(0, m-w), m+w
	}
	return f, nil
}

type smootherState struct {
	N     int          `json:"n"`
	Hist  []float64    `json:"hist,omitempty"`
	Cands []smoothCand `json:"cands"`
}

// JSON has no NaN: missing values are stored as -1 (values and forecasts
// are never negative).
func encodeNaN(v []float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			x = -1
		}
		out[i] = x
	}
	return out
}

func decodeNaN(v []float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		if x < 0 {
			x = math.NaN()
		}
		out[i] = x
	}
	return out
}

// Snapshot implements Snapshotter.
func (s *Smoother) Snapshot() (json.RawMessage, error) {
	st := smootherState{N: s.n, Hist: encodeNaN(s.hist), Cands: make([]smoothCand, len(s.cands))}
	for i, c := range s.cands {
		c.Past = encodeNaN(c.Past)
		st.Cands[i] = c
	}
	raw, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("encoding smoother state: %w", err)
	}
	return raw, nil
}

// RestoreSnapshot implements Snapshotter. The variants' parameters come
// from the configuration, the learned state from the snapshot.
func (s *Smoother) RestoreSnapshot(raw json.RawMessage) error {
	var st smootherState
	if err := json.Unmarshal(raw, &st); err != nil {
		return fmt.Errorf("decoding smoother state: %w", err)
	}
	if len(st.Cands) != len(s.cands) || st.N < 0 || len(st.Hist) != len(s.hist) {
		return fmt.Errorf("smoother state has %d variants and %d history values, want %d and %d", len(st.Cands), len(st.Hist), len(s.cands), len(s.hist))
	}
	cands := make([]smoothCand, len(s.cands))
	for i, c := range st.Cands {
		if c.Kind != s.cands[i].Kind || len(c.Past) != s.cfg.Score {
			return fmt.Errorf("smoother state variant %d (%s, %d past forecasts) does not match %s, %d", i, c.Kind, len(c.Past), s.cands[i].Kind, s.cfg.Score)
		}
		for _, v := range []float64{c.Level, c.Trend, c.MAE, c.Weight} {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("smoother state variant %d holds a non-finite value", i)
			}
		}
		c.Alpha, c.Beta, c.Phi = s.cands[i].Alpha, s.cands[i].Beta, s.cands[i].Phi
		c.Past = decodeNaN(c.Past)
		cands[i] = c
	}
	s.n, s.cands, s.hist = st.N, cands, decodeNaN(st.Hist)
	return nil
}
