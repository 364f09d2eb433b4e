package awssdk

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/domain/shadow"
)

// History is the per-minute mutation history on the table:
//
//   - group totals per minute: pk HIST#<group>, sk M#<minute>, attributes
//     live and shadow (mutations newly accepted, atomic ADD) and seen
//     (records the fan-out processed for the group: mutations delivered and
//     producers' heartbeats, ADD; absent in items written before it was
//     counted);
//   - group totals per hour: pk HIST#<group>, sk H#<hour>, the same;
//   - per resource per minute: pk RHIST#<group>#<shard>, sk
//     <minute>#<resource>, live and shadow (ADD), and the agents' last
//     reported applied totals and backlogs (SET). The shard (one digit,
//     ResourceShard) spreads a large group's per-resource writes over
//     ResourceShards partitions; ResourceMinutes reads them all and merges.
//
// Every item carries expires_at (DynamoDB TTL) counted from its own minute.
type History struct{ t *Table }

// ResourceShards is how many partitions a group's per-resource minutes are
// written over (docs/DYNAMODB.md): at about 13 writes a minute per active
// resource, one partition (1,000 WCU/s) holds about 4,500 resources, eight
// about 36,000. Group minutes and hours are not sharded: their writes
// scale with the fan-out's concurrent instances, not with the resources.
// Changing it moves the items: readers find only those written under the
// same value.
const ResourceShards = 8

// ResourceShard is the shard a resource's minutes are written to: FNV-1a
// of the resource mod ResourceShards, so one resource always lands on the
// same partition and the resources spread evenly.
func ResourceShard(resource string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(resource))
	return int(h.Sum32() % ResourceShards)
}

// resourcePK is the partition key of a group's resource shard. The shard is
// one digit appended after a '#': no two (group, shard) pairs give the same
// key, whatever the group name holds.
func resourcePK(group string, shard int) string {
	return pkResHist + group + "#" + strconv.Itoa(shard)
}

// History returns the history store.
func (t *Table) History() *History { return &History{t: t} }

// attrSeen is the group items' count of the records the fan-out processed
// for the group in the period (mutation.GroupCount.Seen), heartbeats
// included.
const attrSeen = "seen"

type groupPeriod struct {
	group string
	sk    string
	start time.Time
	ttl   time.Duration
}

type resMinute struct {
	group, resource string
	minute          time.Time
}

// Add adds a Router's flushed counters: one UpdateItem per resource-minute
// and per group-minute and group-hour touched, run with bounded
// concurrency. ADD is not idempotent: a call retried after its first attempt
// landed counts twice, so counters are at-least-once (the SDK retries only
// on errors before a response, throttling mostly). On error some items may
// have been written: the error names the others; callers log it and go on
// rather than re-adding (which would double count what did land).
func (h *History) Add(ctx context.Context, counts map[mutation.CountKey]mutation.Count) error {
	groups := map[groupPeriod][3]int64{} // live, shadow, seen
	res := map[resMinute]map[mutation.Target]mutation.Count{}
	for k, c := range counts {
		if k.Group == "" || k.Resource == "" {
			return fmt.Errorf("%w: counter %+v has no group or resource", shadow.ErrInvalid, k)
		}
		m := k.Minute.UTC().Truncate(time.Minute)
		i, n := 0, int64(c.Accepted)
		switch k.Target {
		case mutation.Live:
		case mutation.Shadow:
			i = 1
		case mutation.SeenTarget:
			i, n = 2, int64(c.Seen)
		default:
			return fmt.Errorf("%w: counter target %q", shadow.ErrInvalid, k.Target)
		}
		for _, gp := range []groupPeriod{
			{group: k.Group, sk: skMinute + m.Format(minuteFmt), start: m, ttl: h.t.opt.MinuteTTL},
			{group: k.Group, sk: skHour + m.Truncate(time.Hour).Format(hourFmt), start: m.Truncate(time.Hour), ttl: h.t.opt.HourTTL},
		} {
			v := groups[gp]
			v[i] += n
			groups[gp] = v
		}
		if k.Target == mutation.SeenTarget {
			continue // a group count only
		}
		rk := resMinute{group: k.Group, resource: k.Resource, minute: m}
		if res[rk] == nil {
			res[rk] = map[mutation.Target]mutation.Count{}
		}
		prev := res[rk][k.Target]
		res[rk][k.Target] = mutation.Count{Accepted: prev.Accepted + c.Accepted, Applied: max(prev.Applied, c.Applied), Backlog: c.Backlog}
	}

	var inputs []*dynamodb.UpdateItemInput
	for rk, byTarget := range res {
		inputs = append(inputs, h.resourceUpdate(rk, byTarget))
	}
	for gp, v := range groups {
		inputs = append(inputs, &dynamodb.UpdateItemInput{
			TableName:                aws.String(h.t.name),
			Key:                      key(pkHist+gp.group, gp.sk),
			UpdateExpression:         aws.String("ADD #live :l, #shadow :s, #seen :n SET #exp = :e"),
			ExpressionAttributeNames: map[string]string{"#live": "live", "#shadow": "shadow", "#seen": attrSeen, "#exp": AttrExpiresAt},
			ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{
				":l": n(v[0]), ":s": n(v[1]), ":n": n(v[2]), ":e": n(gp.start.Add(gp.ttl).Unix()),
			},
		})
	}
	return h.t.updateAll(ctx, inputs)
}

