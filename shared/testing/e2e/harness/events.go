//go:build e2e

package harness

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"time"
)

// StateChange is an "EC2 Instance State-change Notification" exactly as
// EventBridge delivers it to a Lambda target (moto emits none: the tests
// build them).
func StateChange(instanceID, state string, at time.Time) []byte {
	return mustJSON(map[string]any{
		"version":     "0",
		"id":          eventID(),
		"detail-type": "EC2 Instance State-change Notification",
		"source":      "aws.ec2",
		"account":     "123456789012",
		"time":        at.UTC().Format(time.RFC3339),
		"region":      Region,
		"resources":   []string{fmt.Sprintf("arn:aws:ec2:%s:123456789012:instance/%s", Region, instanceID)},
		"detail":      map[string]string{"instance-id": instanceID, "state": state},
	})
}

// Scheduled is an EventBridge "Scheduled Event".
func Scheduled(rule string, at time.Time) []byte {
	return mustJSON(map[string]any{
		"version":     "0",
		"id":          eventID(),
		"detail-type": "Scheduled Event",
		"source":      "aws.events",
		"account":     "123456789012",
		"time":        at.UTC().Format(time.RFC3339),
		"region":      Region,
		"resources":   []string{fmt.Sprintf("arn:aws:events:%s:123456789012:rule/%s", Region, rule)},
		"detail":      map[string]any{},
	})
}

// eventID is a random (version 4) UUID, as EventBridge gives every event.
func eventID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// mustJSON marshals maps of strings, which cannot fail.
func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
