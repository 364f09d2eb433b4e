package awssdk_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/shadowscale/shadowscale/shared/adapters/awssdk"
	"github.com/shadowscale/shadowscale/shared/domain/mutation"
)

// sqsStub answers SendMessageBatch: the whole call fails for the call
// numbers in failCall, single entries fail when failID says so.
type sqsStub struct {
	calls    int
	failCall map[int]bool
	failID   func(id string) bool
	omitID   string // an entry reported neither way
	sent     []string
}

func (s *sqsStub) SendMessageBatch(_ context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	s.calls++
	if s.failCall[s.calls] {
		return nil, apiErr("ThrottlingException")
	}
	out := &sqs.SendMessageBatchOutput{}
	for _, e := range in.Entries {
		id := aws.ToString(e.Id)
		switch {
		case id == s.omitID:
		case s.failID != nil && s.failID(id):
			out.Failed = append(out.Failed, sqstypes.BatchResultErrorEntry{Id: e.Id, Code: aws.String("InternalError"), Message: aws.String("try again")})
		default:
			s.sent = append(s.sent, id)
			out.Successful = append(out.Successful, sqstypes.SendMessageBatchResultEntry{Id: e.Id})
		}
	}
	return out, nil
}

func TestDeadLettersSendEach(t *testing.T) {
	letters := make([]mutation.DeadLetter, 25)
	for i := range letters {
		letters[i] = mutation.DeadLetter{Data: []byte(fmt.Sprint("record ", i)), Reason: "undecodable: test"}
	}
	stub := &sqsStub{failCall: map[int]bool{2: true}, failID: func(id string) bool { return id == "3" }, omitID: "24"}
	dl, err := awssdk.NewDeadLetters(stub, "https://sqs.us-east-1.amazonaws.com/1/dlq", awssdk.DeadLetterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	errs := dl.SendEach(context.Background(), letters)
	if len(errs) != 25 || stub.calls != 3 {
		t.Fatalf("%d results in %d calls, want 25 in 3 (batches of ten)", len(errs), stub.calls)
	}
	for i, err := range errs {
		wantFail := i == 3 || (i >= 10 && i < 20) || i == 24
		if (err != nil) != wantFail {
			t.Errorf("letter %d: %v, want failed=%v", i, err, wantFail)
		}
	}
	if errs[12] == nil || !errors.Is(errs[12], awssdk.ErrThrottled) {
		t.Errorf("a throttled batch: %v, want ErrThrottled in the chain", errs[12])
	}
	if len(stub.sent) != 13 {
		t.Errorf("%d letters stored, want 13", len(stub.sent))
	}
	// Send joins them and names each failed letter.
	stub2 := &sqsStub{failID: func(id string) bool { n, _ := strconv.Atoi(id); return n%2 == 0 }}
	dl2, _ := awssdk.NewDeadLetters(stub2, "https://q", awssdk.DeadLetterOptions{})
	err = dl2.Send(context.Background(), letters[:4]...)
	if err == nil || len(stub2.sent) != 2 {
		t.Fatalf("Send = %v with %d stored", err, len(stub2.sent))
	}
	for _, w := range []string{"dead letter 0:", "dead letter 2:"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("Send error %q does not name %q", err, w)
		}
	}
}

// batchSizes records every SendMessageBatch's message sizes as SQS counts
// them (body, and each attribute's name, type and value).
type sizeStub struct {
	sqsStub
	batches [][]int
	bodies  []string
}

func (s *sizeStub) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, o ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	var sizes []int
	for _, e := range in.Entries {
		n := len(aws.ToString(e.MessageBody))
		for k, v := range e.MessageAttributes {
			n += len(k) + len(aws.ToString(v.DataType)) + len(aws.ToString(v.StringValue)) + len(v.BinaryValue)
		}
		sizes = append(sizes, n)
		s.bodies = append(s.bodies, aws.ToString(e.MessageBody))
	}
	s.batches = append(s.batches, sizes)
	return s.sqsStub.SendMessageBatch(ctx, in, o...)
}

