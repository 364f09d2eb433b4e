package plan

// Prices are the AWS list prices the plan uses, in USD, for one region.
// EC2 instance prices come from the catalog (shared/domain/catalog: its
// file header has their source and date); everything else is here, each
// with its source in PriceSources. Prices change: check them before
// relying on a plan (`aws pricing get-products --service-code ...`, or the
// services' pricing pages).
type Prices struct {
	Region string `json:"region"`
	Date   string `json:"date"` // when these were compiled

	// Kinesis Data Streams, on-demand (Standard).
	KinesisStreamHour        float64 `json:"kinesis_on_demand_stream_hour"`
	KinesisIngestGB          float64 `json:"kinesis_on_demand_ingest_gb"`    // per GB written, each record rounded up to 1 KB
	KinesisRetrievalGB       float64 `json:"kinesis_on_demand_retrieval_gb"` // per GB read, each record rounded up to 1 KB
	KinesisExtendedGBMonth   float64 `json:"kinesis_on_demand_extended_retention_gb_month"`
	KinesisShardHour         float64 `json:"kinesis_provisioned_shard_hour"`
	KinesisPutUnitMillion    float64 `json:"kinesis_provisioned_put_payload_unit_million"` // 25 KB units
	KinesisExtendedShardHour float64 `json:"kinesis_provisioned_extended_retention_shard_hour"`

	// Lambda on arm64 (the stack's architecture).
	LambdaRequestMillion float64 `json:"lambda_request_million"`
	LambdaGBSecondTier1  float64 `json:"lambda_arm_gb_second_first_7_5b"` // first 7.5 billion GB-s a month
	LambdaGBSecondTier2  float64 `json:"lambda_arm_gb_second_next_11_25b"`
	LambdaGBSecondTier3  float64 `json:"lambda_arm_gb_second_over_18_75b"`

	// DynamoDB on-demand (the table's billing mode), Standard table class.
	DynamoDBWriteMillion float64 `json:"dynamodb_write_request_million"`
	DynamoDBReadMillion  float64 `json:"dynamodb_read_request_million"`
	DynamoDBGBMonth      float64 `json:"dynamodb_storage_gb_month"`
	DynamoDBPITRGBMonth  float64 `json:"dynamodb_pitr_gb_month"` // the stack turns point-in-time recovery on

	// CloudWatch.
	MetricMonthTier1      float64 `json:"cloudwatch_metric_month_first_10k"`
	MetricMonthTier2      float64 `json:"cloudwatch_metric_month_next_240k"`
	MetricMonthTier3      float64 `json:"cloudwatch_metric_month_next_750k"`
	MetricMonthTier4      float64 `json:"cloudwatch_metric_month_over_1m"`
	GetMetricDataThousand float64 `json:"cloudwatch_get_metric_data_thousand_metrics"`
	LogsIngestGB          float64 `json:"cloudwatch_logs_ingest_gb"`
	LogsStorageGBMonth    float64 `json:"cloudwatch_logs_storage_gb_month"`
	AlarmMonth            float64 `json:"cloudwatch_alarm_month"`
	DashboardMonth        float64 `json:"cloudwatch_dashboard_month"`

	// EBS, data transfer, S3, SQS, KMS, Secrets Manager.
	EBSGP3GBMonth         float64 `json:"ebs_gp3_gb_month"`
	InterAZGB             float64 `json:"inter_az_gb"` // $0.01 out of one AZ and $0.01 into the other
	S3PutThousand         float64 `json:"s3_put_thousand"`
	S3GBMonth             float64 `json:"s3_gb_month"`
	SQSRequestMillion     float64 `json:"sqs_request_million"`
	KMSKeyMonth           float64 `json:"kms_key_month"`
	KMSRequestTenThousand float64 `json:"kms_request_10k"`
	SecretMonth           float64 `json:"secrets_manager_secret_month"`
}

// PriceSource says where a group of prices comes from.
type PriceSource struct {
	Service string `json:"service"`
	Prices  string `json:"prices"`
	Source  string `json:"source"`
}

// PriceDate is when DefaultPrices were compiled.
const PriceDate = "2026-12-06"

