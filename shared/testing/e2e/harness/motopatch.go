//go:build e2e

package harness

// KinesisScalePatch is a moto.Options.Prelude that makes moto's Kinesis
// shard constant-time per put and per read, for runs that put hundreds of
// thousands of records on a stream (`make soak`). moto 5.2.1 copies the
// list of a shard's sequence numbers on every put_record
// (get_max_sequence_number: list(keys)[-1]) and scans the shard from its
// start on every get_records, so a stream's cost grows with its length:
// at 1,000 records a second its consumer fell behind after two minutes,
// measuring moto rather than the plane. The patch keeps the semantics
// (records, sequence numbers, iterators, MillisBehindLatest) and changes
// only the cost: the first and last sequence numbers from the ends of the
// ordered dict, and a read by index when a shard's sequence numbers are
// contiguous (moto numbers them 1, 2, 3...; otherwise moto's own code).
const KinesisScalePatch = `
import moto.kinesis.models as _km

def _first(self):
    return next(iter(self.records)) if self.records else 0

def _last(self):
    return next(reversed(self.records)) if self.records else 0

_orig_get_records = _km.Shard.get_records

def _get_records(self, last_sequence_id, limit):
    recs = self.records
    if not recs:
        return _orig_get_records(self, last_sequence_id, limit)
    lo, hi = _first(self), _last(self)
    if hi - lo + 1 != len(recs):
        return _orig_get_records(self, last_sequence_id, limit)
    last = int(last_sequence_id)
    start = max(last + 1, lo)
    end = hi if limit is None else min(hi, start + limit - 1)
    if start > end:
        return [], last, 0
    results = [recs[s] for s in range(start, end + 1)]
    behind = recs[hi].created_at - results[-1].created_at
    return results, results[-1].sequence_number, int(behind * 1000)

_km.Shard.get_min_sequence_number = _first
_km.Shard.get_max_sequence_number = _last
_km.Shard.get_records = _get_records
`
