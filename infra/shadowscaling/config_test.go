package shadowscaling

import (
	"encoding/json"
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
				c.AgentPort != 8470 || !c.DeletionProtection || c.VpcID != "" || c.AssetDir != "../build" {
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