func (h *History) resourceUpdate(rk resMinute, byTarget map[mutation.Target]mutation.Count) *dynamodb.UpdateItemInput {
	vals := map[string]ddbtypes.AttributeValue{
		":e": n(rk.minute.Add(h.t.opt.ResourceTTL).Unix()),
		":r": s(rk.resource),
	}
	names := map[string]string{"#exp": AttrExpiresAt, "#res": "resource"}
	adds := []string{}
	sets := []string{"#exp = :e", "#res = :r"}
	for _, t := range []mutation.Target{mutation.Live, mutation.Shadow} {
		c, ok := byTarget[t]
		if !ok {
			continue
		}
		p := string(t)
		vals[":"+p] = n(int64(c.Accepted))
		vals[":"+p+"a"] = nu(c.Applied)
		vals[":"+p+"b"] = nu(c.Backlog)
		names["#"+p] = p
		names["#"+p+"a"] = p + "_applied"
		names["#"+p+"b"] = p + "_backlog"
		adds = append(adds, "#"+p+" :"+p)
		sets = append(sets, "#"+p+"a = :"+p+"a", "#"+p+"b = :"+p+"b")
	}
	return &dynamodb.UpdateItemInput{
		TableName:                 aws.String(h.t.name),
		Key:                       key(resourcePK(rk.group, ResourceShard(rk.resource)), rk.minute.Format(minuteFmt)+"#"+rk.resource),
		UpdateExpression:          aws.String("ADD " + strings.Join(adds, ", ") + " SET " + strings.Join(sets, ", ")),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: vals,
	}
}

// updateAll runs the updates with bounded concurrency and joins the errors.
func (t *Table) updateAll(ctx context.Context, inputs []*dynamodb.UpdateItemInput) error {
	var (
		mu   sync.Mutex
		errs []error
		g    errgroup.Group
	)
	g.SetLimit(t.opt.Concurrency)
	for _, in := range inputs {
		g.Go(func() error {
			if _, err := t.api.UpdateItem(ctx, in); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("adding to %s/%s: %w", attrString(in.Key[AttrPK]), attrString(in.Key[AttrSK]), Classify(err)))
				mu.Unlock()
			}
			return nil // every update is tried: the errors are joined below
		})
	}
	_ = g.Wait()
	return errors.Join(errs...)
}

func attrString(v ddbtypes.AttributeValue) string {
	if sv, ok := v.(*ddbtypes.AttributeValueMemberS); ok {
		return sv.Value
	}
	return "?"
}

// GroupMinutes returns a group's per-minute totals from the minute of from
// to the minute of to, both included, oldest first. Minutes the fan-out
// wrote nothing for have no item and are absent; Seen is the item's seen
// attribute (0 when absent: history written before it was counted).
func (h *History) GroupMinutes(ctx context.Context, group string, from, to time.Time) ([]mutation.GroupCount, error) {
	return h.groupRange(ctx, group, skMinute, minuteFmt, from.UTC().Truncate(time.Minute), to.UTC().Truncate(time.Minute))
}

// GroupHours returns a group's per-hour totals, like GroupMinutes.
func (h *History) GroupHours(ctx context.Context, group string, from, to time.Time) ([]mutation.GroupCount, error) {
	return h.groupRange(ctx, group, skHour, hourFmt, from.UTC().Truncate(time.Hour), to.UTC().Truncate(time.Hour))
}