// DefaultPrices are US East (N. Virginia), us-east-1 list prices,
// compiled on PriceDate (PriceSources says from what).
func DefaultPrices() Prices {
	return Prices{
		Region: "us-east-1", Date: PriceDate,

		KinesisStreamHour: 0.04, KinesisIngestGB: 0.08, KinesisRetrievalGB: 0.04, KinesisExtendedGBMonth: 0.10,
		KinesisShardHour: 0.015, KinesisPutUnitMillion: 0.014, KinesisExtendedShardHour: 0.02,

		LambdaRequestMillion: 0.20, LambdaGBSecondTier1: 0.0000133334, LambdaGBSecondTier2: 0.0000120001, LambdaGBSecondTier3: 0.0000106667,

		DynamoDBWriteMillion: 0.625, DynamoDBReadMillion: 0.125, DynamoDBGBMonth: 0.25, DynamoDBPITRGBMonth: 0.20,

		MetricMonthTier1: 0.30, MetricMonthTier2: 0.10, MetricMonthTier3: 0.05, MetricMonthTier4: 0.02,
		GetMetricDataThousand: 0.01, LogsIngestGB: 0.50, LogsStorageGBMonth: 0.03, AlarmMonth: 0.10, DashboardMonth: 3,

		EBSGP3GBMonth: 0.08, InterAZGB: 0.02, S3PutThousand: 0.005, S3GBMonth: 0.023, SQSRequestMillion: 0.40,
		KMSKeyMonth: 1, KMSRequestTenThousand: 0.03, SecretMonth: 0.40,
	}
}

// PriceSources is the provenance of DefaultPrices, service by service.
func PriceSources() []PriceSource {
	return []PriceSource{
		{"EC2", "instances (Linux, on-demand, shared tenancy)", "shared/domain/catalog/instance_types.csv: the AWS price list, compiled 2026-11-28 (its header)"},
		{"Kinesis", "on-demand stream-hour 0.04, ingest 0.08/GB, retrieval 0.04/GB, extended retention 0.10/GB-month; provisioned shard-hour 0.015, 0.014 per million 25 KB PUT payload units, extended retention 0.02/shard-hour",
			"aws.amazon.com/kinesis/data-streams/pricing (On-Demand Standard and Provisioned tabs), us-east-1; the same figures infracost's price-list test goldens record (kinesis_stream_test.golden); docs/INFRA.md gives the same extended retention price"},
		{"Lambda", "0.20 per million requests; arm64 0.0000133334/GB-s for the first 7.5 billion GB-s a month, 0.0000120001 the next 11.25 billion, 0.0000106667 beyond",
			"aws.amazon.com/lambda/pricing, us-east-1, Arm; the same figures infracost's price-list goldens record (lambda_function_test.golden)"},
		{"DynamoDB", "on-demand 0.625 per million write and 0.125 per million read request units (after the 50% cut of 2024-11-01), storage 0.25/GB-month, PITR 0.20/GB-month",
			"aws.amazon.com/dynamodb/pricing/on-demand, us-east-1, Standard table class"},
		{"CloudWatch", "custom metrics 0.30/0.10/0.05/0.02 a metric-month by tier (10k, 240k, 750k, beyond), GetMetricData 0.01 per 1,000 metrics, logs 0.50/GB ingested and 0.03/GB-month stored, alarms 0.10 each, dashboard 3 a month",
			"aws.amazon.com/cloudwatch/pricing, us-east-1 (logs: infracost's cloudwatch_log_group_test.golden records the same; GetMetricData: docs/INFRA.md)"},
		{"EBS", "gp3 0.08/GB-month", "aws.amazon.com/ebs/pricing, us-east-1"},
		{"Data transfer", "between Availability Zones 0.01/GB each way", "aws.amazon.com/ec2/pricing/on-demand (Data Transfer within the same region)"},
		{"S3, SQS", "S3 PUT 0.005 per 1,000, 0.023/GB-month; SQS 0.40 per million requests", "aws.amazon.com/s3/pricing, aws.amazon.com/sqs/pricing, us-east-1"},
		{"KMS, Secrets Manager", "a key 1/month, 0.03 per 10,000 requests; a secret 0.40/month", "aws.amazon.com/kms/pricing (docs/INFRA.md gives the same), aws.amazon.com/secrets-manager/pricing"},
	}
}
