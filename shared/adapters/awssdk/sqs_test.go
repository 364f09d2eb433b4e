package awssdk_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
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
	dl, err := awssdk.NewDeadLetters(stub, "https://sqs.us-east-1.amazonaws.com/1/dlq")
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
	dl2, _ := awssdk.NewDeadLetters(stub2, "https://q")
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
