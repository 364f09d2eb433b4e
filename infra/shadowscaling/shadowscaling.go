// Package shadowscaling is the CDK construct of the shadowscale control
// plane (ShadowScaling) and the stack that deploys it (NewShadowScaleStack).
//
// Everything here is plain CloudFormation: no construct that deploys a
// custom-resource Lambda (log retention, bucket deployments, providers,
// auto-deleted objects, the VPC's default security group restriction), so
// the template deploys on moto server and LocalStack as well as on AWS.
// Names passed to the functions are those of docs/CONTRACTS.md.
package shadowscaling

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesis"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3assets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Function names: the Makefile builds build/lambda/<fn>/bootstrap for each.
const (
	FnLaunch     = "launch"
	FnTerminate  = "terminate"
	FnFanout     = "fanout"
	FnForecaster = "forecaster"
	FnReconciler = "reconciler"
)

// Functions lists the five functions in a fixed order.
var Functions = []string{FnLaunch, FnTerminate, FnFanout, FnForecaster, FnReconciler}

// Tag keys and values of docs/CONTRACTS.md that the IAM conditions use.
const (
	TagRole        = "shadowscale:role"
	TagRoleShadow  = "shadow"
	TagStack       = "shadowscale:stack"
	TagLive        = "shadowscale:live-instance"
	TagGroup       = "shadowscale:group"
	TagGeneration  = "shadowscale:generation"
	TagEnrolled    = "shadowscale:enrolled"
	Namespace      = "ShadowScale"
	demoPlaneGroup = "plane"
	demoPoolGroup  = "shadow-pool"
	demoLiveGroup  = "live"
)

// funcSpec is a function's sizing, with the reasons.
type funcSpec struct {
	memoryMB int
	timeout  awscdk.Duration
	inVpc    bool // must reach the agents on port AgentPort
}

func specs() map[string]funcSpec {
	return map[string]funcSpec{
		// launch and terminate make a handful of EC2 and DynamoDB calls per
		// event (describe, run or terminate, a conditional write): I/O bound,
		// 256 MB is plenty for a Go binary; 30 s covers a throttled
		// RunInstances with SDK retries. launch also waits up to 10 s for
		// EC2 to show the instance the event names (eventual consistency):
		// 60 s.
		FnLaunch:    {memoryMB: 256, timeout: awscdk.Duration_Seconds(jsii.Number(60))},
		FnTerminate: {memoryMB: 256, timeout: awscdk.Duration_Seconds(jsii.Number(30))},
		// fanout decodes up to 500 records per batch and sends them to two
		// agents each: 512 MB buys twice the CPU share of 256 MB for the
		// JSON work; 60 s bounds a batch against slow agents (the mapping
		// then bisects and retries).
		FnFanout: {memoryMB: 512, timeout: awscdk.Duration_Seconds(jsii.Number(60)), inVpc: true},
		// forecaster steps each group's loop every minute (a restore
		// replays up to 7 days, a warm loop one minute): CPU bound, 1,769
		// MB is one vCPU (forecasterMemoryMb); it must finish before the
		// next tick, hence 55 s, and it stops starting groups 10 s before
		// that.
		FnForecaster: {memoryMB: DefaultForecasterMemoryMB, timeout: awscdk.Duration_Seconds(jsii.Number(55))},
		// reconciler compares every live instance with its shadow and may
		// stream a snapshot to a stale shadow: 512 MB, and up to 4 minutes so
		// one run ends before the next 5-minute schedule (it starts no
		// action in its last 30 s: the rest is the next run's).
		FnReconciler: {memoryMB: 512, timeout: awscdk.Duration_Minutes(jsii.Number(4)), inVpc: true},
	}
}

// Props configure a ShadowScaling construct.
type Props struct {
	Config
	// StackName is written into the shadowscale:stack tag conditions and
	// SHADOWSCALE_STACK; it must be the literal name of the owning stack.
	StackName string
}

// ShadowScaling is the control plane: stream, table, functions, rules,
// the shadow launch template, dashboard and alarms.
type ShadowScaling struct {
	constructs.Construct

	Table       awsdynamodb.Table
	Stream      awskinesis.Stream
	DeadLetters awssqs.Queue
	// DeadLetterBucket holds the fan-out's dead letters too large for a
	// message (under DeadLetterPrefix) and the mapping's on-failure
	// records (under OnFailurePrefix).
	DeadLetterBucket awss3.Bucket
	// AgentSecret is the master key the plane derives each agent's key
	// from; only the fanout and reconciler read it.
	AgentSecret awssecretsmanager.Secret
	// AgentSecretName is what the functions are given; the ARN pattern is
	// what their policies allow.
	AgentSecretName       string
	AgentSecretArnPattern string
	// AgentEnrollmentKey seals an instance's agent key for that instance
	// (docs/AGENT.md, "Enrollment"): the plane encrypts, an instance
	// decrypts only under its own ARN.
	AgentEnrollmentKey awskms.Key
	Functions          map[string]awslambda.Function
	Vpc                awsec2.IVpc
	PlaneSG            awsec2.SecurityGroup
	ShadowSG           awsec2.SecurityGroup
	DemoLiveSG         awsec2.SecurityGroup // nil with an own VPC
	ShadowRole         awsiam.Role
	LaunchTemplate     awsec2.LaunchTemplate
	AgentAssets        map[string]awss3assets.Asset // by arch: arm64, amd64
	LiveAgentPolicy    awsiam.ManagedPolicy
	LiveUserData       *string
	PoolsJSON          *string
	PoolSubnetIDs      []*string
	Dashboard          awscloudwatch.Dashboard
	Alarms             []awscloudwatch.IAlarm
	AlarmTopic         awssns.Topic // nil unless configured
	// PolicyJSON is the forecaster's SHADOWSCALE_POLICY (Config.PolicyJSON).
	PolicyJSON string
	// LaunchTemplates are the shadow launch templates by architecture
	// (LaunchTemplate is the arm64 one).
	LaunchTemplates map[string]awsec2.LaunchTemplate
}

// NewShadowScaling adds the control plane to scope. The configuration is
// validated first (Config.Validate: every problem at once, nothing added
// to scope); the asset directory must hold the Makefile's build output
// (lambda/<fn>/bootstrap, agent/shadow-agent-linux-*).
func NewShadowScaling(scope constructs.Construct, id string, props Props) (*ShadowScaling, error) {
	cfg := props.Config
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("configuration of %s: %w", id, err)
	}
	policy, err := cfg.PolicyJSON()
	if err != nil {
		return nil, fmt.Errorf("configuration of %s: %w", id, err)
	}
	c := &ShadowScaling{Construct: constructs.NewConstruct(scope, jsii.String(id)), PolicyJSON: policy}

	c.network(cfg)
	c.data(cfg, props)
	c.shadowTemplate(cfg, props.StackName)
	c.functions(cfg, props.StackName)
	c.permissions(cfg, props.StackName)
	c.triggers(cfg)
	c.observability(cfg)
	return c, nil
}

