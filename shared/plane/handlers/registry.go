// Package handlers holds the Lambda handlers of the plane (launch,
// terminate, reconciler) and the registry of event parsers they share. A
// handler takes every dependency as a parameter (ports, Manager, clock,
// metrics sink, logger); functions/<fn>/main.go only wires them.
//
// Event policy: an event that is malformed, unknown, or that EC2 contradicts
// is a logged no-op with its reason and an answer, never a panic and never an
// error (an error makes Lambda retry the same event). Errors are returned for
// transient failures only (throttling after the SDK's retries, a lost race),
// where a bounded retry can help.
package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/shadowscale/shadowscale/shared/domain/shadow"
)

// Event sources and detail types the plane handles.
const (
	SourceEC2           = "aws.ec2"
	DetailInstanceState = "EC2 Instance State-change Notification"
	SourceEvents        = "aws.events"
	DetailScheduled     = "Scheduled Event"
	// Auto Scaling's own events (EC2 Auto Scaling user guide, "Amazon EC2
	// Auto Scaling event reference"): they carry the group's name.
	SourceAutoScaling      = "aws.autoscaling"
	DetailLaunchSuccessful = "EC2 Instance Launch Successful"
	DetailTermSuccessful   = "EC2 Instance Terminate Successful"
	DetailLaunchAction     = "EC2 Instance-launch Lifecycle Action"
	TransitionLaunching    = "autoscaling:EC2_INSTANCE_LAUNCHING"
	maxTokenLen            = 36 // a lifecycle action token is a UUID
	maxGroupNameLen        = 255
	maxEventBytes          = 256 << 10 // EventBridge's event size limit
	maxInstanceIDLen       = 64
	instanceIDPrefix       = "i-"
)

// Errors of parsing. Both are logged no-ops, never Lambda errors.
var (
	// ErrMalformed: not an EventBridge event, or its detail is not what its
	// detail-type promises.
	ErrMalformed = errors.New("malformed event")
	// ErrUnknownEvent: no parser is registered for the source and
	// detail-type.
	ErrUnknownEvent = errors.New("unknown event")
)

// Key selects a parser.
type Key struct{ Source, DetailType string }

// Parser turns an EventBridge event into a typed event (errors wrap
// ErrMalformed).
type Parser func(e events.EventBridgeEvent) (any, error)

// Registry maps (source, detail-type) to parsers.
type Registry struct{ parsers map[Key]Parser }

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{parsers: map[Key]Parser{}} }

// DefaultRegistry knows the EC2 state-change notification, Auto Scaling's
// launch and terminate successful events and launch lifecycle action, and
// the scheduled event.
func DefaultRegistry() *Registry {
	r := NewRegistry()
	r.Register(SourceEC2, DetailInstanceState, ParseInstanceStateChange)
	r.Register(SourceAutoScaling, DetailLaunchSuccessful, ParseGroupInstanceEvent)
	r.Register(SourceAutoScaling, DetailTermSuccessful, ParseGroupInstanceEvent)
	r.Register(SourceAutoScaling, DetailLaunchAction, ParseLaunchAction)
	r.Register(SourceEvents, DetailScheduled, ParseScheduled)
	return r
}

// Register adds (or replaces) the parser of a source and detail-type.
func (r *Registry) Register(source, detailType string, p Parser) {
	r.parsers[Key{source, detailType}] = p
}

