package faultproxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go"
)

// backend answers a minimal valid response for the few operations the tests
// call, and counts what reaches it.
func backend(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		body, _ := io.ReadAll(r.Body)
		switch {
		case r.Header.Get("X-Amz-Target") != "":
			w.Header().Set("Content-Type", "application/x-amz-json-1.0")
			io.WriteString(w, `{}`)
		case strings.Contains(string(body), "Action=DescribeInstances"):
			w.Header().Set("Content-Type", "text/xml")
			io.WriteString(w, `<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><reservationSet/></DescribeInstancesResponse>`)
		case strings.Contains(string(body), "Action=DescribeAutoScalingGroups"):
			w.Header().Set("Content-Type", "text/xml")
			io.WriteString(w, `<DescribeAutoScalingGroupsResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><DescribeAutoScalingGroupsResult><AutoScalingGroups/></DescribeAutoScalingGroupsResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></DescribeAutoScalingGroupsResponse>`)
		default:
			t.Errorf("backend: unexpected request %s %s %q", r.Method, r.URL, body)
			w.WriteHeader(http.StatusNotImplemented)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func cfg(endpoint string, attempts int) aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		BaseEndpoint: aws.String(endpoint),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = attempts
				o.MaxBackoff = 5 * time.Millisecond
				o.RateLimiter = noLimit{}
			})
		},
	}
}

type noLimit struct{}

func (noLimit) GetToken(context.Context, uint) (func() error, error) {
	return func() error { return nil }, nil
}
func (noLimit) AddTokens(uint) error { return nil }

func start(t *testing.T, target string, rules ...Rule) (*Proxy, string) {
	t.Helper()
	p, err := New(target, 42, rules...)
	if err != nil {
		t.Fatal(err)
	}
	u, stop, err := p.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return p, u
}

// The injected errors are what the SDK itself takes for throttling, with
// each service's own code.
func TestThrottleShapesAreRecognisedBySDK(t *testing.T) {
	srv, hits := backend(t)
	_, u := start(t, srv.URL, Rule{Rate: 1, Fault: Throttle})
	ctx := context.Background()
	tests := []struct {
		name string
		call func() error
		code string
	}{
		{"dynamodb", func() error {
			_, err := dynamodb.NewFromConfig(cfg(u, 1)).ListTables(ctx, &dynamodb.ListTablesInput{})
			return err
		}, "ProvisionedThroughputExceededException"},
		{"ec2", func() error {
			_, err := ec2.NewFromConfig(cfg(u, 1)).DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
			return err
		}, "RequestLimitExceeded"},
		{"autoscaling", func() error {
			_, err := autoscaling.NewFromConfig(cfg(u, 1)).DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{})
			return err
		}, "Throttling"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != tc.code {
				t.Fatalf("err = %v, want API error %s", err, tc.code)
			}
			if !(retry.ThrottleErrorCode{Codes: retry.DefaultThrottleErrorCodes}).IsErrorThrottle(err).Bool() {
				t.Fatalf("the SDK does not take %s for a throttle", tc.code)
			}
		})
	}
	if hits.Load() != 0 {
		t.Fatalf("%d throttled requests reached the backend", hits.Load())
	}
}

func TestRatesAndCounts(t *testing.T) {
	srv, hits := backend(t)
	p, u := start(t, srv.URL, Rule{Service: "dynamodb", Operation: "ListTables", Rate: 0.2, Fault: ServerError})
	c := dynamodb.NewFromConfig(cfg(u, 1))
	ctx := context.Background()
	failed := 0
	const n = 1000
	for range n {
		if _, err := c.ListTables(ctx, &dynamodb.ListTablesInput{}); err != nil {
			failed++
		}
	}
	if failed < 150 || failed > 250 {
		t.Fatalf("%d of %d calls failed at rate 0.2", failed, n)
	}
	st := p.Stats()["dynamodb.ListTables"]
	if st.Requests != n || st.Injected[ServerError] != failed || int(hits.Load()) != n-failed {
		t.Fatalf("stats %+v, backend hits %d, failed %d", st, hits.Load(), failed)
	}
	if req, inj := p.Total(); req != n || inj != failed {
		t.Fatalf("Total = %d, %d", req, inj)
	}
	if !strings.Contains(p.Summary(), "dynamodb.ListTables requests=1000") {
		t.Fatalf("Summary = %q", p.Summary())
	}
}

// With retries the SDK gets through, and the proxy sees the retries.
func TestRetriesGetThroughAndAreCounted(t *testing.T) {
	srv, _ := backend(t)
	p, u := start(t, srv.URL, Rule{Rate: 0.5, Fault: Unavailable})
	c := ec2.NewFromConfig(cfg(u, 10))
	for range 50 {
		if _, err := c.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{}); err != nil {
			t.Fatalf("with 10 attempts a call still failed: %v", err)
		}
	}
	st := p.Stats()["ec2.DescribeInstances"]
	if st.Requests <= 50 || st.Requests != 50+st.Injected[Unavailable] {
		t.Fatalf("stats %+v: want 50 successes plus one request per injected failure", st)
	}
}