func (c *ShadowScaling) network(cfg Config) {
	s := c.Construct
	if cfg.VpcID == "" {
		// The demo VPC: isolated subnets only (no NAT gateway, no internet
		// gateway), reaching the AWS APIs through VPC endpoints. Its default
		// security group is left as is: restricting it is a custom resource.
		vpc := awsec2.NewVpc(s, jsii.String("DemoVpc"), &awsec2.VpcProps{
			MaxAzs:                       jsii.Number(2),
			NatGateways:                  jsii.Number(0),
			RestrictDefaultSecurityGroup: jsii.Bool(false),
			SubnetConfiguration: &[]*awsec2.SubnetConfiguration{
				{Name: jsii.String(demoPlaneGroup), SubnetType: awsec2.SubnetType_PRIVATE_ISOLATED, CidrMask: jsii.Number(24)},
				{Name: jsii.String(demoLiveGroup), SubnetType: awsec2.SubnetType_PRIVATE_ISOLATED, CidrMask: jsii.Number(22)},
				{Name: jsii.String(demoPoolGroup), SubnetType: awsec2.SubnetType_PRIVATE_ISOLATED, CidrMask: jsii.Number(22)},
			},
		})
		// Gateway endpoints (free): DynamoDB for the functions, S3 for the
		// instances fetching the agent binary.
		vpc.AddGatewayEndpoint(jsii.String("DynamoDb"), &awsec2.GatewayVpcEndpointOptions{
			Service: awsec2.GatewayVpcEndpointAwsService_DYNAMODB(),
		})
		vpc.AddGatewayEndpoint(jsii.String("S3"), &awsec2.GatewayVpcEndpointOptions{
			Service: awsec2.GatewayVpcEndpointAwsService_S3(),
		})
		// Interface endpoints for what the in-VPC functions (fanout,
		// reconciler) and the instances call: the agents' master key, the
		// enrollment key, dead letters, EC2 and Auto Scaling descriptions.
		endpoints := []struct {
			id  string
			svc awsec2.InterfaceVpcEndpointAwsService
		}{
			{"SecretsManager", awsec2.InterfaceVpcEndpointAwsService_SECRETS_MANAGER()},
			// The agents' enrollment: the functions seal, the instances open.
			{"Kms", awsec2.InterfaceVpcEndpointAwsService_KMS()},
			{"Sqs", awsec2.InterfaceVpcEndpointAwsService_SQS()},
			{"Ec2", awsec2.InterfaceVpcEndpointAwsService_EC2()},
			{"AutoScaling", awsec2.InterfaceVpcEndpointAwsService_AUTOSCALING()},
		}
		for _, e := range endpoints {
			vpc.AddInterfaceEndpoint(jsii.String(e.id), &awsec2.InterfaceVpcEndpointOptions{
				Service:           e.svc,
				Subnets:           &awsec2.SubnetSelection{SubnetGroupName: jsii.String(demoPlaneGroup)},
				PrivateDnsEnabled: jsii.Bool(true),
			})
		}
		c.Vpc = vpc
		pool := vpc.SelectSubnets(&awsec2.SubnetSelection{SubnetGroupName: jsii.String(demoPoolGroup)})
		pools := map[string]Pool{}
		for _, sn := range *pool.Subnets {
			c.PoolSubnetIDs = append(c.PoolSubnetIDs, sn.SubnetId())
			p := pools[*sn.AvailabilityZone()]
			p.Subnets, p.Capacity = append(p.Subnets, *sn.SubnetId()), cfg.PoolCapacity
			pools[*sn.AvailabilityZone()] = p
		}
		c.PoolsJSON = jsii.String(poolsJSON(pools))
	} else {
		c.Vpc = awsec2.Vpc_FromVpcAttributes(s, jsii.String("Vpc"), &awsec2.VpcAttributes{
			VpcId:             jsii.String(cfg.VpcID),
			AvailabilityZones: jsii.Strings(cfg.AvailabilityZones...),
			PrivateSubnetIds:  jsii.Strings(cfg.PlaneSubnetIDs...),
		})
		for _, az := range sortedKeys(cfg.Pools) {
			for _, sn := range cfg.Pools[az].Subnets {
				c.PoolSubnetIDs = append(c.PoolSubnetIDs, jsii.String(sn))
			}
		}
		c.PoolsJSON = jsii.String(poolsJSON(cfg.Pools))
	}

	port := awsec2.Port_Tcp(jsii.Number(float64(cfg.AgentPort)))
	// The plane's security group (fanout, reconciler): out to the agents
	// and to the AWS APIs (HTTPS) only.
	c.PlaneSG = awsec2.NewSecurityGroup(s, jsii.String("PlaneSg"), &awsec2.SecurityGroupProps{
		Vpc:              c.Vpc,
		Description:      jsii.String("shadowscale plane functions: HTTPS to AWS APIs, agent port to instances"),
		AllowAllOutbound: jsii.Bool(false),
	})
	c.PlaneSG.AddEgressRule(awsec2.Peer_AnyIpv4(), awsec2.Port_Tcp(jsii.Number(443)), jsii.String("AWS APIs and VPC endpoints"), nil)
	c.PlaneSG.AddEgressRule(awsec2.Peer_AnyIpv4(), port, jsii.String("shadow agents on live and shadow instances"), nil)

	// The shadows' security group: the agent port only from the plane's
	// group (nothing else talks to a shadow's agent: a resync goes from
	// the live's agent through the reconciler, never from live to shadow);
	// out only HTTPS (S3 for the agent binary, KMS for its enrollment).
	c.ShadowSG = awsec2.NewSecurityGroup(s, jsii.String("ShadowSg"), &awsec2.SecurityGroupProps{
		Vpc:              c.Vpc,
		Description:      jsii.String("shadowscale shadow instances: agent port from the plane only"),
		AllowAllOutbound: jsii.Bool(false),
	})
	c.ShadowSG.AddEgressRule(awsec2.Peer_AnyIpv4(), awsec2.Port_Tcp(jsii.Number(443)), jsii.String("S3 and KMS"), nil)
	c.ShadowSG.AddIngressRule(c.PlaneSG, port, jsii.String("agent port from the fanout and reconciler functions"), nil)
	if cfg.VpcID == "" {
		// A security group for demo live instances in the demo VPC: the
		// agent port from the plane, so fanout reaches the live agents too.
		c.DemoLiveSG = awsec2.NewSecurityGroup(s, jsii.String("DemoLiveSg"), &awsec2.SecurityGroupProps{
			Vpc:              c.Vpc,
			Description:      jsii.String("shadowscale demo live instances: agent port from the plane"),
			AllowAllOutbound: jsii.Bool(false),
		})
		c.DemoLiveSG.AddEgressRule(awsec2.Peer_AnyIpv4(), awsec2.Port_Tcp(jsii.Number(443)), jsii.String("S3 and KMS"), nil)
		c.DemoLiveSG.AddIngressRule(c.PlaneSG, port, jsii.String("agent port from the fanout and reconciler functions"), nil)
	}
}

// poolsJSON renders SHADOWSCALE_POOLS (keys sorted by encoding/json).
// Subnet ids may be CDK tokens: string placeholders the template resolves.
func poolsJSON(pools map[string]Pool) string {
	b, err := json.Marshal(pools)
	if err != nil { // a map of strings and ints always marshals
		panic(fmt.Sprintf("marshaling the shadow pools: %v", err))
	}
	return string(b)
}

