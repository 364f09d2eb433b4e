package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kintypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/producer"
)

// fakeKinesis is the producer's narrow Kinesis interface over a list of
// records, as one stream would hold them. fail, when set, gives a record's
// error code for an attempt (call number from 1, and the record's
// partition key); "" puts it.
type fakeKinesis struct {
	mu      sync.Mutex
	calls   int
	records []kintypes.PutRecordsRequestEntry
	fail    func(call int, key string) string
}

var _ producer.Kinesis = (*fakeKinesis)(nil)

func (f *fakeKinesis) PutRecords(_ context.Context, in *kinesis.PutRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if len(in.Records) > producer.MaxRecordsPerCall {
		return nil, fmt.Errorf("%d records in one call", len(in.Records))
	}
	out := &kinesis.PutRecordsOutput{}
	for _, r := range in.Records {
		code := ""
		if f.fail != nil {
			code = f.fail(f.calls, aws.ToString(r.PartitionKey))
		}
		if code != "" {
			out.FailedRecordCount = aws.Int32(aws.ToInt32(out.FailedRecordCount) + 1)
			out.Records = append(out.Records, kintypes.PutRecordsResultEntry{ErrorCode: aws.String(code), ErrorMessage: aws.String("injected")})
			continue
		}
		f.records = append(f.records, r)
		out.Records = append(out.Records, kintypes.PutRecordsResultEntry{SequenceNumber: aws.String(fmt.Sprint(len(f.records))), ShardId: aws.String("shardId-000000000000")})
	}
	return out, nil
}

// mutations de-aggregates what the stream holds, per partition key, in
// stream order, and counts the aggregated records and the user records in
// the binary form.
func (f *fakeKinesis) mutations(t *testing.T) (map[string][]mutation.Mutation, int, int) {
	t.Helper()
	out := map[string][]mutation.Mutation{}
	aggregated, binary := 0, 0
	for _, r := range f.records {
		key := aws.ToString(r.PartitionKey)
		users := []mutation.UserRecord{{PartitionKey: key, Data: r.Data}}
		if mutation.IsAggregated(r.Data) {
			aggregated++
			var err error
			if users, err = mutation.Deaggregate(nil, r.Data); err != nil {
				t.Fatal(err)
			}
		}
		for _, u := range users {
			if mutation.IsBinary(u.Data) {
				binary++
			}
			m, err := mutation.Decode(u.Data)
			if err != nil {
				t.Fatalf("record of %s: %v", key, err)
			}
			if u.PartitionKey != key || m.Resource != key {
				t.Fatalf("mutation of %s under partition key %s (user record key %s)", m.Resource, key, u.PartitionKey)
			}
			out[key] = append(out[key], m)
		}
	}
	return out, aggregated, binary
}

func TestRun(t *testing.T) {
	const a, b = "i-0a1b2c3d4e5f60718", "i-0fedcba9876543210"
	cases := []struct {
		name       string
		args       []string
		fail       func(call int, key string) string
		wantErr    string
		first      uint64 // each instance's first seq
		n          int    // mutations each
		records    int    // Kinesis records on the stream
		aggregated int    // of which aggregated
		binary     bool   // user records in the binary form
		stdout     []string
		stderr     string
	}{
		{name: "aggregated: one record per instance", args: []string{"--stream", "m", "--instance", a + "," + b, "--count", "12"},
			first: 1, n: 12, records: 2, aggregated: 2,
			stdout: []string{"stream m: 24 mutations in 2 records, 1 PutRecords calls, 0 records retried, 0 mutations not put", a + ": seqs 1-12; next run: --resume 12"}},
		{name: "resumed after an earlier run", args: []string{"--stream", "m", "--instance", a, "--count", "3", "--resume", "12"},
			first: 13, n: 3, records: 1, aggregated: 1, stdout: []string{a + ": seqs 13-15; next run: --resume 15"}},
		{name: "one mutation a record", args: []string{"--stream", "m", "--instance", a + "," + b, "--count", "5", "--no-aggregation"},
			first: 1, n: 5, records: 10, aggregated: 0},
		{name: "binary user records", args: []string{"--stream", "m", "--instance", a + "," + b, "--count", "6", "--binary"},
			first: 1, n: 6, records: 2, aggregated: 2, binary: true},
		{name: "binary, one mutation a record", args: []string{"--stream", "m", "--instance", a, "--count", "3", "--binary", "--no-aggregation"},
			first: 1, n: 3, records: 3, aggregated: 0, binary: true},
		{name: "a throttled record is put again", args: []string{"--stream", "m", "--instance", a + "," + b, "--count", "4"},
			fail: func(call int, key string) string {
				if call == 1 && key == b {
					return "ProvisionedThroughputExceededException"
				}
				return ""
			},
			first: 1, n: 4, records: 2, aggregated: 2, stdout: []string{"8 mutations in 2 records, 2 PutRecords calls, 1 records retried, 0 mutations not put"}},
		{name: "a refused record is reported, never dropped silently", args: []string{"--stream", "m", "--instance", a + "," + b, "--count", "2"},
			fail: func(_ int, key string) string {
				if key == b {
					return "KMSAccessDeniedException"
				}
				return ""
			},
			wantErr: "2 mutations not put", stderr: "not put: " + b + " seq 1"},
		{name: "no stream", args: []string{"--instance", a}, wantErr: "--stream is required"},
		{name: "no instance", args: []string{"--stream", "m"}, wantErr: "--instance is required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("SHADOWSCALE_STREAM", "")
			api := &fakeKinesis{fail: tc.fail}
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tc.args, &stdout, &stderr, api)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				if !strings.Contains(stderr.String(), tc.stderr) {
					t.Errorf("stderr %q, want %q", stderr.String(), tc.stderr)
				}
				return
			}
			if err != nil {
				t.Fatalf("run: %v\n%s", err, stderr.String())
			}
			if len(api.records) != tc.records {
				t.Errorf("%d records on the stream, want %d", len(api.records), tc.records)
			}
			got, aggregated, binary := api.mutations(t)
			if aggregated != tc.aggregated {
				t.Errorf("%d aggregated records, want %d", aggregated, tc.aggregated)
			}
			wantBinary := 0
			if tc.binary {
				wantBinary = len(got) * tc.n
			}
			if binary != wantBinary {
				t.Errorf("%d user records in the binary form, want %d", binary, wantBinary)
			}
			for key, muts := range got {
				if len(muts) != tc.n {
					t.Errorf("%s: %d mutations, want %d", key, len(muts), tc.n)
				}
				for i, m := range muts {
					if m.Seq != tc.first+uint64(i) {
						t.Errorf("%s: mutation %d has seq %d, want %d (gap-free, in order)", key, i, m.Seq, tc.first+uint64(i))
					}
					if err := m.Validate(); err != nil {
						t.Errorf("%s seq %d: %v", key, m.Seq, err)
					}
				}
			}
			for _, s := range tc.stdout {
				if !strings.Contains(stdout.String(), s) {
					t.Errorf("stdout %q lacks %q", stdout.String(), s)
				}
			}
		})
	}
}
