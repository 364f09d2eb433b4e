// Command producer is a small program that puts mutations on the
// shadowscale stream through the producer library (docs/PRODUCER.md): the
// shape an application's own producer takes.
//
//	go run ./examples/producer --stream NAME --instance i-0abc... [--count 100] [--resume 0] [--no-aggregation]
//
// It puts --count mutations for each --instance (a put, an update or a
// delete of a few keys), numbered after --resume (the last seq an earlier
// run put for that instance), flushes them, and prints what it did and
// the seq to resume from. The AWS configuration is the SDK's default chain:
// AWS_REGION, credentials, and AWS_ENDPOINT_URL for an emulator (moto,
// LocalStack).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
	"github.com/shadowscale/shadowscale/shared/producer"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, nil); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "producer:", err)
		}
		os.Exit(1)
	}
}

// options are the command's flags.
type options struct {
	stream        string
	instances     []string
	count         int
	resume        uint64
	noAggregation bool
	binary        bool
}

func parse(args []string, stderr io.Writer) (options, error) {
	var o options
	var instances string
	fs := flag.NewFlagSet("producer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.stream, "stream", os.Getenv("SHADOWSCALE_STREAM"), "the mutation stream (the stack's StreamName output; default $SHADOWSCALE_STREAM)")
	fs.StringVar(&instances, "instance", "", "live instance ids, comma-separated: the resources (and partition keys) of the mutations")
	fs.IntVar(&o.count, "count", 10, "mutations to put for each instance")
	fs.Uint64Var(&o.resume, "resume", 0, "the last seq already put for each instance (a restart continues after it)")
	fs.BoolVar(&o.noAggregation, "no-aggregation", false, "one mutation a Kinesis record instead of KPL aggregated records")
	fs.BoolVar(&o.binary, "binary", false, "user records in the binary form (docs/PRODUCER.md): about half the bytes; the plane must read it (upgrade the plane first)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var errs []error
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q", fs.Args()))
	}
	if o.stream == "" {
		errs = append(errs, errors.New("--stream is required"))
	}
	for _, id := range strings.Split(instances, ",") {
		if id = strings.TrimSpace(id); id != "" {
			o.instances = append(o.instances, id)
		}
	}
	if len(o.instances) == 0 {
		errs = append(errs, errors.New("--instance is required"))
	}
	if o.count < 0 {
		errs = append(errs, fmt.Errorf("--count %d: want 0 or more", o.count))
	}
	return o, errors.Join(errs...)
}

// run puts the mutations with api (the SDK's Kinesis client from the
// default configuration when nil).
func run(ctx context.Context, args []string, stdout, stderr io.Writer, api producer.Kinesis) error {
	o, err := parse(args, stderr)
	if err != nil {
		return err
	}
	if api == nil {
		cfg, err := config.LoadDefaultConfig(ctx) // honours AWS_ENDPOINT_URL
		if err != nil {
			return fmt.Errorf("loading the AWS configuration: %w", err)
		}
		api = kinesis.NewFromConfig(cfg)
	}
	failed := 0
	p, err := producer.New(api, clock.System{}, producer.Options{
		Stream:        o.stream,
		NoAggregation: o.noAggregation,
		Binary:        o.binary,
		// Every mutation given up on is reported here (and in Flush's
		// error): an application would keep them to put again, with their
		// seqs, once the stream takes them.
		OnFailure: func(f producer.Failure) {
			failed += len(f.Mutations)
			for _, m := range f.Mutations {
				fmt.Fprintf(stderr, "not put: %s seq %d: %v\n", m.Resource, m.Seq, f.Err)
			}
		},
	})
	if err != nil {
		return err
	}
	for _, id := range o.instances {
		p.Resume(id, o.resume) // numbering continues after the last seq put
	}
	last := map[string]uint64{}
	for i := range o.count {
		for _, id := range o.instances {
			m, err := p.Put(ctx, example(id, i))
			if err != nil {
				return fmt.Errorf("putting mutation %d of %s: %w", i+1, id, err)
			}
			last[id] = m.Seq
		}
	}
	ferr := p.Flush(ctx)
	st := p.Stats()
	fmt.Fprintf(stdout, "stream %s: %d mutations in %d records, %d PutRecords calls, %d records retried, %d mutations not put\n",
		o.stream, st.Mutations, st.Records, st.Calls, st.RetriedRecord, st.Failed)
	for _, id := range o.instances {
		if n, ok := last[id]; ok {
			fmt.Fprintf(stdout, "%s: seqs %d-%d; next run: --resume %d\n", id, o.resume+1, n, n)
		}
	}
	if ferr != nil {
		return fmt.Errorf("%d mutations not put: %w", failed, ferr)
	}
	return nil
}

// example is the i-th mutation of an instance: a put, an update or a
// delete of one of seven keys, with a small JSON value.
func example(instance string, i int) mutation.Mutation {
	m := mutation.Mutation{Resource: instance, Op: mutation.OpPut, Key: fmt.Sprintf("user/%d", i%7),
		Value: []byte(fmt.Sprintf(`{"n":%d,"at":%q}`, i, time.Now().UTC().Format(time.RFC3339Nano)))}
	switch i % 5 {
	case 3:
		m.Op = mutation.OpUpdate
	case 4:
		m.Op, m.Value = mutation.OpDelete, nil
	}
	return m
}