// Parse decodes an EventBridge event and hands it to its parser. It never
// panics: bad input is an error wrapping ErrMalformed or ErrUnknownEvent.
func (r *Registry) Parse(payload []byte) (ev any, err error) {
	defer func() {
		if p := recover(); p != nil { // a parser bug must not take the function down
			ev, err = nil, fmt.Errorf("%w: parser panicked: %v", ErrMalformed, p)
		}
	}()
	if len(payload) > maxEventBytes {
		return nil, fmt.Errorf("%w: %d bytes, larger than any EventBridge event", ErrMalformed, len(payload))
	}
	var e events.EventBridgeEvent
	dec := json.NewDecoder(bytes.NewReader(payload))
	if err := dec.Decode(&e); err != nil {
		return nil, fmt.Errorf("%w: not an EventBridge event: %v", ErrMalformed, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after the event", ErrMalformed)
	}
	if e.Source == "" || e.DetailType == "" {
		return nil, fmt.Errorf("%w: no source or detail-type", ErrMalformed)
	}
	p, ok := r.parsers[Key{e.Source, e.DetailType}]
	if !ok {
		return nil, fmt.Errorf("%w: source %q detail-type %q", ErrUnknownEvent, clip(e.Source), clip(e.DetailType))
	}
	return p(e)
}

// InstanceStateChange is an "EC2 Instance State-change Notification".
type InstanceStateChange struct {
	EventID    string
	InstanceID string
	State      shadow.State
	Time       time.Time
	Region     string
	Account    string
}

// ParseInstanceStateChange parses the detail {"instance-id", "state"}.
func ParseInstanceStateChange(e events.EventBridgeEvent) (any, error) {
	var d struct {
		InstanceID string `json:"instance-id"`
		State      string `json:"state"`
	}
	if len(e.Detail) == 0 {
		return nil, fmt.Errorf("%w: state-change event without detail", ErrMalformed)
	}
	if err := json.Unmarshal(e.Detail, &d); err != nil {
		return nil, fmt.Errorf("%w: state-change detail: %v", ErrMalformed, err)
	}
	if !validInstanceID(d.InstanceID) {
		return nil, fmt.Errorf("%w: instance-id %q is not an EC2 instance id", ErrMalformed, clip(d.InstanceID))
	}
	st := shadow.State(d.State)
	switch st {
	case shadow.Pending, shadow.Running, shadow.ShuttingDown, shadow.Terminated, shadow.Stopping, shadow.Stopped:
	default:
		return nil, fmt.Errorf("%w: state %q is not an EC2 instance state", ErrMalformed, clip(d.State))
	}
	return InstanceStateChange{EventID: e.ID, InstanceID: d.InstanceID, State: st, Time: e.Time, Region: e.Region, Account: e.AccountID}, nil
}

// Where an Auto Scaling event's instance comes from or goes to (its
// Origin and Destination).
const (
	PlaceGroup    = "AutoScalingGroup"
	PlaceEC2      = "EC2"
	PlaceWarmPool = "WarmPool"
)

// GroupInstanceEvent is Auto Scaling's "EC2 Instance Launch Successful" or
// "EC2 Instance Terminate Successful": an instance entered or left a
// group (Origin -> Destination), named with its group.
type GroupInstanceEvent struct {
	EventID    string
	Launch     bool // launch successful; false: terminate successful
	InstanceID string
	Group      string
	// Origin and Destination: EC2, AutoScalingGroup or WarmPool. A launch
	// into the warm pool is not a live instance (yet).
	Origin, Destination string
	AZ, SubnetID        string
	StatusCode          string
	Time                time.Time
	Region, Account     string
}

// ParseGroupInstanceEvent parses the detail of Auto Scaling's launch and
// terminate successful events: EC2InstanceId, AutoScalingGroupName,
// Origin, Destination, StatusCode, Details{"Availability Zone","Subnet ID"}.
func ParseGroupInstanceEvent(e events.EventBridgeEvent) (any, error) {
	var d struct {
		InstanceID  string `json:"EC2InstanceId"`
		Group       string `json:"AutoScalingGroupName"`
		StatusCode  string `json:"StatusCode"`
		Origin      string `json:"Origin"`
		Destination string `json:"Destination"`
		Details     struct {
			AZ     string `json:"Availability Zone"`
			Subnet string `json:"Subnet ID"`
		} `json:"Details"`
	}
	if len(e.Detail) == 0 {
		return nil, fmt.Errorf("%w: auto scaling event without detail", ErrMalformed)
	}
	if err := json.Unmarshal(e.Detail, &d); err != nil {
		return nil, fmt.Errorf("%w: auto scaling detail: %v", ErrMalformed, err)
	}
	if !validInstanceID(d.InstanceID) {
		return nil, fmt.Errorf("%w: EC2InstanceId %q is not an EC2 instance id", ErrMalformed, clip(d.InstanceID))
	}
	if d.Group == "" || len(d.Group) > maxGroupNameLen {
		return nil, fmt.Errorf("%w: AutoScalingGroupName %q is not a group name", ErrMalformed, clip(d.Group))
	}
	for _, p := range []string{d.Origin, d.Destination} {
		switch p {
		case "", PlaceGroup, PlaceEC2, PlaceWarmPool:
		default:
			return nil, fmt.Errorf("%w: origin or destination %q is not EC2, AutoScalingGroup or WarmPool", ErrMalformed, clip(p))
		}
	}
	return GroupInstanceEvent{
		EventID: e.ID, Launch: e.DetailType == DetailLaunchSuccessful, InstanceID: d.InstanceID, Group: d.Group,
		Origin: d.Origin, Destination: d.Destination, AZ: d.Details.AZ, SubnetID: d.Details.Subnet,
		StatusCode: d.StatusCode, Time: e.Time, Region: e.Region, Account: e.AccountID,
	}, nil
}

// LaunchAction is Auto Scaling's "EC2 Instance-launch Lifecycle Action":
// an instance of Group waits in Pending:Wait for its launch lifecycle hook
// Hook to be completed (with Token) or to time out.
type LaunchAction struct {
	EventID             string
	InstanceID          string
	Group               string
	Hook                string
	Token               string
	Transition          string
	Origin, Destination string
	Time                time.Time
}

// ParseLaunchAction parses the detail of a launch lifecycle action:
// EC2InstanceId, AutoScalingGroupName, LifecycleHookName,
// LifecycleActionToken, LifecycleTransition, Origin, Destination.
func ParseLaunchAction(e events.EventBridgeEvent) (any, error) {
	var d struct {
		InstanceID  string `json:"EC2InstanceId"`
		Group       string `json:"AutoScalingGroupName"`
		Hook        string `json:"LifecycleHookName"`
		Token       string `json:"LifecycleActionToken"`
		Transition  string `json:"LifecycleTransition"`
		Origin      string `json:"Origin"`
		Destination string `json:"Destination"`
	}
	if len(e.Detail) == 0 {
		return nil, fmt.Errorf("%w: lifecycle action without detail", ErrMalformed)
	}
	if err := json.Unmarshal(e.Detail, &d); err != nil {
		return nil, fmt.Errorf("%w: lifecycle action detail: %v", ErrMalformed, err)
	}
	switch {
	case !validInstanceID(d.InstanceID):
		return nil, fmt.Errorf("%w: EC2InstanceId %q is not an EC2 instance id", ErrMalformed, clip(d.InstanceID))
	case d.Group == "" || len(d.Group) > maxGroupNameLen:
		return nil, fmt.Errorf("%w: AutoScalingGroupName %q is not a group name", ErrMalformed, clip(d.Group))
	case d.Hook == "" || len(d.Hook) > maxGroupNameLen:
		return nil, fmt.Errorf("%w: LifecycleHookName %q is not a hook name", ErrMalformed, clip(d.Hook))
	case d.Token == "" || len(d.Token) > maxTokenLen:
		return nil, fmt.Errorf("%w: LifecycleActionToken %q is not a token", ErrMalformed, clip(d.Token))
	case d.Transition != TransitionLaunching:
		return nil, fmt.Errorf("%w: LifecycleTransition %q is not %s", ErrMalformed, clip(d.Transition), TransitionLaunching)
	}
	return LaunchAction{EventID: e.ID, InstanceID: d.InstanceID, Group: d.Group, Hook: d.Hook, Token: d.Token,
		Transition: d.Transition, Origin: d.Origin, Destination: d.Destination, Time: e.Time}, nil
}

// Scheduled is an EventBridge scheduled event.
type Scheduled struct {
	EventID string
	Time    time.Time
	Rule    string // the rule's ARN, when given
}

// ParseScheduled parses a "Scheduled Event" (its detail is {}).
func ParseScheduled(e events.EventBridgeEvent) (any, error) {
	s := Scheduled{EventID: e.ID, Time: e.Time}
	if len(e.Resources) > 0 {
		s.Rule = e.Resources[0]
	}
	return s, nil
}

func validInstanceID(id string) bool {
	if len(id) <= len(instanceIDPrefix) || len(id) > maxInstanceIDLen || !strings.HasPrefix(id, instanceIDPrefix) {
		return false
	}
	for _, c := range id[len(instanceIDPrefix):] {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// clip bounds what an event puts into a log line or an answer.
func clip(s string) string {
	const n = 80
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