func (c *ShadowScaling) data(cfg Config, props Props) {
	s := c.Construct
	removal := awscdk.RemovalPolicy_DESTROY
	if cfg.DeletionProtection {
		removal = awscdk.RemovalPolicy_RETAIN
	}
	// One table (single-table design, docs/DYNAMODB.md): shadow records,
	// per-minute history counters (expiring by TTL) and decision audits all
	// live under pk/sk. No GSI: every access pattern the functions have is a
	// key lookup or a Query on one partition.
	c.Table = awsdynamodb.NewTable(s, jsii.String("Table"), &awsdynamodb.TableProps{
		PartitionKey:        &awsdynamodb.Attribute{Name: jsii.String("pk"), Type: awsdynamodb.AttributeType_STRING},
		SortKey:             &awsdynamodb.Attribute{Name: jsii.String("sk"), Type: awsdynamodb.AttributeType_STRING},
		BillingMode:         awsdynamodb.BillingMode_PAY_PER_REQUEST,
		TimeToLiveAttribute: jsii.String("expires_at"),
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
		DeletionProtection: jsii.Bool(cfg.DeletionProtection),
		RemovalPolicy:      removal,
	})

	// The mutation stream: on demand (no shard planning) unless the
	// operator sized it (streamMode provisioned, streamShards), encrypted with
	// the AWS managed key alias/aws/kinesis (no key resource to pay for).
	// Retention is 7 days by default (streamRetentionHours), not 24 hours:
	// the fan-out retries a record until it is that old (see triggers), so
	// an outage of the agents, of DynamoDB or of the fan-out itself shorter
	// than the retention loses no mutation. Extended retention is billed
	// per GB stored beyond 24 hours (docs/INFRA.md has the figure).
	streamProps := &awskinesis.StreamProps{
		StreamMode:      awskinesis.StreamMode_ON_DEMAND,
		Encryption:      awskinesis.StreamEncryption_MANAGED,
		RetentionPeriod: awscdk.Duration_Hours(jsii.Number(float64(cfg.StreamRetentionHours))),
	}
	if cfg.StreamMode == StreamProvisioned {
		streamProps.StreamMode = awskinesis.StreamMode_PROVISIONED
		streamProps.ShardCount = jsii.Number(float64(cfg.StreamShards))
	}
	c.Stream = awskinesis.NewStream(s, jsii.String("Mutations"), streamProps)

	// Dead letters of the fan-out: records that can never succeed, written
	// by the function itself (the record and its reason). 14 days to
	// investigate. The maximum message size is set, not left to the
	// default: the fan-out fills SendMessageBatch by bytes against it
	// (1 MiB, SQS' largest; attributes counted) and puts a larger letter
	// in DeadLetterBucket, its message naming the object.
	c.DeadLetters = awssqs.NewQueue(s, jsii.String("DeadLetters"), &awssqs.QueueProps{
		Encryption:          awssqs.QueueEncryption_SQS_MANAGED,
		RetentionPeriod:     awscdk.Duration_Days(jsii.Number(14)),
		EnforceSSL:          jsii.Bool(true),
		MaxMessageSizeBytes: jsii.Number(DeadLetterMaxMessageBytes),
	})
	// The bucket of what does not fit a message: the fan-out's oversized
	// letters (DeadLetterPrefix), and the fan-out mapping's on-failure
	// records (OnFailurePrefix): for an S3 destination Lambda writes the
	// whole invocation record, the Kinesis data included (an SQS
	// destination gets the metadata only). Objects expire after 14 days,
	// as the queue's messages; SSE-S3 (no key for the writers to be
	// granted), no public access, TLS only, ACLs off.
	c.DeadLetterBucket = awss3.NewBucket(s, jsii.String("DeadLetterBucket"), &awss3.BucketProps{
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:        jsii.Bool(true),
		ObjectOwnership:   awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Id:         jsii.String("expire-dead-letters"),
			Expiration: awscdk.Duration_Days(jsii.Number(DeadLetterDays)),
		}},
		RemovalPolicy: removal,
	})

	// The agents' master key, generated by CloudFormation: it never appears
	// in the template. Only the fanout and reconciler read it; each agent
	// holds the key derived from it for its own instance
	// (HMAC(master, instance id)), delivered sealed with the enrollment key.
	//
	// It has a fixed name (<stack>/agent-key) and everything refers to it by
	// that name (SHADOWSCALE_AGENT_SECRET_ARN takes an ARN or a name) and by
	// the ARN pattern of that name, never by Ref: moto's CloudFormation has
	// no Secrets Manager support, and a Ref to a skipped resource leaves
	// policies without resources. On AWS and LocalStack it is identical.
	c.AgentSecretName = props.StackName + "/agent-key"
	c.AgentSecret = awssecretsmanager.NewSecret(s, jsii.String("AgentKey"), &awssecretsmanager.SecretProps{
		SecretName:  jsii.String(c.AgentSecretName),
		Description: jsii.String("shadowscale agents' master key (SHADOWSCALE_AGENT_SECRET_ARN): the plane's only"),
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
			PasswordLength:     jsii.Number(64),
			ExcludePunctuation: jsii.Bool(true),
		},
	})
	// Secrets Manager appends "-" and 6 random characters to the name.
	c.AgentSecretArnPattern = arn("secretsmanager", "secret:"+c.AgentSecretName+"-??????")

	// The enrollment key: the fanout and reconciler seal an instance's
	// agent key with it under the encryption context naming that
	// instance's ARN; an instance role may decrypt only under its own
	// (decryptOwnEnrollment). A symmetric key, rotated yearly by KMS; the
	// key policy is the default (the account, through IAM).
	keyRemoval := awscdk.RemovalPolicy_DESTROY
	if cfg.DeletionProtection {
		keyRemoval = awscdk.RemovalPolicy_RETAIN
	}
	c.AgentEnrollmentKey = awskms.NewKey(s, jsii.String("AgentEnrollmentKey"), &awskms.KeyProps{
		Description:       jsii.String("shadowscale agent enrollment: seals each instance's agent key for that instance (SHADOWSCALE_AGENT_KMS_KEY)"),
		EnableKeyRotation: jsii.Bool(true),
		PendingWindow:     awscdk.Duration_Days(jsii.Number(7)),
		RemovalPolicy:     keyRemoval,
	})
}

// EnrollContextKey is the KMS encryption context key binding a sealed
// enrollment to one instance: shared/agent's EnrollContextKey (a test pins
// the two together).
const EnrollContextKey = "shadowscale-instance"

// sealEnrollments lets the fanout and reconciler seal an instance's agent
// key with the enrollment key, always for a named instance.
func (c *ShadowScaling) sealEnrollments() awsiam.PolicyStatement {
	return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("SealAgentEnrollments"),
		Actions:    jsii.Strings("kms:Encrypt"),
		Resources:  jsii.Strings(*c.AgentEnrollmentKey.KeyArn()),
		Conditions: &map[string]any{"Null": map[string]any{"kms:EncryptionContext:" + EnrollContextKey: "false"}},
	})
}