func (h *History) groupRange(ctx context.Context, group, prefix, layout string, from, to time.Time) ([]mutation.GroupCount, error) {
	if group == "" || to.Before(from) {
		return nil, fmt.Errorf("%w: history of group %q from %s to %s", shadow.ErrInvalid, group, from, to)
	}
	var out []mutation.GroupCount
	err := h.t.query(ctx, &dynamodb.QueryInput{
		KeyConditionExpression:   aws.String("#pk = :pk AND #sk BETWEEN :a AND :b"),
		ExpressionAttributeNames: map[string]string{"#pk": AttrPK, "#sk": AttrSK},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{
			":pk": s(pkHist + group), ":a": s(prefix + from.Format(layout)), ":b": s(prefix + to.Format(layout)),
		},
	}, func(m map[string]ddbtypes.AttributeValue) error {
		it := &item{m: m}
		start := it.time(AttrSK, prefix+layout)
		gc := mutation.GroupCount{Start: start, Live: it.int("live"), Shadow: it.int("shadow"), Seen: it.int(attrSeen)}
		if it.err != nil {
			return it.err
		}
		out = append(out, gc)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("querying history of group %s: %w", group, err)
	}
	return out, nil
}

// ResourceMinutes returns the per-resource minutes of a group from the
// minute of from to the minute of to, both included, ordered by minute then
// resource: one Query per resource shard (ResourceShards, in parallel),
// merged.
func (h *History) ResourceMinutes(ctx context.Context, group string, from, to time.Time) ([]mutation.ResourceCount, error) {
	from, to = from.UTC().Truncate(time.Minute), to.UTC().Truncate(time.Minute)
	if group == "" || to.Before(from) {
		return nil, fmt.Errorf("%w: resource history of group %q from %s to %s", shadow.ErrInvalid, group, from, to)
	}
	shards := make([][]mutation.ResourceCount, ResourceShards)
	var g errgroup.Group
	g.SetLimit(min(ResourceShards, max(h.t.opt.Concurrency, 1)))
	for i := range ResourceShards {
		g.Go(func() error {
			rs, err := h.resourceShard(ctx, resourcePK(group, i), from, to)
			shards[i] = rs
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("querying resource history of group %s: %w", group, err)
	}
	var out []mutation.ResourceCount
	for _, rs := range shards {
		out = append(out, rs...)
	}
	sort.SliceStable(out, func(a, b int) bool {
		if !out[a].Minute.Equal(out[b].Minute) {
			return out[a].Minute.Before(out[b].Minute)
		}
		return out[a].Resource < out[b].Resource
	})
	return out, nil
}

// resourceShard reads one shard partition of a group's resource minutes.
func (h *History) resourceShard(ctx context.Context, pk string, from, to time.Time) ([]mutation.ResourceCount, error) {
	var out []mutation.ResourceCount
	err := h.t.query(ctx, &dynamodb.QueryInput{
		KeyConditionExpression:   aws.String("#pk = :pk AND #sk BETWEEN :a AND :b"),
		ExpressionAttributeNames: map[string]string{"#pk": AttrPK, "#sk": AttrSK},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{
			":pk": s(pk), ":a": s(from.Format(minuteFmt)), ":b": s(to.Format(minuteFmt) + afterMinute),
		},
	}, func(m map[string]ddbtypes.AttributeValue) error {
		it := &item{m: m}
		sk := it.str(AttrSK)
		minute, resource, ok := strings.Cut(sk, "#")
		t, err := time.Parse(minuteFmt, minute)
		if !ok || err != nil {
			return fmt.Errorf("resource history item %s: sort key is not <minute>#<resource>", sk)
		}
		rc := mutation.ResourceCount{
			Minute: t.UTC(), Resource: resource,
			Live: it.int("live"), Shadow: it.int("shadow"),
			LiveApplied: it.uint("live_applied"), ShadowApplied: it.uint("shadow_applied"),
			LiveBacklog: it.uint("live_backlog"), ShadowBacklog: it.uint("shadow_backlog"),
		}
		if it.err != nil {
			return it.err
		}
		out = append(out, rc)
		return nil
	})
	return out, err
}
