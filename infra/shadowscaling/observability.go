package shadowscaling

import (
	"fmt"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/jsii-runtime-go"
)

// Periods. Functions, not package variables: a package-level jsii call
// would start the jsii runtime at init, before anything can configure it.
func minutes(n float64) awscdk.Duration { return awscdk.Duration_Minutes(jsii.Number(n)) }

// metric is a ShadowScale metric with the given dimensions (name, value, ...).
func metric(name, stat string, period awscdk.Duration, label string, dims ...string) awscloudwatch.Metric {
	dm := map[string]*string{}
	for i := 0; i+1 < len(dims); i += 2 {
		dm[dims[i]] = jsii.String(dims[i+1])
	}
	return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace:     jsii.String(Namespace),
		MetricName:    jsii.String(name),
		DimensionsMap: &dm,
		Statistic:     jsii.String(stat),
		Period:        period,
		Label:         label2(label),
	})
}

func label2(l string) *string {
	if l == "" {
		return nil
	}
	return jsii.String(l)
}

// search is a SEARCH expression over every group's metric of a name, for
// groups enrolled by tag that the template cannot name.
func search(schema, name, stat, label string) awscloudwatch.MathExpression {
	return awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Expression:   jsii.String(fmt.Sprintf(`SEARCH('{%s,%s} MetricName="%s"', '%s', 60)`, Namespace, schema, name, stat)),
		UsingMetrics: &map[string]awscloudwatch.IMetric{},
		Label:        jsii.String(label),
		Period:       minutes(1),
	})
}

func graph(title string, width float64, left []awscloudwatch.IMetric, right []awscloudwatch.IMetric) awscloudwatch.GraphWidget {
	p := &awscloudwatch.GraphWidgetProps{
		Title:  jsii.String(title),
		Width:  jsii.Number(width),
		Height: jsii.Number(6),
		Left:   &left,
	}
	if len(right) > 0 {
		p.Right = &right
	}
	return awscloudwatch.NewGraphWidget(p)
}

