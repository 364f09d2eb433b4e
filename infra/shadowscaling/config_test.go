package shadowscaling

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// getter serves context values as the CDK does: JSON types from cdk.json,
// strings from -c key=value.
func getter(values map[string]any) ContextGetter {
	return func(key string) any { return values[key] }
}

func TestConfigFromContext(t *testing.T) {
	cases := []struct {
		name  string
		ctx   map[string]any
		check func(t *testing.T, c Config)
	}{
		{"defaults", map[string]any{}, func(t *testing.T, c Config) {
			if c.StackName != "ShadowScale" || c.Mode != "forecast-only" || c.CPUFraction != 0.25 || c.MemoryFraction != 0.10 ||
				c.AgentPort != 8470 || !c.DeletionProtection || c.VpcID != "" || c.AssetDir != "../build" ||
				c.ShadowReplacementsPerHour != 20 || c.ShadowExcludeBurstable || c.AsgEventsAllGroups {
				t.Errorf("defaults: %+v", c)
			}
		}},
		{"cdk.json types", map[string]any{
			"groups": []any{"web", "api"}, "mode": "act", "shadowCpuFraction": 0.5, "agentPort": float64(9000),
			"deletionProtection": false, "policy": map[string]any{"delta": 0.3},
		}, func(t *testing.T, c Config) {
			if strings.Join(c.Groups, ",") != "web,api" || c.Mode != "act" || c.CPUFraction != 0.5 || c.AgentPort != 9000 ||
				c.DeletionProtection || c.Policy != `{"delta":0.3}` {
				t.Errorf("got %+v", c)
			}
		}},
		{"command-line strings", map[string]any{
			"groups": "web, api", "shadowMemoryFraction": "0.2", "agentPort": "8471", "deletionProtection": "false",
			"alarmEmails": `["a@example.com"]`, "policy": `{"delta":0.3}`,
		}, func(t *testing.T, c Config) {
			if strings.Join(c.Groups, ",") != "web,api" || c.MemoryFraction != 0.2 || c.AgentPort != 8471 || c.DeletionProtection ||
				len(c.AlarmEmails) != 1 || c.Policy != `{"delta":0.3}` {
				t.Errorf("got %+v", c)
			}
		}},
		{"per-instance capacity and resize", map[string]any{
			"perInstance": "600", "allowResize": "true",
			"resizeInstanceRoleArns": "arn:aws:iam::123456789012:role/web,arn:aws:iam::123456789012:role/path/api",
			"streamRetentionHours":   "48", "shadowGapAlarmPercent": 25.5,
		}, func(t *testing.T, c Config) {
			if c.PerInstance != 600 || !c.AllowResize || len(c.ResizeInstanceRoleARNs) != 2 || c.StreamRetentionHours != 48 ||
				c.ShadowGapAlarmPercent != 25.5 {
				t.Errorf("got %+v", c)
			}
		}},
		{"a provisioned stream and a longer route cache", map[string]any{
			"streamMode": "provisioned", "streamShards": "407", "routeCacheSeconds": 120,
		}, func(t *testing.T, c Config) {
			if c.StreamMode != StreamProvisioned || c.StreamShards != 407 || c.RouteCacheSeconds != 120 {
				t.Errorf("got %+v", c)
			}
		}},
		{"lifecycle settings", map[string]any{
			"shadowImageIdArm64": "ami-0a", "shadowImageIdX86": "ami-0b", "shadowExcludeBurstable": "true",
			"shadowReplacementsPerHour": "5", "asgEventsAllGroups": true,
		}, func(t *testing.T, c Config) {
			if c.ShadowImageIDArm64 != "ami-0a" || c.ShadowImageIDX86 != "ami-0b" || !c.ShadowExcludeBurstable || c.ShadowReplacementsPerHour != 5 || !c.AsgEventsAllGroups {
				t.Errorf("got %+v", c)
			}
		}},
		{"empty groups string", map[string]any{"groups": ""}, func(t *testing.T, c Config) {
			if len(c.Groups) != 0 {
				t.Errorf("groups %q, want none", c.Groups)
			}
		}},
		{"own VPC", map[string]any{
			"vpcId": "vpc-0123456789abcdef0", "availabilityZones": "us-east-1a,us-east-1b", "planeSubnetIds": "subnet-0a,subnet-0b",
			"shadowPools": `{"us-east-1a":{"subnets":["subnet-1a"],"capacity":5}}`,
		}, func(t *testing.T, c Config) {
			if c.Pools["us-east-1a"].Capacity != 5 || c.Pools["us-east-1a"].Subnets[0] != "subnet-1a" || len(c.PlaneSubnetIDs) != 2 {
				t.Errorf("got %+v", c)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ConfigFromContext(getter(tc.ctx))
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			tc.check(t, c)
		})
	}
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		name string
		ctx  map[string]any
		want []string // every one must be reported, at once
	}{
		{"bad values", map[string]any{
			"mode": "yolo", "shadowCpuFraction": 1.5, "shadowMemoryFraction": "0", "agentPort": 80, "logLevel": "loud",
			"stackName": "9lives", "groups": []any{"a,b", "c", "c"},
		}, []string{"mode", "shadowCpuFraction", "shadowMemoryFraction", "agentPort", "logLevel", "stackName", `"a,b"`, `"c" named twice`}},
		{"wrong types", map[string]any{"agentPort": "eighty", "deletionProtection": "maybe", "groups": float64(3), "policy": "[1,2]"},
			[]string{"context agentPort", "context deletionProtection", "context groups", "context policy"}},
		{"not whole", map[string]any{"agentPort": 8470.5}, []string{"not a whole number"}},
		{"pools without vpc", map[string]any{"planeSubnetIds": "subnet-0a"}, []string{"need vpcId"}},
		{"own VPC incomplete", map[string]any{"vpcId": "vpc-0123456789abcdef0", "availabilityZones": "us-east-1a"},
			[]string{"planeSubnetIds: need at least one", "availabilityZones: want one per plane subnet", "shadowPools: need a pool"}},
		{"bad pools", map[string]any{"vpcId": "vpc-0123456789abcdef0", "availabilityZones": "us-east-1a", "planeSubnetIds": "subnet-0a",
			"shadowPools": map[string]any{"nowhere": map[string]any{"subnets": []any{"sn-1"}, "capacity": 0}}},
			[]string{`"nowhere" is not an AZ`, `"sn-1" is not a subnet id`, "capacity 0"}},
		{"unknown pool field", map[string]any{"vpcId": "vpc-0123456789abcdef0", "shadowPools": `{"us-east-1a":{"subnet":["subnet-1"]}}`},
			[]string{"unknown field"}},
		{"per-instance capacity given twice, differently", map[string]any{"perInstance": 600, "policy": `{"per_instance": 500}`},
			[]string{"perInstance 600 conflicts with per_instance 500"}},
		{"bad per-instance capacities", map[string]any{"perInstance": -3, "policy": map[string]any{"per_instance": "lots"}},
			[]string{"perInstance -3", `policy per_instance lots`}},
		{"resize in the policy without the grant", map[string]any{"policy": `{"allow_resize": true}`},
			[]string{"allow_resize=true needs allowResize=true"}},
		{"resize granted but refused by the policy", map[string]any{"allowResize": true, "policy": `{"allow_resize": false}`},
			[]string{"conflicts with allow_resize=false"}},
		{"resize not a boolean", map[string]any{"allowResize": true, "policy": `{"allow_resize": "yes"}`},
			[]string{"policy allow_resize yes"}},
		{"role ARNs", map[string]any{"resizeInstanceRoleArns": []any{"arn:aws:iam::123456789012:role/*", "web"}},
			[]string{`"arn:aws:iam::123456789012:role/*" is not an IAM role ARN`, `"web" is not an IAM role ARN`, "needs allowResize=true"}},
		{"retention and gap out of range", map[string]any{"streamRetentionHours": 200, "shadowGapAlarmPercent": 0},
			[]string{"streamRetentionHours 200", "shadowGapAlarmPercent 0"}},
		{"stream mode unknown, route cache out of range", map[string]any{"streamMode": "fast", "routeCacheSeconds": 0},
			[]string{`streamMode "fast"`, "routeCacheSeconds 0"}},
		{"provisioned without shards", map[string]any{"streamMode": "provisioned"}, []string{"streamShards 0: a provisioned stream needs 1-10000 shards"}},
		{"shards on demand, route cache too long", map[string]any{"streamShards": 4, "routeCacheSeconds": 601},
			[]string{"streamShards 4: an on-demand stream has no shard count", "routeCacheSeconds 601"}},
		{"removed key", map[string]any{"syncLagAlarmSeconds": 300}, []string{"context syncLagAlarmSeconds: removed: no function emits ShadowSyncLagSeconds"}},
		{"live security groups on the shadows' agent port", map[string]any{"liveSecurityGroupIds": []any{"sg-0123456789abcdef0"}},
			[]string{"context liveSecurityGroupIds: removed: live instances no longer reach the shadows' agent port"}},
		{"one shadow AMI for every architecture", map[string]any{"shadowArchitecture": "x86_64", "shadowImageId": "ami-0123"},
			[]string{"context shadowArchitecture: removed: shadows get a launch template per architecture", "context shadowImageId: removed: an AMI is of one architecture"}},
		{"lifecycle settings out of range", map[string]any{"shadowReplacementsPerHour": 0, "shadowImageIdX86": "img-1", "shadowExcludeBurstable": "perhaps"},
			[]string{"shadowReplacementsPerHour 0", `shadowImageIdX86 "img-1"`, "context shadowExcludeBurstable"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ConfigFromContext(getter(tc.ctx))
			if err == nil {
				t.Fatal("want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestPoolsJSON(t *testing.T) {
	pools := map[string]Pool{"us-east-1b": {Subnets: []string{"subnet-2"}, Capacity: 3}, "us-east-1a": {Subnets: []string{"subnet-1"}, Capacity: 50}}
	got := poolsJSON(pools)
	if got != `{"us-east-1a":{"subnets":["subnet-1"],"capacity":50},"us-east-1b":{"subnets":["subnet-2"],"capacity":3}}` {
		t.Errorf("poolsJSON = %s", got)
	}
	var back map[string]Pool
	if err := json.Unmarshal([]byte(got), &back); err != nil || back["us-east-1b"].Capacity != 3 {
		t.Errorf("round trip: %v %v", back, err)
	}
}

func TestPolicyJSON(t *testing.T) {
	cases := []struct {
		name string
		cfg  func(*Config)
		want string
	}{
		{"nothing", func(*Config) {}, ""},
		{"policy as given, keys sorted", func(c *Config) { c.Policy = `{"min":2,"lead":"5m","target_utilization":0.85}` },
			`{"lead":"5m","min":2,"target_utilization":0.85}`},
		{"per-instance merged", func(c *Config) { c.Policy = `{"min":2}`; c.PerInstance = 1234.5 }, `{"min":2,"per_instance":1234.5}`},
		{"per-instance given both ways, the same", func(c *Config) { c.Policy = `{"per_instance":600}`; c.PerInstance = 600 }, `{"per_instance":600}`},
		{"per-instance from the policy only", func(c *Config) { c.Policy = `{"per_instance":600}` }, `{"per_instance":600}`},
		{"resize merged", func(c *Config) { c.AllowResize = true }, `{"allow_resize":true}`},
		{"resize given both ways", func(c *Config) { c.Policy = `{"allow_resize":true}`; c.AllowResize = true }, `{"allow_resize":true}`},
		{"large numbers kept exactly", func(c *Config) { c.Policy = `{"max":12345678901234567}` }, `{"max":12345678901234567}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.cfg(&c)
			if err := c.Validate(); err != nil {
				t.Fatalf("validate: %v", err)
			}
			got, err := c.PolicyJSON()
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("PolicyJSON = %s, want %s", got, tc.want)
			}
		})
	}
}

// Every key ConfigFromContext reads is documented in docs/INFRA.md's
// configuration table, and every key that table lists is read.
func TestContextKeysDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "INFRA.md"))
	if err != nil {
		t.Fatalf("reading docs/INFRA.md: %v", err)
	}
	text := string(doc)
	start := strings.Index(text, "| key | default | what |")
	if start < 0 {
		t.Fatal("docs/INFRA.md has no configuration table")
	}
	table := text[start:]
	if end := strings.Index(table, "\n\n"); end > 0 {
		table = table[:end]
	}
	documented := map[string]bool{}
	for _, line := range strings.Split(table, "\n")[2:] {
		cell := strings.SplitN(strings.TrimPrefix(line, "|"), "|", 2)[0]
		for _, k := range strings.Split(cell, ",") {
			documented[strings.Trim(strings.TrimSpace(k), "`")] = true
		}
	}
	read := map[string]bool{}
	for _, k := range ContextKeys() {
		read[k] = true
		if !documented[k] {
			t.Errorf("context key %s is not in docs/INFRA.md's configuration table", k)
		}
	}
	for k := range documented {
		if !read[k] {
			t.Errorf("docs/INFRA.md documents %q, which the app does not read", k)
		}
	}
}