// decryptOwnEnrollment lets an instance open what was sealed for it, and
// nothing else: the encryption context must name the instance the request
// comes from (${ec2:SourceInstanceARN}, set by EC2 for instance role
// credentials). No instance can read the master key, another instance's
// key, or seal an enrollment.
func (c *ShadowScaling) decryptOwnEnrollment() awsiam.PolicyStatement {
	return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("DecryptOwnAgentEnrollment"),
		Actions:   jsii.Strings("kms:Decrypt"),
		Resources: jsii.Strings(*c.AgentEnrollmentKey.KeyArn()),
		Conditions: &map[string]any{"StringEquals": map[string]any{
			"kms:EncryptionContext:" + EnrollContextKey: "${ec2:SourceInstanceARN}",
		}},
	})
}

// readAgentBinaries allows getting the agent binaries from the assets bucket.
func (c *ShadowScaling) readAgentBinaries() awsiam.PolicyStatement {
	var objects []string
	for _, arch := range []string{"arm64", "amd64"} {
		a := c.AgentAssets[arch]
		objects = append(objects, fmt.Sprintf("arn:%s:s3:::%s/%s", *awscdk.Aws_PARTITION(), *a.S3BucketName(), *a.S3ObjectKey()))
	}
	return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("ReadAgentBinaries"),
		Actions:   jsii.Strings("s3:GetObject"),
		Resources: jsii.Strings(objects...),
	})
}

// readSecret allows reading the agents' master key, and nothing else: the
// fanout's and reconciler's only.
func (c *ShadowScaling) readSecret() awsiam.PolicyStatement {
	return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("ReadAgentKey"),
		Actions:   jsii.Strings("secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"),
		Resources: jsii.Strings(c.AgentSecretArnPattern),
	})
}

// agentUserData is the shell script that installs the agent binary from
// the S3 assets as a systemd service. It is the shadow launch template's
// user data and, as the LiveAgentUserData output, the snippet an operator
// adds to the live launch template.
func (c *ShadowScaling) agentUserData(cfg Config) []string {
	arm, amd := c.AgentAssets["arm64"], c.AgentAssets["amd64"]
	return []string{
		"set -euo pipefail",
		"case $(uname -m) in",
		"  aarch64) agent_url=" + *arm.S3ObjectUrl() + " ;;",
		"  x86_64) agent_url=" + *amd.S3ObjectUrl() + " ;;",
		`  *) echo "shadow-agent: unsupported architecture $(uname -m)" >&2; exit 1 ;;`,
		"esac",
		"aws s3 cp --only-show-errors --region " + *awscdk.Aws_REGION() + " \"$agent_url\" /usr/local/bin/shadow-agent",
		"chmod 0755 /usr/local/bin/shadow-agent",
		"id shadow-agent >/dev/null 2>&1 || useradd --system --no-create-home --shell /sbin/nologin shadow-agent",
		"install -d -o shadow-agent -g shadow-agent -m 0700 /var/lib/shadow-agent",
		"cat > /etc/systemd/system/shadow-agent.service <<'UNIT'",
		"[Unit]",
		"Description=shadowscale agent",
		"After=network-online.target",
		"Wants=network-online.target",
		"[Service]",
		"User=shadow-agent",
		"Environment=AWS_REGION=" + *awscdk.Aws_REGION(),
		fmt.Sprintf("ExecStart=/usr/local/bin/shadow-agent --port %d --data-dir /var/lib/shadow-agent --kms-key %s",
			cfg.AgentPort, *c.AgentEnrollmentKey.KeyArn()),
		"Restart=always",
		"RestartSec=2",
		"[Install]",
		"WantedBy=multi-user.target",
		"UNIT",
		"systemctl daemon-reload",
		"systemctl enable --now shadow-agent",
	}
}

func (c *ShadowScaling) shadowTemplate(cfg Config, stackName string) {
	s := c.Construct
	// The agent binaries are file assets: the CDK CLI uploads them to the
	// bootstrap bucket before deploying; no custom resource is involved.
	c.AgentAssets = map[string]awss3assets.Asset{}
	for _, arch := range []string{"arm64", "amd64"} {
		c.AgentAssets[arch] = awss3assets.NewAsset(s, jsii.String("Agent"+strings.ToUpper(arch[:1])+arch[1:]), &awss3assets.AssetProps{
			Path: jsii.String(filepath.Join(cfg.AssetDir, "agent", "shadow-agent-linux-"+arch)),
		})
	}

	c.ShadowRole = awsiam.NewRole(s, jsii.String("ShadowInstanceRole"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("ec2.amazonaws.com"), nil),
		Description: jsii.String("shadowscale shadow instances: read the agent binary, open their own agent enrollment"),
	})
	// Read the two agent objects, nothing else of the bucket (an asset's
	// GrantRead would allow s3:GetObject*, s3:List* on it), and open the
	// enrollment sealed for this very instance: never the master key.
	c.ShadowRole.AddToPolicy(c.readAgentBinaries())
	c.ShadowRole.AddToPolicy(c.decryptOwnEnrollment())

	// Live instances run the agent too: the operator attaches this policy
	// to their instance role and adds LiveAgentUserData to their template.
	c.LiveAgentPolicy = awsiam.NewManagedPolicy(s, jsii.String("LiveAgentPolicy"), &awsiam.ManagedPolicyProps{
		Description: jsii.String("Attach to the live instances' role: read the shadowscale agent binary, open the instance's own agent enrollment"),
	})
	c.LiveAgentPolicy.AddStatements(c.readAgentBinaries())
	c.LiveAgentPolicy.AddStatements(c.decryptOwnEnrollment())

	lines := c.agentUserData(cfg)
	ud := awsec2.UserData_ForLinux(nil)
	ud.AddCommands(*jsii.Strings(lines...)...)
	c.LiveUserData = jsii.String("#!/bin/bash\n" + strings.Join(lines, "\n") + "\n")

	// One launch template per architecture: the launch function picks the
	// one of the shadow type's architecture (the catalog sizes a shadow
	// within its live instance's architecture: an m5.xlarge gets a
	// t3a.small, which cannot boot an arm64 AMI). The latest Amazon Linux
	// 2023 of each resolves at deploy time from its public SSM parameter
	// (a template parameter, no lookup, no custom resource); moto ships
	// those parameters too.
	c.LaunchTemplates = map[string]awsec2.LaunchTemplate{}
	profile := awsiam.NewInstanceProfile(s, jsii.String("ShadowInstanceProfile"), &awsiam.InstanceProfileProps{Role: c.ShadowRole})
	for _, t := range []struct {
		arch, id, fallback, image string
		cpu                       awsec2.AmazonLinuxCpuType
	}{
		{"arm64", "ShadowTemplate", "t4g.nano", cfg.ShadowImageIDArm64, awsec2.AmazonLinuxCpuType_ARM_64},
		{"x86_64", "ShadowTemplateX86", "t3.nano", cfg.ShadowImageIDX86, awsec2.AmazonLinuxCpuType_X86_64},
	} {
		lt := awsec2.NewLaunchTemplate(s, jsii.String(t.id), &awsec2.LaunchTemplateProps{
			// The launch function overrides the type per shadow (a fraction
			// of the live type); this is only the fallback. CPU credits are
			// set per launch (standard, for burstable types only): set here
			// they would apply to non-burstable types too.
			InstanceType:            awsec2.NewInstanceType(jsii.String(t.fallback)),
			MachineImage:            awsec2.MachineImage_LatestAmazonLinux2023(&awsec2.AmazonLinux2023ImageSsmParameterProps{CpuType: t.cpu}),
			UserData:                ud,
			SecurityGroup:           c.ShadowSG,
			InstanceProfile:         profile, // one for both templates
			RequireImdsv2:           jsii.Bool(true),
			HttpPutResponseHopLimit: jsii.Number(1),
			VersionDescription:      jsii.String("shadowscale " + t.arch + " shadow for stack " + stackName),
		})
		if t.image != "" {
			cfn := lt.Node().DefaultChild().(awsec2.CfnLaunchTemplate)
			cfn.AddPropertyOverride(jsii.String("LaunchTemplateData.ImageId"), jsii.String(t.image))
		}
		c.LaunchTemplates[t.arch] = lt
	}
	c.LaunchTemplate = c.LaunchTemplates["arm64"]
}

