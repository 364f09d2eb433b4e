package mutation

import "google.golang.org/protobuf/encoding/protowire"

// The common cases of protowire's Consume functions, small enough to be
// inlined (a call to protowire's does not fit the inliner's budget, so the
// caller makes it): each returns n = 0 when its case does not apply, and
// the caller then calls protowire's function, which reads the input (and
// reports its errors) as ever. Where both read it, they agree.

// tag1 is protowire.ConsumeTag for a one-byte tag (field numbers 1 to 15:
// every field of the messages read here).
func tag1(b []byte) (num protowire.Number, typ protowire.Type, n int) {
	if len(b) != 0 && b[0] >= 1<<3 && b[0] < 0x80 {
		return protowire.Number(b[0] >> 3), protowire.Type(b[0] & 7), 1
	}
	return 0, 0, 0
}

// varint1 is protowire.ConsumeVarint for a one-byte value.
func varint1(b []byte) (v uint64, n int) {
	if len(b) != 0 && b[0] < 0x80 {
		return uint64(b[0]), 1
	}
	return 0, 0
}

// bytes1 is protowire.ConsumeBytes for a length below 128 that b holds.
func bytes1(b []byte) (v []byte, n int) {
	if len(b) != 0 && b[0] < 0x80 && int(b[0]) < len(b) {
		return b[1 : 1+b[0]], 1 + int(b[0])
	}
	return nil, 0
}
