package shadowscaling

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/jsii-runtime-go"
)

// Dead letters: the queue, the bucket, and what the fan-out and its
// mapping may write there.
const (
	// DeadLetterMaxMessageBytes is the dead-letter queue's maximum message
	// size: SQS' largest, 1 MiB, the figure the fan-out batches against
	// (awssdk.SQSMaxMessageBytes).
	DeadLetterMaxMessageBytes = 1 << 20
	// DeadLetterDays is how long letters are kept, in the queue and in the
	// bucket.
	DeadLetterDays = 14
	// DeadLetterPrefix is where the fan-out puts letters too large for a
	// message (the awssdk.DeadLetters default prefix).
	DeadLetterPrefix = "dead-letters/"
	// OnFailurePrefix is where Lambda writes an event source mapping's
	// on-failure records in an S3 destination
	// (aws/lambda/<mapping UUID>/<shard id>/YYYY/MM/DD/..., as the Lambda
	// developer guide documents for Kinesis).
	OnFailurePrefix = "aws/lambda/"
)

// MaxRecordAgeHours is the fan-out mapping's maximum record age for a
// stream retention: a day below it, so that a record that runs out of
// time reaches the on-failure destination while the stream still holds
// it (at the retention itself Lambda may find it expired, and the data is
// lost).
func MaxRecordAgeHours(retentionHours int) int { return retentionHours - 24 }

// s3OnFailure is the fan-out mapping's on-failure destination: the
// dead-letter bucket. Unlike CDK's S3OnFailureDestination, whose bind
// grants the function the bucket's read-write (wildcard actions on every
// object), it grants nothing: deadLetterBucketStatements grants exactly
// what Lambda needs for an S3 destination.
type s3OnFailure struct{ bucket awss3.IBucket }

var _ awslambda.IEventSourceDlq = (*s3OnFailure)(nil)

// Bind implements awslambda.IEventSourceDlq.
func (d *s3OnFailure) Bind(awslambda.IEventSourceMapping, awslambda.IFunction) *awslambda.DlqDestinationConfig {
	return &awslambda.DlqDestinationConfig{Destination: d.bucket.BucketArn()}
}

// deadLetterBucketStatements are the fan-out role's rights on the
// dead-letter bucket, and nothing more:
//   - s3:PutObject under DeadLetterPrefix: the function's letters too
//     large for a message;
//   - s3:PutObject under OnFailurePrefix and s3:ListBucket on the bucket:
//     what the Lambda developer guide asks of the execution role for an
//     event source mapping's S3 on-failure destination (PutObject and
//     ListBucket; the bucket is SSE-S3, so no KMS permission).
//
// No read, no delete, no other prefix: the fan-out never reads a letter
// back.
func (c *ShadowScaling) deadLetterBucketStatements() []awsiam.PolicyStatement {
	b := c.DeadLetterBucket
	return []awsiam.PolicyStatement{
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("PutOversizedDeadLetters"),
			Actions:   jsii.Strings("s3:PutObject"),
			Resources: &[]*string{b.ArnForObjects(jsii.String(DeadLetterPrefix + "*"))},
		}),
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("OnFailureDestinationPut"),
			Actions:   jsii.Strings("s3:PutObject"),
			Resources: &[]*string{b.ArnForObjects(jsii.String(OnFailurePrefix + "*"))},
		}),
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("OnFailureDestinationList"),
			Actions:   jsii.Strings("s3:ListBucket"),
			Resources: &[]*string{b.BucketArn()},
		}),
	}
}