// launchTemplatesJSON is SHADOWSCALE_SHADOW_LAUNCH_TEMPLATES: architecture
// to template id (tokens the template resolves).
func (c *ShadowScaling) launchTemplatesJSON() string {
	ids := map[string]string{}
	for arch, lt := range c.LaunchTemplates {
		ids[arch] = *lt.LaunchTemplateId()
	}
	b, err := json.Marshal(ids)
	if err != nil { // a map of strings always marshals
		panic(fmt.Sprintf("marshaling the shadow launch templates: %v", err))
	}
	return string(b)
}

func (c *ShadowScaling) functions(cfg Config, stackName string) {
	s := c.Construct
	common := map[string]*string{
		"SHADOWSCALE_STACK":     jsii.String(stackName),
		"SHADOWSCALE_TABLE":     c.Table.TableName(),
		"SHADOWSCALE_GROUPS":    jsii.String(strings.Join(cfg.Groups, ",")),
		"SHADOWSCALE_NAMESPACE": jsii.String(Namespace),
		"LOG_LEVEL":             jsii.String(cfg.LogLevel),
	}
	shadowing := map[string]*string{
		"SHADOWSCALE_POOLS":                  c.PoolsJSON,
		"SHADOWSCALE_SHADOW_CPU_FRACTION":    jsii.String(strconv.FormatFloat(cfg.CPUFraction, 'f', -1, 64)),
		"SHADOWSCALE_SHADOW_MEMORY_FRACTION": jsii.String(strconv.FormatFloat(cfg.MemoryFraction, 'f', -1, 64)),
	}
	// The lifecycle's own (docs/CONTRACTS.md).
	shadowing["SHADOWSCALE_SHADOW_LAUNCH_TEMPLATES"] = jsii.String(c.launchTemplatesJSON())
	shadowing["SHADOWSCALE_SHADOW_EXCLUDE_BURSTABLE"] = jsii.String(strconv.FormatBool(cfg.ShadowExcludeBurstable))
	shadowing["SHADOWSCALE_SHADOW_REPLACEMENTS_PER_HOUR"] = jsii.String(strconv.Itoa(cfg.ShadowReplacementsPerHour))
	if cfg.LaunchLifecycleHook != "" {
		shadowing["SHADOWSCALE_LAUNCH_HOOK"] = jsii.String(cfg.LaunchLifecycleHook)
	}
	agent := map[string]*string{
		"SHADOWSCALE_AGENT_PORT":       jsii.String(strconv.Itoa(cfg.AgentPort)),
		"SHADOWSCALE_AGENT_SECRET_ARN": jsii.String(c.AgentSecretName),
		"SHADOWSCALE_AGENT_KMS_KEY":    c.AgentEnrollmentKey.KeyArn(),
	}
	forecaster := map[string]*string{"SHADOWSCALE_MODE": jsii.String(cfg.Mode)}
	if c.PolicyJSON != "" {
		forecaster["SHADOWSCALE_POLICY"] = jsii.String(c.PolicyJSON)
	}
	if cfg.ForecasterConcurrency > 0 {
		forecaster["SHADOWSCALE_FORECASTER_CONCURRENCY"] = jsii.String(strconv.Itoa(cfg.ForecasterConcurrency))
	}
	fanout := map[string]*string{
		"SHADOWSCALE_DLQ_URL":    c.DeadLetters.QueueUrl(),
		"SHADOWSCALE_DLQ_BUCKET": c.DeadLetterBucket.BucketName(),
		"SHADOWSCALE_ROUTE_TTL":  jsii.String(strconv.Itoa(cfg.RouteCacheSeconds) + "s"),
	}
	env := map[string][]map[string]*string{
		FnLaunch:     {common, shadowing},
		FnTerminate:  {common, shadowing},
		FnFanout:     {common, agent, fanout},
		FnForecaster: {common, forecaster},
		FnReconciler: {common, shadowing, agent},
	}

	c.Functions = map[string]awslambda.Function{}
	sp := specs()
	for _, fn := range Functions {
		spec := sp[fn]
		merged := map[string]*string{}
		for _, part := range env[fn] {
			for k, v := range part {
				merged[k] = v
			}
		}
		id := strings.ToUpper(fn[:1]) + fn[1:]
		// An explicit log group instead of logRetention (which deploys a
		// custom-resource Lambda).
		logs := awslogs.NewLogGroup(s, jsii.String(id+"Logs"), &awslogs.LogGroupProps{
			Retention:     awslogs.RetentionDays_ONE_MONTH,
			RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
		})
		props := &awslambda.FunctionProps{
			Description:  jsii.String("shadowscale " + fn),
			Runtime:      awslambda.Runtime_PROVIDED_AL2023(),
			Architecture: awslambda.Architecture_ARM_64(),
			Handler:      jsii.String("bootstrap"),
			Code:         awslambda.Code_FromAsset(jsii.String(filepath.Join(cfg.AssetDir, "lambda", fn)), nil),
			MemorySize:   jsii.Number(float64(spec.memoryMB)),
			Timeout:      spec.timeout,
			Environment:  &merged,
			LogGroup:     logs,
		}
		if spec.inVpc {
			props.Vpc = c.Vpc
			props.SecurityGroups = &[]awsec2.ISecurityGroup{c.PlaneSG}
			if cfg.VpcID == "" {
				props.VpcSubnets = &awsec2.SubnetSelection{SubnetGroupName: jsii.String(demoPlaneGroup)}
			} else {
				props.VpcSubnets = &awsec2.SubnetSelection{SubnetType: awsec2.SubnetType_PRIVATE_WITH_EGRESS}
			}
		}
		if fn == FnForecaster {
			props.MemorySize = jsii.Number(float64(cfg.ForecasterMemoryMB))
			// Not reserved by default: overlapping runs are safe (a group's
			// state save is conditional: one run commits and acts, the
			// other changes nothing), and a reservation fails to deploy on
			// an account with fewer than 101 concurrent executions.
			if cfg.ForecasterReservedConcurrency > 0 {
				props.ReservedConcurrentExecutions = jsii.Number(float64(cfg.ForecasterReservedConcurrency))
			}
		}
		if fn == FnLaunch || fn == FnTerminate {
			// EventBridge invokes these asynchronously: retry twice, then
			// drop; the reconciler repairs a missed event within 5 minutes.
			props.RetryAttempts = jsii.Number(2)
		}
		if fn == FnForecaster || fn == FnReconciler {
			// Scheduled: a failed or timed-out run is not retried (the
			// next tick supersedes it) and a run held back (throttled)
			// for more than a minute is dropped, so runs never overlap.
			props.RetryAttempts = jsii.Number(0)
			props.MaxEventAge = awscdk.Duration_Seconds(jsii.Number(60))
		}
		// The reconciler reserves no concurrency either: its runs cannot
		// overlap (no retries, a held event dropped after a minute, and it
		// starts no action in the last 30 s of its 240 s against a 5-minute
		// schedule), and a reservation fails to deploy on accounts with
		// fewer than 101 concurrent executions (docs/INFRA.md).
		c.Functions[fn] = awslambda.NewFunction(s, jsii.String(id), props)
	}
}

