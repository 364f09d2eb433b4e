package handlers

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/shadowscale/shadowscale/shared/platform/b64"
	"github.com/shadowscale/shadowscale/shared/platform/jsonscan"
)

// ParseKinesisEvent decodes a Lambda Kinesis event payload into
// events.KinesisEvent exactly as json.Unmarshal does (errors included).
// Payloads in the shape Lambda sends (the documented fields, each once,
// strings without escapes) take a fast path, about five times faster;
// anything else goes to encoding/json. FuzzParseKinesisEvent checks the
// two agree.
func ParseKinesisEvent(payload []byte) (events.KinesisEvent, error) {
	return parseKinesisEvent(payload, nil)
}

// parseKinesisEvent is ParseKinesisEvent; on the fast path the records'
// data is decoded into *arena (nil: allocated) when it has room, grown to
// hold every record of the payload first.
func parseKinesisEvent(payload []byte, arena *[]byte) (events.KinesisEvent, error) {
	var ev events.KinesisEvent
	if arena != nil {
		// base64 takes 4 characters for every 3 bytes: the decoded data
		// of every record together is at most this.
		if n := len(payload)/4*3 + 3; cap(*arena) < n {
			*arena = make([]byte, 0, n)
		}
		*arena = (*arena)[:0]
	}
	if p := (&eventParser{d: payload, arena: arena}); p.event(&ev) {
		return ev, nil
	}
	ev = events.KinesisEvent{}
	err := json.Unmarshal(payload, &ev)
	return ev, err
}

// eventParser is the fast path, on jsonscan (the scanner mutation.Decode
// reads each record with): every method reports false as soon as the
// input leaves the canonical shape, and the caller falls back.
type eventParser struct {
	d []byte
	i int
	// arena, when not nil, holds the records' decoded data.
	arena *[]byte
	// last is, per string field (its fieldXxx index), the value the
	// previous record had: the fields that name the stream, the region and
	// the event's kind are the same for every record of a batch, and are
	// then shared rather than allocated again.
	last [numFields]string
}

// The string fields the parser shares between records (eventParser.last).
const (
	fieldRegion = iota
	fieldEventName
	fieldEventSource
	fieldSourceARN
	fieldEventVersion
	fieldIdentityARN
	fieldEncryption
	fieldSchemaVersion
	numFields
)

// byte consumes c (after whitespace).
func (p *eventParser) byte(c byte) bool {
	i, ok := jsonscan.Byte(p.d, p.i, c)
	if ok {
		p.i = i
	}
	return ok
}

// str reads a string without escapes or control characters, of valid
// UTF-8 (which encoding/json decodes to the same bytes).
func (p *eventParser) str() ([]byte, bool) {
	s, i, ok := jsonscan.String(p.d, jsonscan.Space(p.d, p.i))
	if ok {
		p.i = i
	}
	return s, ok
}

// base64 reads a string of standard base64 (a record's data, most of the
// payload) and decodes it. The closing quote is found with
// bytes.IndexByte, and the decoder checks the contents: a byte outside the
// alphabet fails it (so an escape, a control character or non-ASCII),
// and the caller falls back to encoding/json. The decoder skips CR and
// LF, which JSON does not allow raw in a string: those fall back too.
func (p *eventParser) base64() ([]byte, bool) {
	i := jsonscan.Space(p.d, p.i)
	if i >= len(p.d) || p.d[i] != '"' {
		return nil, false
	}
	n := bytes.IndexByte(p.d[i+1:], '"')
	if n < 0 {
		return nil, false
	}
	s := p.d[i+1 : i+1+n]
	if bytes.IndexByte(s, '\n') >= 0 || bytes.IndexByte(s, '\r') >= 0 {
		return nil, false
	}
	need := base64.StdEncoding.DecodedLen(len(s))
	a := p.arena
	if a == nil || cap(*a)-len(*a) < need {
		own := make([]byte, 0, need) // no arena, or no room left in it
		a = &own
	}
	at := len(*a)
	b := (*a)[at : at+need : at+need]
	m, ok := b64.Decode(b, s)
	if !ok {
		return nil, false
	}
	p.i = i + 2 + n
	*a = (*a)[:at+m] // the arena keeps what follows for the next record
	return b[:m:m], true
}

