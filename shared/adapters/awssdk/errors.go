// Package awssdk holds the AWS SDK v2 adapters of the domain ports: EC2
// (shadow.Fleet), Auto Scaling, DynamoDB (shadow.Records, mutation history,
// decision audit, control-loop state), Kinesis (mutation producer),
// CloudWatch (metrics.Sink as embedded metric format, and PutMetricData),
// SQS (dead letters) and Secrets Manager.
//
// Every adapter takes a narrow interface declaring the SDK's exact method
// signatures, so the real client (*ec2.Client, ...) satisfies it and tests
// can pass the real client pointed at moto server, or a small stub where the
// emulator cannot produce a case. Clients are built once, in main (see
// shared/plane/lambdaenv), never here.
//
// AWS errors are classified in one place (Classify) into the domain's
// errors, wrapped with %w so that errors.Is and errors.As both keep working.
package awssdk

import (
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/shadowscale/shadowscale/shared/domain/shadow"
)

// Errors of the adapters that the domain has no word for. Test with
// errors.Is.
var (
	// ErrThrottled: AWS refused the call for rate (after the SDK's own
	// bounded retries). The call may succeed later.
	ErrThrottled = errors.New("throttled by AWS")
	// ErrTooLarge: a value exceeds what the service stores in one item or
	// message.
	ErrTooLarge = errors.New("too large")
)

// throttled reports whether code is a throttling code: the SDK's own list
// (retry.DefaultThrottleErrorCodes, the codes its retryer backs off on),
// so that what the SDK retries as throttling and what the plane reports
// as ErrThrottled cannot drift apart.
func throttled(code string) bool {
	_, ok := retry.DefaultThrottleErrorCodes[code]
	return ok
}

// Error codes, by the class they belong to.
var (
	notFoundCodes = map[string]bool{
		"InvalidInstanceID.NotFound":                  true,
		"ResourceNotFoundException":                   true, // DynamoDB, Kinesis, Secrets Manager
		"InvalidLaunchTemplateId.NotFound":            true,
		"InvalidLaunchTemplateName.NotFoundException": true,
		"InvalidLaunchTemplateId.VersionNotFound":     true,
		"AWS.SimpleQueueService.NonExistentQueue":     true,
		"QueueDoesNotExist":                           true,
	}
	conflictCodes = map[string]bool{
		"ConditionalCheckFailedException": true, // DynamoDB conditional write lost
		"TransactionConflictException":    true,
		"ScalingActivityInProgress":       true, // Auto Scaling: a scaling activity is running
		"ResourceContention":              true, // Auto Scaling
		"IdempotentParameterMismatch":     true, // EC2: a ClientToken reused with other parameters
	}
	invalidCodes = map[string]bool{
		"ValidationError":                true,
		"ValidationException":            true,
		"InvalidParameterValue":          true,
		"InvalidParameterCombination":    true,
		"InvalidInstanceID.Malformed":    true,
		"InvalidSubnetID.NotFound":       true, // a pool subnet that does not exist is configuration, not a race
		"InvalidParameterValueException": true,
	}
)

// Classify maps an AWS error onto the domain's errors, keeping the original
// in the chain: throttling wraps ErrThrottled, a missing resource
// shadow.ErrNotFound, a lost conditional write or a concurrent change
// shadow.ErrConflict, a rejected argument shadow.ErrInvalid. Other errors
// (and nil) are returned as they are.
func Classify(err error) error {
	if err == nil {
		return nil
	}
	code := ErrorCode(err)
	if code == "" {
		return err
	}
	switch {
	case throttled(code):
		return fmt.Errorf("%w: %w", ErrThrottled, err)
	case notFoundCodes[code]:
		return fmt.Errorf("%w: %w", shadow.ErrNotFound, err)
	case conflictCodes[code]:
		return fmt.Errorf("%w: %w", shadow.ErrConflict, err)
	case code == "TransactionCanceledException" && cancelledByCondition(err):
		return fmt.Errorf("%w: %w", shadow.ErrConflict, err)
	case invalidCodes[code]:
		return fmt.Errorf("%w: %w", shadow.ErrInvalid, err)
	}
	return err
}

// ErrorCode returns the AWS error code in err's chain ("" when none).
func ErrorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// IsThrottled reports whether err is (or wraps) an AWS throttling error.
func IsThrottled(err error) bool {
	return errors.Is(err, ErrThrottled) || throttled(ErrorCode(err))
}

// cancelledByCondition reports whether a DynamoDB transaction was cancelled
// because one of its conditions failed (rather than by a conflict with
// another transaction or by throttling).
func cancelledByCondition(err error) bool {
	var tce *ddbtypes.TransactionCanceledException
	if errors.As(err, &tce) {
		for _, r := range tce.CancellationReasons {
			if aws.ToString(r.Code) == "ConditionalCheckFailed" {
				return true
			}
		}
		return false
	}
	var ae smithy.APIError
	return errors.As(err, &ae) && strings.Contains(ae.ErrorMessage(), "ConditionalCheckFailed")
}