func (c *ShadowScaling) observability(cfg Config) {
	s := c.Construct
	if cfg.AlarmTopic || len(cfg.AlarmEmails) > 0 {
		c.AlarmTopic = awssns.NewTopic(s, jsii.String("AlarmTopic"), &awssns.TopicProps{
			DisplayName: jsii.String("shadowscale alarms"),
		})
		for _, e := range cfg.AlarmEmails {
			c.AlarmTopic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(e), nil))
		}
	}

	c.Dashboard = awscloudwatch.NewDashboard(s, jsii.String("Dashboard"), &awscloudwatch.DashboardProps{
		DefaultInterval: awscdk.Duration_Hours(jsii.Number(3)),
	})
	groups := orderedGroups(cfg.Groups)

	// Per enrolled group: what the issue asks to see side by side. Every
	// ShadowScale metric here is one the functions emit, with exactly the
	// dimensions they emit it with (TestDashboardAndAlarmMetricsAreEmitted
	// reads the functions' code).
	for _, g := range groups {
		c.Dashboard.AddWidgets(awscloudwatch.NewTextWidget(&awscloudwatch.TextWidgetProps{
			Markdown: jsii.String("## Group " + g), Width: jsii.Number(24), Height: jsii.Number(1),
		}))
		c.Dashboard.AddWidgets(
			graph(g+": live vs shadow mutations/min", 6, []awscloudwatch.IMetric{
				metric("MutationsApplied", "Sum", minutes(1), "live", "Group", g, "Target", "live"),
				metric("MutationsApplied", "Sum", minutes(1), "shadow", "Group", g, "Target", "shadow"),
			}, nil),
			graph(g+": shadow gap (%) and delta", 6, []awscloudwatch.IMetric{
				shadowGap(g, minutes(1)),
			}, []awscloudwatch.IMetric{
				metric("Delta", "Average", minutes(1), "delta", "Group", g),
			}),
			graph(g+": forecast vs actual rate", 6, []awscloudwatch.IMetric{
				metric("ActualRate", "Average", minutes(1), "actual", "Group", g),
				metric("ForecastP50", "Average", minutes(1), "forecast p50", "Group", g),
				metric("ForecastP90", "Average", minutes(1), "forecast p90", "Group", g),
			}, nil),
			graph(g+": capacity and decisions", 6, []awscloudwatch.IMetric{
				metric("DesiredCapacity", "Maximum", minutes(1), "desired", "Group", g),
				metric("InServiceCapacity", "Maximum", minutes(1), "in service", "Group", g),
				metric("LiveCount", "Maximum", minutes(1), "live instances", "Group", g),
				metric("ShadowCount", "Maximum", minutes(1), "shadows", "Group", g),
			}, []awscloudwatch.IMetric{
				awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
					Expression:   jsii.String(fmt.Sprintf(`SEARCH('{%s,Action,Group} MetricName="Decisions" Group="%s"', 'Sum', 60)`, Namespace, g)),
					UsingMetrics: &map[string]awscloudwatch.IMetric{},
					Label:        jsii.String("decisions"),
					Period:       minutes(1),
				}),
			}),
		)
	}

	// Every group, also those enrolled by tag only: SEARCH expressions.
	c.Dashboard.AddWidgets(awscloudwatch.NewTextWidget(&awscloudwatch.TextWidgetProps{
		Markdown: jsii.String("## All enrolled groups (by name or by tag)"), Width: jsii.Number(24), Height: jsii.Number(1),
	}))
	c.Dashboard.AddWidgets(
		graph("Mutations applied (live and shadow)", 8, []awscloudwatch.IMetric{search("Group,Target", "MutationsApplied", "Sum", "")}, nil),
		graph("Delta", 8, []awscloudwatch.IMetric{search("Group", "Delta", "Average", "")}, nil),
		graph("Forecast p50 vs actual", 8, []awscloudwatch.IMetric{
			search("Group", "ForecastP50", "Average", ""), search("Group", "ActualRate", "Average", ""),
		}, nil),
	)
	c.Dashboard.AddWidgets(
		graph("Desired and in-service capacity", 8, []awscloudwatch.IMetric{
			search("Group", "DesiredCapacity", "Maximum", ""), search("Group", "InServiceCapacity", "Maximum", ""),
		}, nil),
		graph("Decisions", 8, []awscloudwatch.IMetric{search("Action,Group", "Decisions", "Sum", "")}, nil),
		graph("Forecaster failures and audit errors", 8, []awscloudwatch.IMetric{
			search("Group", "ForecasterFailures", "Sum", ""), search("Group", "AuditErrors", "Sum", ""),
		}, nil),
	)
	c.Dashboard.AddWidgets(
		graph("Shadows and live instances", 8, []awscloudwatch.IMetric{
			search("Group", "ShadowCount", "Maximum", ""), search("Group", "LiveCount", "Maximum", ""),
		}, nil),
		graph("Shadows launched, replaced, terminated", 8, []awscloudwatch.IMetric{
			search("Group", "ShadowsLaunched", "Sum", ""), search("Group", "ShadowsReplaced", "Sum", ""),
			search("Group", "ShadowsTerminated", "Sum", ""),
		}, nil),
		graph("Breaker opens, late shadow mutations", 8, []awscloudwatch.IMetric{
			metric("ShadowBreakerOpen", "Sum", minutes(1), "shadow breaker opened"),
			// A live agent failing for 10 minutes: its mutations are
			// dead-lettered live-unavailable (the DLQ alarm fires).
			metric("LiveBreakerOpen", "Sum", minutes(1), "live breaker opened"),
			metric("ShadowRejected", "Sum", minutes(1), "refused by the shadow as late"),
		}, nil),
	)

	// The plane itself.
	fan := c.Functions[FnFanout]
	iterAge := fan.Metric(jsii.String("IteratorAge"), &awscloudwatch.MetricOptions{Statistic: jsii.String("Maximum"), Period: minutes(1)})
	dlqDepth := c.DeadLetters.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{Statistic: jsii.String("Maximum"), Period: minutes(1)})
	var errs, durs []awscloudwatch.IMetric
	for _, fn := range Functions {
		errs = append(errs, c.Functions[fn].MetricErrors(&awscloudwatch.MetricOptions{Period: minutes(1), Label: jsii.String(fn)}))
		durs = append(durs, c.Functions[fn].MetricDuration(&awscloudwatch.MetricOptions{Statistic: jsii.String("p99"), Period: minutes(1), Label: jsii.String(fn + " p99")}))
	}
	c.Dashboard.AddWidgets(awscloudwatch.NewTextWidget(&awscloudwatch.TextWidgetProps{
		Markdown: jsii.String("## Control plane"), Width: jsii.Number(24), Height: jsii.Number(1),
	}))
	c.Dashboard.AddWidgets(
		graph("Fan-out errors and dead letters", 8, []awscloudwatch.IMetric{
			metric("FanoutErrors", "Sum", minutes(1), "fan-out errors (retried)"),
			metric("DeadLettered", "Sum", minutes(1), "dead-lettered"),
			metric("HistoryErrors", "Sum", minutes(1), "history write errors"),
		}, []awscloudwatch.IMetric{dlqDepth}),
		graph("Fan-out iterator age (ms)", 8, []awscloudwatch.IMetric{iterAge}, nil),
		graph("Pool full / refused (not ours)", 8, []awscloudwatch.IMetric{
			search("AZ", "PoolFull", "Sum", ""),
			metric("RefusedNotOwned", "Sum", minutes(1), "refused: not ours"),
		}, nil),
	)
	c.Dashboard.AddWidgets(
		graph("Reconciler actions and failures", 8, []awscloudwatch.IMetric{
			search("Kind", "ReconcileActions", "Sum", ""),
			metric("ReconcileFailures", "Sum", minutes(5), "failed actions"),
		}, nil),
		graph("Events ignored and refused", 8, []awscloudwatch.IMetric{
			search("Function,Reason", "EventsIgnored", "Sum", ""), search("Function,Reason", "EventsRefused", "Sum", ""),
		}, nil),
		graph("Function errors", 8, errs, nil),
	)
	c.Dashboard.AddWidgets(
		graph("Function duration p99 (ms)", 24, durs, nil),
	)

	// Alarms.
	alarm := func(id, desc, section string, m awscloudwatch.IMetric, threshold float64, periods, datapoints float64) {
		a := awscloudwatch.NewAlarm(s, jsii.String(id), &awscloudwatch.AlarmProps{
			AlarmDescription:   jsii.String(runbook(cfg, desc, section)),
			Metric:             m,
			Threshold:          jsii.Number(threshold),
			EvaluationPeriods:  jsii.Number(periods),
			DatapointsToAlarm:  jsii.Number(datapoints),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
		c.addAlarm(a)
	}
	// The fan-out retries a failing record until the mapping's maximum
	// record age (a day below the stream's retention: 6 days by
	// default): this alarm, not a dead letter, is what tells an operator
	// that a shard waits.
	alarm("IteratorAgeAlarm", fmt.Sprintf("shadowscale fan-out is more than %d s behind the mutation stream for 5 minutes (a shard waits on a failing record: agents, DynamoDB or the function; it is retried until the record is %d hours old, then written to the dead-letter bucket)",
		cfg.IteratorAgeAlarmSeconds, MaxRecordAgeHours(cfg.StreamRetentionHours)), "iterator-age",
		iterAge, float64(cfg.IteratorAgeAlarmSeconds*1000), 5, 5)
	alarm("DeadLettersAlarm", "shadowscale dead-letter queue is not empty: mutations that were never applied", "dead-letters",
		dlqDepth, 1, 1, 1)
	for _, fn := range Functions {
		id := strings.ToUpper(fn[:1]) + fn[1:]
		// Errors in 2 of the last 3 five-minute periods: one transient
		// failure that a retry absorbed does not page.
		alarm(id+"ErrorsAlarm", "shadowscale "+fn+" function errors in 2 of 15 minutes", "function-errors",
			c.Functions[fn].MetricErrors(&awscloudwatch.MetricOptions{Period: minutes(5), Statistic: jsii.String("Sum")}), 1, 3, 2)
	}
	for i, g := range groups {
		// A shadow takes a minute or two to launch, so a mismatch must last
		// 15 minutes to alarm.
		diff := awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
			Expression: jsii.String("ABS(shadows - live)"),
			UsingMetrics: &map[string]awscloudwatch.IMetric{
				"shadows": metric("ShadowCount", "Maximum", minutes(5), "shadows", "Group", g),
				"live":    metric("LiveCount", "Maximum", minutes(5), "live", "Group", g),
			},
			Label:  jsii.String(g + " shadows - live"),
			Period: minutes(5),
		})
		alarm(fmt.Sprintf("Group%dShadowCountAlarm", i), "shadowscale group "+g+": shadow count differs from live count for 15 minutes", "shadow-count", diff, 1, 3, 3)
		// Shadows that do not get their live instances' mutations (not
		// running, skipped by an open breaker, refusing them as late)
		// are out of sync however many there are.
		alarm(fmt.Sprintf("Group%dShadowGapAlarm", i), fmt.Sprintf("shadowscale group %s: its shadows accepted at least %v%% fewer mutations than its live instances for 15 minutes (shadows out of sync)", g, cfg.ShadowGapAlarmPercent), "shadow-gap",
			shadowGap(g, minutes(5)), cfg.ShadowGapAlarmPercent, 3, 3)
	}
	// Groups enrolled by tag are not known to the template: these watch
	// every group. A shadow agent that keeps failing opens its breaker
	// every 30 s while mutations flow; 15 minutes of that is a shadow the
	// reconciler has not replaced.
	alarm("ShadowBreakerAlarm", "shadowscale: a shadow agent kept failing for 15 minutes (its breaker reopened in each of 3 five-minute periods); the reconciler has not replaced it", "shadow-breaker",
		metric("ShadowBreakerOpen", "Sum", minutes(5), ""), 1, 3, 3)
	// A group the forecaster cannot forecast (e.g. no per-instance
	// capacity: neither the shadowscale:per-instance tag nor per_instance)
	// fails every minute.
	c.overGroupsAlarm(cfg, "ForecasterFailuresAlarm", "failures", "ForecasterFailures", "groups failed, over every group",
		"shadowscale: the forecaster failed a group in each of 3 five-minute periods (a history that cannot be read, a bad shadowscale:per-instance tag)",
		"forecaster-failures", 3)
	c.replacementAlarm(cfg)
}