// arn renders an ARN of this stack's partition, region and account.
func arn(service, resource string) string {
	return fmt.Sprintf("arn:%s:%s:%s:%s:%s", *awscdk.Aws_PARTITION(), service, *awscdk.Aws_REGION(), *awscdk.Aws_ACCOUNT_ID(), resource)
}

func (c *ShadowScaling) permissions(cfg Config, stackName string) {
	add := func(fn string, st awsiam.PolicyStatement) { c.Functions[fn].AddToRolePolicy(st) }

	for _, fn := range Functions {
		c.Table.GrantReadWriteData(c.Functions[fn])
		// Metrics come as EMF in the logs: no function calls PutMetricData.
	}
	for _, fn := range []string{FnFanout, FnReconciler} {
		add(fn, c.readSecret())
		add(fn, c.sealEnrollments())
	}
	c.DeadLetters.GrantSendMessages(c.Functions[FnFanout])
	for _, st := range c.deadLetterBucketStatements() {
		add(FnFanout, st)
	}

	// Read-only EC2 and Auto Scaling descriptions: these actions have no
	// resource-level permissions, so their resource is "*".
	describe := awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings("ec2:DescribeInstances", "ec2:DescribeInstanceStatus", "ec2:DescribeInstanceTypes",
			"ec2:DescribeSubnets", "ec2:DescribeLaunchTemplateVersions",
			"autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeAutoScalingInstances"),
		Resources: jsii.Strings("*"),
	})
	for _, fn := range Functions {
		add(fn, describe)
	}

	// Launching a shadow: RunInstances creates the instance only when the
	// request applies our shadow tags (role=shadow, this stack, and the live
	// instance, group and generation present) and uses our launch template.
	var ltArns []string // the shadow launch templates, one per architecture
	for _, arch := range sortedKeys(c.LaunchTemplates) {
		ltArns = append(ltArns, arn("ec2", "launch-template/"+*c.LaunchTemplates[arch].LaunchTemplateId()))
	}
	runInstance := awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("RunShadowInstancesTagged"),
		Actions:   jsii.Strings("ec2:RunInstances"),
		Resources: jsii.Strings(arn("ec2", "instance/*")),
		Conditions: &map[string]any{
			"StringEquals": map[string]any{
				"aws:RequestTag/" + TagRole:  TagRoleShadow,
				"aws:RequestTag/" + TagStack: stackName,
			},
			"Null": map[string]any{
				"aws:RequestTag/" + TagLive:       "false",
				"aws:RequestTag/" + TagGroup:      "false",
				"aws:RequestTag/" + TagGeneration: "false",
			},
			"ArnLike": map[string]any{"ec2:LaunchTemplate": ltArns},
		},
	})
	// The other resources RunInstances touches: only our launch template,
	// our pool subnets and our security group; the image, the volumes and
	// the network interfaces it creates along with the instance.
	other := append(append([]string(nil), ltArns...),
		arn("ec2", "security-group/"+*c.ShadowSG.SecurityGroupId()),
		arn("ec2", "volume/*"),
		arn("ec2", "network-interface/*"),
		fmt.Sprintf("arn:%s:ec2:%s::image/*", *awscdk.Aws_PARTITION(), *awscdk.Aws_REGION()),
	)
	for _, sn := range c.PoolSubnetIDs {
		other = append(other, arn("ec2", "subnet/"+*sn))
	}
	runResources := awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("RunShadowInstancesResources"),
		Actions:    jsii.Strings("ec2:RunInstances"),
		Resources:  jsii.Strings(other...),
		Conditions: &map[string]any{"ArnLike": map[string]any{"ec2:LaunchTemplate": ltArns}},
	})
	// Tags only as part of RunInstances (no tagging of existing resources).
	createTags := awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("TagShadowsAtCreation"),
		Actions:   jsii.Strings("ec2:CreateTags"),
		Resources: jsii.Strings(arn("ec2", "instance/*"), arn("ec2", "volume/*"), arn("ec2", "network-interface/*")),
		Conditions: &map[string]any{
			"StringEquals": map[string]any{"ec2:CreateAction": "RunInstances"},
		},
	})
	passRole := awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("PassShadowRole"),
		Actions:    jsii.Strings("iam:PassRole"),
		Resources:  jsii.Strings(*c.ShadowRole.RoleArn()),
		Conditions: &map[string]any{"StringEquals": map[string]any{"iam:PassedToService": "ec2.amazonaws.com"}},
	})
	// Terminating: only instances tagged as shadows of this stack.
	terminate := awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("TerminateOwnShadowsOnly"),
		Actions:   jsii.Strings("ec2:TerminateInstances"),
		Resources: jsii.Strings(arn("ec2", "instance/*")),
		Conditions: &map[string]any{"StringEquals": map[string]any{
			"aws:ResourceTag/" + TagRole:  TagRoleShadow,
			"aws:ResourceTag/" + TagStack: stackName,
		}},
	})
	// launch creates shadows; terminate retires them and replaces a failed
	// one; the reconciler replaces failed shadows and deletes orphans.
	for _, fn := range []string{FnLaunch, FnTerminate, FnReconciler} {
		add(fn, runInstance)
		add(fn, runResources)
		add(fn, createTags)
		add(fn, passRole)
	}
	// launch terminates too: a duplicate it launched in a lost race, or a
	// shadow that came up outside its live instance's AZ (tag-bound, as
	// everywhere).
	for _, fn := range []string{FnLaunch, FnTerminate, FnReconciler} {
		add(fn, terminate)
	}

	if cfg.LaunchLifecycleHook != "" {
		// Completing the launch hook's actions (always CONTINUE: the
		// adapter cannot ABANDON), only on enrolled-by-tag groups.
		add(FnLaunch, awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String(SidCompleteLaunchHook),
			Actions:   jsii.Strings("autoscaling:CompleteLifecycleAction"),
			Resources: jsii.Strings(arn("autoscaling", "autoScalingGroup:*:autoScalingGroupName/*")),
			Conditions: &map[string]any{"StringEquals": map[string]any{
				"aws:ResourceTag/" + TagEnrolled: "true",
			}},
		}))
	}

	c.forecasterPermissions(cfg)
}

