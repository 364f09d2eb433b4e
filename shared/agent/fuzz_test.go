package agent

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
)

// FuzzApplyAPI sends arbitrary bodies, correctly signed, to POST /v1/apply,
// a second apart on the agent's clock (so gaps expire): the agent answers
// 200, 400 or 413, never panics, and a 200 leaves an accepted and a
// contiguous seq consistent with the answer, every mutation counted once
// (accepted, duplicate or rejected), every rejected seq one of the batch.
func FuzzApplyAPI(f *testing.F) {
	const res = "i-0fuzz"
	f.Add(applyBody(f, res, mut(res, 1, mutation.OpPut, "k", "v"), mut(res, 2, mutation.OpDelete, "k", "")))
	f.Add(applyBody(f, res, mut(res, 2, mutation.OpPut, "k", "v"), mut(res, 1, mutation.OpPut, "k", "v")))
	f.Add(applyBody(f, res, mut(res, 3, mutation.OpPut, "k", "v"), mut(res, 9, mutation.OpPut, "k", "v")))
	f.Add(applyBody(f, res, mut(res, 5, mutation.OpPut, "k", "v"), mut(res, 7, mutation.OpDelete, "k", "")))
	f.Add([]byte(`{"resource":"i-0fuzz","mutations":[{"v":1,"resource":"i-0fuzz","seq":18446744073709551615,"op":"put","key":"k","value":"","ts":"2026-11-28T12:00:00Z"}]}`))
	f.Add([]byte(`{"resource":"i-0fuzz","mutations":[]}`))
	f.Add([]byte(`{"resource":"","mutations":null}`))
	f.Add([]byte(`[`))
	f.Add([]byte{})
	clk := clock.NewFake(t0)
	st := openTestStore(f, f.TempDir(), clk, StoreOptions{})
	f.Cleanup(func() { st.Close() })
	id := DeriveIdentity(testKey, "i-0agent")
	srv, err := NewServer(st, ServerConfig{Identities: []Identity{id}, Clock: clk, MaxBody: 64 << 10, ReplayCache: 1 << 22})
	if err != nil {
		f.Fatal(err)
	}
	var n atomic.Uint64
	f.Fuzz(func(t *testing.T, body []byte) {
		clk.Advance(time.Second)
		req := httptest.NewRequest("POST", PathApply, bytes.NewReader(body))
		var nonce [16]byte
		binary.BigEndian.PutUint64(nonce[:], n.Add(1))
		req.TLS = &tls.ConnectionState{ServerName: id.InstanceID}
		signRequest(id, req, clk.Now(), nonce, bodyHash(body))
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK:
			var resp ApplyResponse
			if err := jsonUnmarshal(rec.Body.Bytes(), &resp); err != nil {
				t.Fatalf("200 with a bad body: %v", err)
			}
			if got := st.Status(resp.Resource); got.AcceptedSeq != resp.Through || got.ContiguousSeq != resp.Contiguous {
				t.Fatalf("acked through %d contiguous %d, store says %d and %d", resp.Through, resp.Contiguous, got.AcceptedSeq, got.ContiguousSeq)
			}
			var req ApplyRequest // decoded as the server does (trailing data ignored)
			if err := json.NewDecoder(bytes.NewReader(body)).Decode(&req); err != nil {
				t.Fatalf("200 for a body that does not decode: %v", err)
			}
			if n := resp.Accepted + resp.Duplicates + len(resp.Rejected); n != len(req.Mutations) {
				t.Fatalf("%d mutations, answered %d accepted, %d duplicates, %d rejected", len(req.Mutations), resp.Accepted, resp.Duplicates, len(resp.Rejected))
			}
			for _, r := range resp.Rejected {
				if !slices.ContainsFunc(req.Mutations, func(m mutation.Mutation) bool { return m.Seq == r }) || r > resp.Through {
					t.Fatalf("rejected seq %d is not of the batch or above %d", r, resp.Through)
				}
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	})
}

// FuzzSnapshotImport feeds arbitrary streams to Import: it accepts a valid
// snapshot or refuses with ErrBadSnapshot (or ErrConflict: a snapshot
// older than what an earlier import left), never panics, and a refused
// import changes nothing.
func FuzzSnapshotImport(f *testing.F) {
	const res = "i-0fuzz"
	src := openTestStore(f, f.TempDir(), clock.NewFake(t0), StoreOptions{})
	accept(f, src, res, genMutations(1, res, 1, 40, 8, 6))
	applyN(f, src, 30)
	var buf bytes.Buffer
	if err := src.Export(res, &buf); err != nil {
		f.Fatal(err)
	}
	src.Close()
	f.Add(buf.Bytes())
	// A snapshot with a gap open and a gap given up.
	clk := clock.NewFake(t0)
	gapped := openTestStore(f, f.TempDir(), clk, StoreOptions{})
	stream := genMutations(2, res, 1, 30, 8, 6)
	accept(f, gapped, res, pick(stream, append(span(1, 4), span(7, 20)...)...))
	clk.Advance(DefaultGapWait)
	accept(f, gapped, res, pick(stream, 22, 23))
	applyN(f, gapped, 10)
	var gbuf bytes.Buffer
	if err := gapped.Export(res, &gbuf); err != nil {
		f.Fatal(err)
	}
	gapped.Close()
	f.Add(gbuf.Bytes())
	f.Add([]byte(snapshotMagic))
	f.Add([]byte(snapshotMagic + "H\x02{}E\x00"))
	f.Add(buf.Bytes()[:len(buf.Bytes())/2])
	dst := openTestStore(f, f.TempDir(), clock.NewFake(t0), StoreOptions{})
	f.Cleanup(func() { dst.Close() })
	f.Fuzz(func(t *testing.T, data []byte) {
		before := dst.Digest(res)
		_, err := dst.Import(res, bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrBadSnapshot) && !errors.Is(err, ErrConflict) {
				t.Fatalf("import: %v, want ErrBadSnapshot or ErrConflict", err)
			}
			if after := dst.Digest(res); after.Digest != before.Digest {
				t.Fatal("a refused import changed the state")
			}
		}
	})
}

// FuzzChunkReader: arbitrary bodies claimed to be chunk-signed never panic
// and are refused unless correctly signed.
func FuzzChunkReader(f *testing.F) {
	seed := bytes.Repeat([]byte{1}, 32)
	f.Add(chunked(f, []byte("hello"), 2, seed))
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := io.ReadAll(newChunkReader(bytes.NewReader(data), testKey, seed))
		if err != nil && !errors.Is(err, ErrUnauthorized) {
			t.Fatalf("error %v does not wrap ErrUnauthorized", err)
		}
	})
}