func TestDropAfterTakesEffectUpstream(t *testing.T) {
	srv, hits := backend(t)
	_, u := start(t, srv.URL, Rule{Rate: 1, Fault: DropAfter})
	_, err := dynamodb.NewFromConfig(cfg(u, 1)).ListTables(context.Background(), &dynamodb.ListTablesInput{})
	if err == nil {
		t.Fatal("call succeeded through a dropped connection")
	}
	if hits.Load() != 1 {
		t.Fatalf("backend saw %d requests, want 1 (the request takes effect before the drop)", hits.Load())
	}
}

func TestDropAndLatency(t *testing.T) {
	srv, hits := backend(t)
	p, u := start(t, srv.URL, Rule{Rate: 1, Fault: Drop})
	c := dynamodb.NewFromConfig(cfg(u, 1))
	if _, err := c.ListTables(context.Background(), &dynamodb.ListTablesInput{}); err == nil {
		t.Fatal("call succeeded through a dropped connection")
	}
	if hits.Load() != 0 {
		t.Fatal("a dropped request reached the backend")
	}
	if err := p.SetRules(Rule{Rate: 1, Fault: Latency, Latency: 50 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	if _, err := c.ListTables(context.Background(), &dynamodb.ListTablesInput{}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d < 50*time.Millisecond {
		t.Fatalf("call took %v with 50ms of injected latency", d)
	}
}

func TestBadRules(t *testing.T) {
	tests := map[string]Rule{
		"rate":    {Rate: 1.5, Fault: Throttle},
		"fault":   {Rate: 0.1, Fault: "gremlins"},
		"latency": {Rate: 0.1, Fault: Latency},
	}
	for name, r := range tests {
		if _, err := New("http://127.0.0.1:1", 1, r); err == nil {
			t.Errorf("%s: New accepted %+v", name, r)
		}
	}
	if _, err := New("not a url", 1); err == nil {
		t.Error("New accepted a bad target")
	}
}

// A rule with a Limit injects at most that many faults, then lets every
// request through (SetRules restarts the count).
func TestLimit(t *testing.T) {
	srv, hits := backend(t)
	p, u := start(t, srv.URL, Rule{Service: "dynamodb", Rate: 1, Fault: DropAfter, Limit: 1})
	c := dynamodb.NewFromConfig(cfg(u, 1))
	ctx := context.Background()
	if _, err := c.ListTables(ctx, &dynamodb.ListTablesInput{}); err == nil {
		t.Fatal("the first call went through a rule of rate 1")
	}
	for range 3 {
		if _, err := c.ListTables(ctx, &dynamodb.ListTablesInput{}); err != nil {
			t.Fatalf("a call after the limit failed: %v", err)
		}
	}
	if st := p.Stats()["dynamodb.ListTables"]; st.Requests != 4 || st.Injected[DropAfter] != 1 || hits.Load() != 4 {
		t.Fatalf("stats %+v, backend hits %d", st, hits.Load())
	}
	if err := p.SetRules(Rule{Rate: 1, Fault: Drop, Limit: 2}); err != nil {
		t.Fatal(err)
	}
	failed := 0
	for range 4 {
		if _, err := c.ListTables(ctx, &dynamodb.ListTablesInput{}); err != nil {
			failed++
		}
	}
	if failed != 2 {
		t.Fatalf("%d calls failed after SetRules with a limit of 2", failed)
	}
	if _, err := New(srv.URL, 1, Rule{Rate: 1, Fault: Drop, Limit: -1}); err == nil {
		t.Fatal("New accepted a negative limit")
	}
}

// Mix's rules, tried in order, give each fault its share of all requests.
func TestMix(t *testing.T) {
	rules, err := Mix(0.2, map[Fault]float64{Throttle: 2, ServerError: 1, Unavailable: 1}, 0.1, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	left, got := 1.0, map[Fault]float64{}
	for _, r := range rules {
		got[r.Fault] += left * r.Rate
		left -= left * r.Rate
	}
	for f, want := range map[Fault]float64{Throttle: 0.1, ServerError: 0.05, Unavailable: 0.05, Latency: 0.1} {
		if d := got[f] - want; d > 1e-9 || d < -1e-9 {
			t.Errorf("%s: share %v, want %v", f, got[f], want)
		}
	}
	for name, tc := range map[string]struct {
		total, lat float64
		w          map[Fault]float64
	}{
		"over one":       {0.8, 0.3, map[Fault]float64{Throttle: 1}},
		"latency weight": {0.2, 0, map[Fault]float64{Latency: 1}},
		"no weights":     {0.2, 0, nil},
		"negative":       {0.2, 0, map[Fault]float64{Drop: -1}},
	} {
		if _, err := Mix(tc.total, tc.w, tc.lat, time.Millisecond); err == nil {
			t.Errorf("%s: Mix accepted it", name)
		}
	}
}