// Statement ids of the forecaster's Auto Scaling grants.
const (
	SidScaleEnrolled   = "ScaleEnrolledGroupsOnly"
	SidUpdateEnrolled  = "UpdateEnrolledGroupsBounded"
	SidRefreshEnrolled = "RefreshEnrolledGroups"
	SidForecasterReads = "ForecasterReads"
)

// forecasterPermissions grants the forecaster what it reads (the groups'
// own scaling policies and scheduled actions, their CPU utilization) and
// the Auto Scaling writes it makes, only on groups tagged
// shadowscale:enrolled=true (an operator enrolls a group for acting by
// tagging it): SetDesiredCapacity always; UpdateAutoScalingGroup only when
// the policy raises the max (MaxSize up to maxSizeLimit) or resizes (a
// group on a numbered launch template version is pointed at the new
// version), never with MinSize, VPCZoneIdentifiers, a launch
// configuration or instance type overrides; StartInstanceRefresh with
// resizes.
func (c *ShadowScaling) forecasterPermissions(cfg Config) {
	add := func(st awsiam.PolicyStatement) { c.Functions[FnForecaster].AddToRolePolicy(st) }
	enrolled := map[string]any{"aws:ResourceTag/" + TagEnrolled: "true"}
	groups := jsii.Strings(arn("autoscaling", "autoScalingGroup:*:autoScalingGroupName/*"))
	// Describe calls and GetMetricData have no resource-level permissions.
	add(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String(SidForecasterReads),
		Actions:   jsii.Strings("autoscaling:DescribePolicies", "autoscaling:DescribeScheduledActions", "cloudwatch:GetMetricData"),
		Resources: jsii.Strings("*"),
	}))
	add(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String(SidScaleEnrolled),
		Actions:    jsii.Strings("autoscaling:SetDesiredCapacity"),
		Resources:  groups,
		Conditions: &map[string]any{"StringEquals": enrolled},
	}))
	if cfg.RaisesMax() || cfg.AllowResize {
		// Condition keys present only when the request sets them: Null
		// "true" forbids setting them at all, ...IfExists bounds MaxSize
		// when it is set (a resize's update does not set it).
		never := map[string]any{
			"autoscaling:MinSize": "true", "autoscaling:VPCZoneIdentifiers": "true",
			"autoscaling:LaunchConfigurationName": "true", "autoscaling:InstanceTypes": "true",
		}
		cond := map[string]any{"StringEquals": enrolled, "Null": never}
		if cfg.RaisesMax() {
			cond["NumericLessThanEqualsIfExists"] = map[string]any{"autoscaling:MaxSize": cfg.MaxSizeLimit}
		} else {
			never["autoscaling:MaxSize"] = "true"
		}
		add(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String(SidUpdateEnrolled),
			Actions:    jsii.Strings("autoscaling:UpdateAutoScalingGroup"),
			Resources:  groups,
			Conditions: &cond,
		}))
	}
	if cfg.AllowResize {
		add(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String(SidRefreshEnrolled),
			Actions:    jsii.Strings("autoscaling:StartInstanceRefresh"),
			Resources:  groups,
			Conditions: &map[string]any{"StringEquals": enrolled},
		}))
		for _, st := range resizeStatements(cfg) {
			add(st)
		}
	}
}

// SidCompleteLaunchHook is the launch function's grant to complete the
// launch hook's actions (Config.LaunchLifecycleHook).
const SidCompleteLaunchHook = "CompleteLaunchHookOnEnrolledGroups"

// Statement ids of the resize grant (Config.AllowResize).
const (
	SidResizeTemplateVersions = "ResizeEnrolledTemplateVersions"
	SidResizeRunTemplates     = "ResizeRunFromEnrolledTemplates"
	SidResizeRunResources     = "ResizeRunResourcesFromTemplates"
	SidResizeTagAtLaunch      = "ResizeTagAtLaunch"
	SidResizeDescribe         = "ResizeDescribeTemplates"
	SidResizePassRoles        = "ResizePassInstanceRoles"
)

// resizeStatements is what the forecaster's Resize needs, no more: a new
// version of a group's launch template with a larger type
// (ec2:CreateLaunchTemplateVersion), made the template's default for a
// group on $Default (ec2:ModifyLaunchTemplate), or UpdateAutoScalingGroup
// to that version for a group on a numbered one (UpdateEnrolledGroupsBounded). Auto Scaling checks that the caller
// may launch from the template it is pointed at: ec2:RunInstances on the
// template and what a launch from it touches, ec2:CreateTags when the
// template tags its instances, iam:PassRole of its instance profile's role.
//
// Least privilege: templates are usable only when tagged
// shadowscale:enrolled=true (aws:ResourceTag on the launch-template
// resource: both CreateLaunchTemplateVersion and RunInstances support it),
// the other RunInstances resources only in a launch from a launch template
// (ec2:LaunchTemplate), tags only at launch, and PassRole only of the
// listed roles, only to EC2. The wildcards are what the actions need: the
// templates, instances and volumes are the operator's and not known here.
func resizeStatements(cfg Config) []awsiam.PolicyStatement {
	enrolled := map[string]any{"StringEquals": map[string]any{"aws:ResourceTag/" + TagEnrolled: "true"}}
	templates := arn("ec2", "launch-template/*")
	out := []awsiam.PolicyStatement{
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String(SidResizeTemplateVersions),
			Actions:    jsii.Strings("ec2:CreateLaunchTemplateVersion", "ec2:ModifyLaunchTemplate"),
			Resources:  jsii.Strings(templates),
			Conditions: &enrolled,
		}),
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String(SidResizeRunTemplates),
			Actions:    jsii.Strings("ec2:RunInstances"),
			Resources:  jsii.Strings(templates),
			Conditions: &enrolled,
		}),
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:     jsii.String(SidResizeRunResources),
			Actions: jsii.Strings("ec2:RunInstances"),
			Resources: jsii.Strings(
				arn("ec2", "instance/*"), arn("ec2", "volume/*"), arn("ec2", "network-interface/*"),
				arn("ec2", "subnet/*"), arn("ec2", "security-group/*"), arn("ec2", "key-pair/*"),
				fmt.Sprintf("arn:%s:ec2:%s::image/*", *awscdk.Aws_PARTITION(), *awscdk.Aws_REGION()),
				fmt.Sprintf("arn:%s:ec2:%s::snapshot/*", *awscdk.Aws_PARTITION(), *awscdk.Aws_REGION()),
			),
			Conditions: &map[string]any{"ArnLike": map[string]any{"ec2:LaunchTemplate": templates}},
		}),
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String(SidResizeTagAtLaunch),
			Actions:    jsii.Strings("ec2:CreateTags"),
			Resources:  jsii.Strings(arn("ec2", "instance/*"), arn("ec2", "volume/*"), arn("ec2", "network-interface/*")),
			Conditions: &map[string]any{"StringEquals": map[string]any{"ec2:CreateAction": "RunInstances"}},
		}),
		// Describe calls have no resource-level permissions.
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String(SidResizeDescribe),
			Actions:   jsii.Strings("ec2:DescribeLaunchTemplates", "ec2:DescribeLaunchTemplateVersions"),
			Resources: jsii.Strings("*"),
		}),
	}
	if len(cfg.ResizeInstanceRoleARNs) > 0 {
		out = append(out, awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String(SidResizePassRoles),
			Actions:    jsii.Strings("iam:PassRole"),
			Resources:  jsii.Strings(cfg.ResizeInstanceRoleARNs...),
			Conditions: &map[string]any{"StringEquals": map[string]any{"iam:PassedToService": "ec2.amazonaws.com"}},
		}))
	}
	return out
}

