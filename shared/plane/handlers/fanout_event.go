package handlers

import (
	"encoding/base64"
	"encoding/json"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// ParseKinesisEvent decodes a Lambda Kinesis event payload into
// events.KinesisEvent exactly as json.Unmarshal does (errors included).
// Payloads in the shape Lambda sends (the documented fields, each once,
// strings without escapes) take a fast path, about five times faster;
// anything else goes to encoding/json. FuzzParseKinesisEvent checks the
// two agree.
func ParseKinesisEvent(payload []byte) (events.KinesisEvent, error) {
	var ev events.KinesisEvent
	if p := (&eventParser{d: payload}); p.event(&ev) {
		return ev, nil
	}
	ev = events.KinesisEvent{}
	err := json.Unmarshal(payload, &ev)
	return ev, err
}

// eventParser is the fast path: every method reports false as soon as the
// input leaves the canonical shape, and the caller falls back.
type eventParser struct {
	d []byte
	i int
}

func (p *eventParser) ws() {
	for p.i < len(p.d) {
		switch p.d[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// byte consumes c (after whitespace).
func (p *eventParser) byte(c byte) bool {
	p.ws()
	if p.i < len(p.d) && p.d[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *eventParser) peek(c byte) bool {
	p.ws()
	return p.i < len(p.d) && p.d[p.i] == c
}

// str reads a string without escapes or control characters, of valid
// UTF-8 (which encoding/json decodes to the same bytes).
func (p *eventParser) str() ([]byte, bool) {
	p.ws()
	if p.i >= len(p.d) || p.d[p.i] != '"' {
		return nil, false
	}
	ascii := true
	for j := p.i + 1; j < len(p.d); j++ {
		switch c := p.d[j]; {
		case c == '"':
			s := p.d[p.i+1 : j]
			if !ascii && !utf8.Valid(s) {
				return nil, false
			}
			p.i = j + 1
			return s, true
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, false
}

// number reads a JSON number and returns its text.
func (p *eventParser) number() ([]byte, bool) {
	p.ws()
	d, i := p.d, p.i
	start := i
	if i < len(d) && d[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
			n++
		}
		return n
	}
	first := i
	if n := digits(); n == 0 || (d[first] == '0' && n > 1) {
		return nil, false
	}
	if i < len(d) && d[i] == '.' {
		i++
		if digits() == 0 {
			return nil, false
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if digits() == 0 {
			return nil, false
		}
	}
	p.i = i
	return d[start:i], true
}

// object reads {"key": value, ...}, calling field for each key, which
// reads the value and returns the key's bit; a key seen twice is refused.
func (p *eventParser) object(field func(key []byte) (uint16, bool)) bool {
	if !p.byte('{') {
		return false
	}
	if p.byte('}') {
		return true
	}
	var seen uint16
	for {
		k, ok := p.str()
		if !ok || !p.byte(':') {
			return false
		}
		bit, ok := field(k)
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
		if p.byte('}') {
			return true
		}
		if !p.byte(',') {
			return false
		}
	}
}

func (p *eventParser) event(ev *events.KinesisEvent) bool {
	ok := p.object(func(k []byte) (uint16, bool) {
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
	p.ws()
	return ok && ev.Records != nil && p.i == len(p.d)
}

func (p *eventParser) strInto(dst *string) bool {
	s, ok := p.str()
	if ok {
		*dst = string(s)
	}
	return ok
}

func (p *eventParser) record(r *events.KinesisEventRecord) bool {
	return p.object(func(k []byte) (uint16, bool) {
		switch string(k) {
		case "awsRegion":
			return 1, p.strInto(&r.AwsRegion)
		case "eventID":
			return 2, p.strInto(&r.EventID)
		case "eventName":
			return 4, p.strInto(&r.EventName)
		case "eventSource":
			return 8, p.strInto(&r.EventSource)
		case "eventSourceARN":
			return 16, p.strInto(&r.EventSourceArn)
		case "eventVersion":
			return 32, p.strInto(&r.EventVersion)
		case "invokeIdentityArn":
			return 64, p.strInto(&r.InvokeIdentityArn)
		case "kinesis":
			return 128, p.kinesis(&r.Kinesis)
		}
		return 0, false
	})
}

func (p *eventParser) kinesis(k *events.KinesisRecord) bool {
	return p.object(func(key []byte) (uint16, bool) {
		switch string(key) {
		case "approximateArrivalTimestamp":
			n, ok := p.number()
			return 1, ok && k.ApproximateArrivalTimestamp.UnmarshalJSON(n) == nil
		case "data":
			s, ok := p.str()
			if !ok {
				return 0, false
			}
			b := make([]byte, base64.StdEncoding.DecodedLen(len(s)))
			n, err := base64.StdEncoding.Decode(b, s)
			k.Data = b[:n]
			return 2, err == nil
		case "encryptionType":
			return 4, p.strInto(&k.EncryptionType)
		case "partitionKey":
			return 8, p.strInto(&k.PartitionKey)
		case "sequenceNumber":
			return 16, p.strInto(&k.SequenceNumber)
		case "kinesisSchemaVersion":
			return 32, p.strInto(&k.KinesisSchemaVersion)
		}
		return 0, false
	})
}