type s3Stub struct{ objects map[string][]byte }

func (s *s3Stub) PutObject(_ context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	b, _ := io.ReadAll(in.Body)
	s.objects[aws.ToString(in.Key)] = b
	return &s3.PutObjectOutput{}, nil
}

// TestDeadLettersBatchByBytes: every request SendEach makes fits SQS'
// limits (10 messages, 1 MiB together, each message with its attributes
// within the queue's maximum); a letter too large for a message goes to
// S3 whole, its message naming it; without S3 it is cut to fit.
func TestDeadLettersBatchByBytes(t *testing.T) {
	kib := func(n int, b byte) []byte { return bytes.Repeat([]byte{b}, n<<10) }
	letters := []mutation.DeadLetter{
		{Data: kib(192, 'a'), Reason: "undecodable: a"},                        // text: 192 KiB body
		{Data: kib(192, 0xff), Reason: "undecodable: b"},                       // binary: 256 KiB of base64
		{Data: kib(700, 'c'), Reason: "invalid: c"},                            // alone in its batch
		{Data: kib(1100, 0), Reason: "oversized: d"},                           // over a message: S3
		{Data: []byte("small"), Reason: "rejected: e"},                         // small ones fill by count
		{Data: bytes.Repeat([]byte("f"), 1<<20-100), Reason: "undecodable: f"}, // text under 1 MiB, over it with its attributes: S3
	}
	for i := 0; i < 12; i++ {
		letters = append(letters, mutation.DeadLetter{Data: []byte(fmt.Sprint("record ", i)), Reason: "unknown-resource: x", SequenceNumber: "49590", SubSequence: i})
	}
	for _, withS3 := range []bool{true, false} {
		t.Run(fmt.Sprint("s3=", withS3), func(t *testing.T) {
			stub := &sizeStub{}
			objects := &s3Stub{objects: map[string][]byte{}}
			opt := awssdk.DeadLetterOptions{}
			if withS3 {
				opt.S3, opt.Bucket = objects, "dlq-bucket"
			}
			dl, err := awssdk.NewDeadLetters(stub, "https://q", opt)
			if err != nil {
				t.Fatal(err)
			}
			for i, err := range dl.SendEach(context.Background(), letters) {
				if err != nil {
					t.Errorf("letter %d: %v", i, err)
				}
			}
			sent := 0
			for _, sizes := range stub.batches {
				total := 0
				for _, n := range sizes {
					if n > awssdk.SQSMaxMessageBytes {
						t.Errorf("a message of %d bytes with its attributes, over %d", n, awssdk.SQSMaxMessageBytes)
					}
					total += n
				}
				if len(sizes) > 10 || total > 1<<20 {
					t.Errorf("a batch of %d messages, %d bytes: over 10 or 1 MiB", len(sizes), total)
				}
				sent += len(sizes)
			}
			if sent != len(letters) {
				t.Errorf("%d messages for %d letters", sent, len(letters))
			}
			if withS3 {
				if len(objects.objects) != 2 {
					t.Fatalf("%d objects in S3, want the two letters too large for a message", len(objects.objects))
				}
				for k, v := range objects.objects {
					if !strings.HasPrefix(k, "dead-letters/") || (len(v) != 1100<<10 && len(v) != 1<<20-100) {
						t.Errorf("object %s of %d bytes", k, len(v))
					}
				}
			} else if len(objects.objects) != 0 {
				t.Error("S3 used without a bucket")
			}
		})
	}
}

func TestNewDeadLettersNeedsBucketAndClient(t *testing.T) {
	if _, err := awssdk.NewDeadLetters(&sqsStub{}, "https://q", awssdk.DeadLetterOptions{Bucket: "b"}); err == nil {
		t.Error("a bucket without an S3 client was accepted")
	}
}