func (c *ShadowScaling) triggers(cfg Config) {
	s := c.Construct
	target := func(fn string, retries float64, age awscdk.Duration) awsevents.IRuleTarget {
		return awseventstargets.NewLambdaFunction(c.Functions[fn], &awseventstargets.LambdaFunctionProps{RetryAttempts: jsii.Number(retries), MaxEventAge: age})
	}
	// Auto Scaling's own events: an instance entered (launch) or left
	// (terminate) a group, with the group's name, so the rules can match
	// the enrolled groups only (the named ones; every group when some are
	// enrolled by tag alone, AsgEventsAllGroups, or none is named). A
	// launch into the warm pool is not a live instance: only Destination
	// AutoScalingGroup.
	groupDetail := func(extra map[string]any) *map[string]any {
		d := map[string]any{}
		for k, v := range extra {
			d[k] = v
		}
		if len(cfg.Groups) > 0 && !cfg.AsgEventsAllGroups {
			d["AutoScalingGroupName"] = orderedGroups(cfg.Groups)
		}
		if len(d) == 0 {
			return nil // a pattern's detail must not be empty
		}
		return &d
	}
	asgRule := func(id, fn, detailType string, extra map[string]any) {
		awsevents.NewRule(s, jsii.String(id), &awsevents.RuleProps{
			Description: jsii.String("Auto Scaling " + detailType + " to shadowscale " + fn),
			EventPattern: &awsevents.EventPattern{
				Source:     jsii.Strings("aws.autoscaling"),
				DetailType: jsii.Strings(detailType),
				Detail:     groupDetail(extra),
			},
			Targets: &[]awsevents.IRuleTarget{target(fn, 8, awscdk.Duration_Hours(jsii.Number(1)))},
		})
	}
	asgRule("GroupInstanceLaunched", FnLaunch, "EC2 Instance Launch Successful", map[string]any{"Destination": []string{"AutoScalingGroup"}})
	asgRule("GroupInstanceTerminated", FnTerminate, "EC2 Instance Terminate Successful", nil)
	if cfg.LaunchLifecycleHook != "" {
		// The operator's launch hook: the instance waits in Pending:Wait
		// until the launch function has ensured its shadow.
		asgRule("GroupInstanceLaunchAction", FnLaunch, "EC2 Instance-launch Lifecycle Action", map[string]any{"LifecycleHookName": []string{cfg.LaunchLifecycleHook}})
	}
	// EC2 state changes still go to terminate: shadows are in no group,
	// and a shadow's death (replaced) is only told by EC2. This rule
	// matches every instance of the account: an event does not say
	// whose it is (the function checks). The EC2 "running" rule is gone:
	// Auto Scaling's launch event replaces it, the reconciler backs up.
	awsevents.NewRule(s, jsii.String("InstanceStopping"), &awsevents.RuleProps{
		Description: jsii.String("EC2 instance shutting-down/terminated to shadowscale " + FnTerminate),
		EventPattern: &awsevents.EventPattern{
			Source:     jsii.Strings("aws.ec2"),
			DetailType: jsii.Strings("EC2 Instance State-change Notification"),
			Detail:     &map[string]any{"state": []string{"shutting-down", "terminated"}},
		},
		Targets: &[]awsevents.IRuleTarget{target(FnTerminate, 8, awscdk.Duration_Hours(jsii.Number(1)))},
	})

	schedule := func(id, fn string, every awscdk.Duration) {
		awsevents.NewRule(s, jsii.String(id), &awsevents.RuleProps{
			Description: jsii.String("shadowscale " + fn + " schedule"),
			Schedule:    awsevents.Schedule_Rate(every),
			// A missed tick is superseded by the next one: no retry, and
			// an event older than a minute (EventBridge's least) dropped.
			Targets: &[]awsevents.IRuleTarget{target(fn, 0, awscdk.Duration_Seconds(jsii.Number(60)))},
		})
	}
	schedule("ForecasterSchedule", FnForecaster, awscdk.Duration_Minutes(jsii.Number(1)))
	schedule("ReconcilerSchedule", FnReconciler, awscdk.Duration_Minutes(jsii.Number(5)))

	c.Functions[FnFanout].AddEventSource(awslambdaeventsources.NewKinesisEventSource(c.Stream, &awslambdaeventsources.KinesisEventSourceProps{
		// From the oldest record: nothing put before the mapping is enabled is skipped.
		StartingPosition: awslambda.StartingPosition_TRIM_HORIZON,
		// Up to 500 records per invocation amortise the agent round trips;
		// no batching window, so a quiet stream is applied as soon as it is
		// read (the replication-lag target is under a second).
		BatchSize:         jsii.Number(500),
		MaxBatchingWindow: awscdk.Duration_Seconds(jsii.Number(0)),
		// The function reports per-record failures (it relies on it): the
		// shard resumes from the earliest failed record, so records before
		// it never retry; a function error bisects the batch.
		BisectBatchOnError:      jsii.Bool(true),
		ReportBatchItemFailures: jsii.Bool(true),
		// Nothing is lost to a transient outage. What the function reports
		// failed is only ever transient (an agent down or slow, throttling,
		// an AWS error): records that can never succeed it dead-letters
		// itself, with the record and the reason; a dead shadow agent is
		// skipped by its breaker, and a live agent failing for 10 minutes
		// has its mutations dead-lettered (live-unavailable) by the
		// function. So a failed record is retried (infinite retries, -1; a
		// finite count, at most 10,000, can run out within hours of
		// sub-second retries) until the maximum record age, a day below
		// the retention (MaxRecordAge): then the on-failure destination,
		// the dead-letter bucket, gets the whole invocation record, data
		// included, a day before the stream would drop it. The shard
		// waits meanwhile, in order: the iterator-age alarm tells an
		// operator within minutes.
		RetryAttempts: jsii.Number(-1),
		MaxRecordAge:  awscdk.Duration_Hours(jsii.Number(float64(MaxRecordAgeHours(cfg.StreamRetentionHours)))),
		OnFailure:     &s3OnFailure{bucket: c.DeadLetterBucket},
		// Per partition key (= resource) order is kept with a factor above
		// 1, so several resources on one shard apply concurrently.
		ParallelizationFactor: jsii.Number(4),
	}))
}

// orderedGroups returns the named groups sorted, for stable dashboards.
func orderedGroups(groups []string) []string {
	out := append([]string(nil), groups...)
	sort.Strings(out)
	return out
}
