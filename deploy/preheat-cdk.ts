// A CDK (TypeScript) snippet that adds preheat to a fourTheorem-style ECS MI stack
// (cluster + GPU MI capacity provider + SQS-driven worker service). Paste into the stack's
// constructor after `cluster`, `queue`, `workerService`, `gpuCapacityProvider` and
// `infrastructureRole` exist, and remove the stack's step-scaling policy on the worker
// service: preheat refuses to share desiredCount with Application Auto Scaling.
import * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import * as ecs from "aws-cdk-lib/aws-ecs";
import * as iam from "aws-cdk-lib/aws-iam";
import { Duration, Stack } from "aws-cdk-lib";

const stack = Stack.of(this);
const arn = (resource: string) =>
  `arn:${stack.partition}:ecs:${stack.region}:${stack.account}:${resource}`;
const clusterName = cluster.clusterName;
const serviceName = workerService.serviceName;
const cpName = gpuCapacityProvider.capacityProviderName;

// One writer per service: preheat keeps a lease item per service here.
const leases = new dynamodb.Table(this, "PreheatLeases", {
  partitionKey: { name: "lease_key", type: dynamodb.AttributeType.STRING },
  billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
});

const taskDef = new ecs.FargateTaskDefinition(this, "PreheatTask", {
  cpu: 256,
  memoryLimitMiB: 512,
});
taskDef.addContainer("preheat", {
  image: ecs.ContainerImage.fromAsset(".", { file: "deploy/Dockerfile" }),
  command: ["--dry-run"], // drop once the decisions in the logs look right
  logging: ecs.LogDrivers.awsLogs({ streamPrefix: "preheat" }),
  portMappings: [{ containerPort: 9464 }],
  stopTimeout: Duration.seconds(10),
  environment: { PREHEAT_LEASE_TABLE: leases.tableName, PREHEAT_EMF: "true" },
});

// Least privilege: the calls preheat makes, on the resources it is configured for.
const role = taskDef.taskRole;
queue.grant(role, "sqs:GetQueueAttributes");
role.addToPrincipalPolicy(new iam.PolicyStatement({
  actions: ["ecs:DescribeServices", "ecs:UpdateService"],
  resources: [arn(`service/${clusterName}/${serviceName}`)],
}));
// ListTasks is authorized against container instances, not the cluster: "*" plus the
// ecs:cluster condition (a grant on the cluster ARN is denied).
role.addToPrincipalPolicy(new iam.PolicyStatement({
  actions: ["ecs:ListTasks"],
  resources: ["*"],
  conditions: { ArnEquals: { "ecs:cluster": cluster.clusterArn } },
}));
role.addToPrincipalPolicy(new iam.PolicyStatement({
  actions: ["ecs:ListContainerInstances"],
  resources: [cluster.clusterArn],
}));
role.addToPrincipalPolicy(new iam.PolicyStatement({
  actions: ["ecs:DescribeTasks", "ecs:DescribeContainerInstances", "ecs:GetTaskProtection"],
  resources: [arn(`task/${clusterName}/*`), arn(`container-instance/${clusterName}/*`)],
  conditions: { ArnEquals: { "ecs:cluster": cluster.clusterArn } },
}));
role.addToPrincipalPolicy(new iam.PolicyStatement({
  actions: ["ecs:DescribeCapacityProviders", "ecs:UpdateCapacityProvider"],
  resources: [arn(`capacity-provider/${cpName}`)],
}));
role.addToPrincipalPolicy(new iam.PolicyStatement({
  actions: ["iam:PassRole"],
  resources: [infrastructureRole.roleArn],
  conditions: { StringEquals: { "iam:PassedToService": "ecs.amazonaws.com" } },
}));
role.addToPrincipalPolicy(new iam.PolicyStatement({
  // AWS/SQS minute sums (arrivals, service time); optional: without it preheat runs SQS-only.
  actions: ["cloudwatch:GetMetricData"],
  resources: ["*"], // no resource-level permissions for this call
}));
role.addToPrincipalPolicy(new iam.PolicyStatement({
  actions: ["application-autoscaling:DescribeScalableTargets"],
  resources: ["*"], // no resource-level permissions for this call
}));
role.addToPrincipalPolicy(new iam.PolicyStatement({
  actions: ["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:DeleteItem"],
  resources: [leases.tableArn],
}));

new ecs.FargateService(this, "Preheat", {
  cluster,
  taskDefinition: taskDef,
  desiredCount: 1,
  minHealthyPercent: 0, // never two controllers at once
  maxHealthyPercent: 100,
});