// runbook ends an alarm's description with its runbook section
// (docs/RUNBOOK.md#section, at cfg.RunbookURL).
func runbook(cfg Config, desc, section string) string {
	return desc + ". Runbook: " + cfg.RunbookURL + "#" + section
}

// replacementAlarm fires when a group's shadow replacements stopped at its
// hourly cap (shadowReplacementsPerHour): shadows that die at boot (a bad
// AMI, an EBS default KMS key the shadow role cannot use, an instance
// profile it cannot pass). Every halt also writes an audit record saying
// why (docs/DYNAMODB.md, LIFECYCLE#<group>).
func (c *ShadowScaling) replacementAlarm(cfg Config) {
	c.overGroupsAlarm(cfg, "ReplacementsHaltedAlarm", "halted", "ReplacementsHalted", "replacements halted, over every group",
		"shadowscale: shadow replacement stopped in a group (its replacements per hour reached their cap: shadows die at boot; check the shadow AMI, the EBS default KMS key and the shadow role; the halt audit records under LIFECYCLE#<group> say which)",
		"replacements-halted", 1)
}

// overGroupsAlarm is an alarm on a per-group metric summed over every
// group (a Metrics Insights query: groups enrolled by tag have no fixed
// dimension to name), at or above 1 in each of periods five-minute
// periods; it notifies the alarm topic when there is one.
func (c *ShadowScaling) overGroupsAlarm(cfg Config, id, query, metric, label, desc, section string, periods float64) {
	a := awscloudwatch.NewCfnAlarm(c.Construct, jsii.String(id), &awscloudwatch.CfnAlarmProps{
		AlarmDescription:   jsii.String(runbook(cfg, desc, section)),
		ComparisonOperator: jsii.String("GreaterThanOrEqualToThreshold"),
		Threshold:          jsii.Number(1),
		EvaluationPeriods:  jsii.Number(periods),
		DatapointsToAlarm:  jsii.Number(periods),
		TreatMissingData:   jsii.String("notBreaching"),
		Metrics: &[]any{&awscloudwatch.CfnAlarm_MetricDataQueryProperty{
			Id:         jsii.String(query),
			Expression: jsii.String(fmt.Sprintf(`SELECT SUM(%s) FROM SCHEMA("%s", "Group")`, metric, Namespace)),
			Period:     jsii.Number(300),
			ReturnData: jsii.Bool(true),
			Label:      jsii.String(label),
		}},
	})
	if c.AlarmTopic != nil {
		a.SetAlarmActions(jsii.Strings(*c.AlarmTopic.TopicArn()))
	}
}

// shadowGap is a group's shadow gap in percent: how much fewer mutations
// its shadows accepted than its live instances in a period (0 without
// live mutations).
func shadowGap(group string, period awscdk.Duration) awscloudwatch.MathExpression {
	return awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Expression: jsii.String("IF(live > 0, 100 * (live - FILL(shadow, 0)) / live, 0)"),
		UsingMetrics: &map[string]awscloudwatch.IMetric{
			"live":   metric("MutationsApplied", "Sum", period, "live", "Group", group, "Target", "live"),
			"shadow": metric("MutationsApplied", "Sum", period, "shadow", "Group", group, "Target", "shadow"),
		},
		Label:  jsii.String(group + " shadow gap %"),
		Period: period,
	})
}

func (c *ShadowScaling) addAlarm(a awscloudwatch.Alarm) {
	if c.AlarmTopic != nil {
		a.AddAlarmAction(awscloudwatchactions.NewSnsAction(c.AlarmTopic))
	}
	c.Alarms = append(c.Alarms, a)
}