func (p *eventParser) strInto(dst *string) bool {
	s, ok := p.str()
	if ok {
		*dst = string(s)
	}
	return ok
}

// sharedInto is strInto for a field most records of a batch agree on: a
// value equal to the previous record's is that same string.
func (p *eventParser) sharedInto(dst *string, field int) bool {
	s, ok := p.str()
	if ok {
		if string(s) != p.last[field] {
			p.last[field] = string(s)
		}
		*dst = p.last[field]
	}
	return ok
}

// object reads {"key": value, ...}: field reads the value of key at p.i
// and returns the key's bit (a key seen twice is refused).
func (p *eventParser) object(field func(key []byte) (uint64, bool)) bool {
	i, ok := jsonscan.Object(p.d, p.i, func(key []byte, at int) (int, uint64, bool) {
		p.i = at
		bit, ok := field(key)
		return p.i, bit, ok
	})
	if ok {
		p.i = i
	}
	return ok
}

func (p *eventParser) event(ev *events.KinesisEvent) bool {
	ok := p.object(func(k []byte) (uint64, bool) {
		if string(k) != "Records" || !p.byte('[') {
			return 0, false
		}
		ev.Records = []events.KinesisEventRecord{}
		if p.byte(']') {
			return 1, true
		}
		for {
			ev.Records = append(ev.Records, events.KinesisEventRecord{})
			if !p.record(&ev.Records[len(ev.Records)-1]) {
				return 0, false
			}
			if p.byte(']') {
				return 1, true
			}
			if !p.byte(',') {
				return 0, false
			}
		}
	})
	return ok && ev.Records != nil && jsonscan.Space(p.d, p.i) == len(p.d)
}

func (p *eventParser) record(r *events.KinesisEventRecord) bool {
	return p.object(func(k []byte) (uint64, bool) {
		switch string(k) {
		case "awsRegion":
			return 1, p.sharedInto(&r.AwsRegion, fieldRegion)
		case "eventID":
			return 2, p.strInto(&r.EventID)
		case "eventName":
			return 4, p.sharedInto(&r.EventName, fieldEventName)
		case "eventSource":
			return 8, p.sharedInto(&r.EventSource, fieldEventSource)
		case "eventSourceARN":
			return 16, p.sharedInto(&r.EventSourceArn, fieldSourceARN)
		case "eventVersion":
			return 32, p.sharedInto(&r.EventVersion, fieldEventVersion)
		case "invokeIdentityArn":
			return 64, p.sharedInto(&r.InvokeIdentityArn, fieldIdentityARN)
		case "kinesis":
			return 128, p.kinesis(&r.Kinesis)
		}
		return 0, false
	})
}

// arrival sets t from n, a JSON number of seconds since the epoch (a
// fraction for the milliseconds), to the time events.SecondsEpochTime's
// UnmarshalJSON gives: the whole seconds and the fraction's nanoseconds,
// truncated, in the local zone. Without its trip through encoding/json
// (a tenth of the fan-out's time), jsonscan.Number having checked the
// syntax. A number a float64 cannot hold reports false: encoding/json
// then gives the error.
func arrival(n []byte, t *events.SecondsEpochTime) bool {
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil {
		return false
	}
	sec := int64(f)
	t.Time = time.Unix(sec, int64((f-float64(sec))*float64(time.Second)))
	return true
}

func (p *eventParser) kinesis(k *events.KinesisRecord) bool {
	return p.object(func(key []byte) (uint64, bool) {
		switch string(key) {
		case "approximateArrivalTimestamp":
			n, i, ok := jsonscan.Number(p.d, p.i)
			if !ok {
				return 0, false
			}
			p.i = i
			return 1, arrival(n, &k.ApproximateArrivalTimestamp)
		case "data":
			b, ok := p.base64()
			k.Data = b
			return 2, ok
		case "encryptionType":
			return 4, p.sharedInto(&k.EncryptionType, fieldEncryption)
		case "partitionKey":
			return 8, p.strInto(&k.PartitionKey)
		case "sequenceNumber":
			return 16, p.strInto(&k.SequenceNumber)
		case "kinesisSchemaVersion":
			return 32, p.sharedInto(&k.KinesisSchemaVersion, fieldSchemaVersion)
		}
		return 0, false
	})
}
