import { CfnOutput, Duration, Fn, RemovalPolicy, SecretValue, Stack, StackProps, Validations } from 'aws-cdk-lib';
import * as appscaling from 'aws-cdk-lib/aws-applicationautoscaling';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as codedeploy from 'aws-cdk-lib/aws-codedeploy';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elasticache from 'aws-cdk-lib/aws-elasticache';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import type { Settings } from './app';
import { GithubDeployRole } from './github-deploy';

export interface InkwellStackProps extends StackProps {
  settings: Settings;
  // Created by the registry stack; named, not exported, so the stacks deploy apart.
  repositoryName: string;
}

// Timings of a stopping task, which must nest: the ALB stops sending new requests and
// lets running ones finish for the deregistration delay before ECS sends SIGTERM; the
// server then keeps serving INKWELL_SHUTDOWN_DELAY and drains INKWELL_SHUTDOWN_GRACE,
// within stopTimeout before SIGKILL.
export const SHUTDOWN_DELAY_SECONDS = 5;
export const SHUTDOWN_GRACE_SECONDS = 20;
export const STOP_TIMEOUT_SECONDS = 30;
export const DEREGISTRATION_DELAY_SECONDS = 30;
// INKWELL_DB_MAX_CONNS, the pool of each task.
export const DB_CONNS_PER_TASK = 20;
const APP_PORT = 8080;
const DB_PORT = 5432;
const REDIS_PORT = 6379;
const TEST_LISTENER_PORT = 8443;

export class InkwellStack extends Stack {
  private readonly azs: string[];

  // Named, not looked up: synth needs no credentials.
  override get availabilityZones(): string[] {
    return this.azs;
  }

  constructor(scope: Construct, id: string, props: InkwellStackProps) {
    super(scope, id, props);
    const s = props.settings;
    this.azs = s.availabilityZones;
    const corsOrigins = s.corsOrigins.split(',').map((o) => o.trim()).filter((o) => o !== '');

    // --- Network: ALB in public subnets, tasks in private ones (NAT for AWS APIs and
    // sign-in providers), database and Redis in isolated ones.
    const vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr('10.0.0.0/16'),
      maxAzs: s.availabilityZones.length,
      // One per AZ: an AZ's outage leaves the other's tasks their way out.
      natGateways: s.availabilityZones.length,
      subnetConfiguration: [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'app', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 22 },
        { name: 'data', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 },
      ],
      gatewayEndpoints: {
        // Image layers and uploads bypass the NAT gateways' per-GB charge.
        S3: { service: ec2.GatewayVpcEndpointAwsService.S3 },
      },
    });
    Validations.of(vpc).acknowledge({
      id: 'CloudFormation-Validate::W3010',
      reason: 'The AZs are named in context on purpose: looking them up would need credentials at synth time.',
    });
    const flowLogs = new logs.LogGroup(this, 'FlowLogs', {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    vpc.addFlowLog('RejectedTraffic', {
      destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogs),
      trafficType: ec2.FlowLogTrafficType.REJECT,
    });

    const albSg = new ec2.SecurityGroup(this, 'AlbSecurityGroup', {
      vpc,
      description: 'Inkwell ALB: HTTPS and HTTP (redirected) from the internet',
      allowAllOutbound: false,
    });
    albSg.addIngressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'HTTPS');
    albSg.addIngressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(80), 'HTTP, redirected to HTTPS');
    if (s.testListenerCidr) {
      albSg.addIngressRule(ec2.Peer.ipv4(s.testListenerCidr), ec2.Port.tcp(TEST_LISTENER_PORT), 'blue/green test listener');
    }
    const serviceSg = new ec2.SecurityGroup(this, 'ServiceSecurityGroup', {
      vpc,
      description: 'Inkwell tasks (service and migrations): port 8080 from the ALB only',
      // Sign-in providers, SMTP and AWS APIs are on the internet, through NAT.
      allowAllOutbound: true,
    });
    serviceSg.addIngressRule(albSg, ec2.Port.tcp(APP_PORT), 'from the ALB');
    albSg.addEgressRule(serviceSg, ec2.Port.tcp(APP_PORT), 'to the tasks');
    const dbSg = new ec2.SecurityGroup(this, 'DatabaseSecurityGroup', {
      vpc,
      description: 'Inkwell PostgreSQL: 5432 from the tasks only',
      allowAllOutbound: false,
    });
    dbSg.addIngressRule(serviceSg, ec2.Port.tcp(DB_PORT), 'from the tasks');
    const redisSg = new ec2.SecurityGroup(this, 'RedisSecurityGroup', {
      vpc,
      description: 'Inkwell Redis: 6379 from the tasks only',
      allowAllOutbound: false,
    });
    redisSg.addIngressRule(serviceSg, ec2.Port.tcp(REDIS_PORT), 'from the tasks');

    // --- Logs bucket: ALB access logs and the upload bucket's server access logs.
    const logsBucket = new s3.Bucket(this, 'AccessLogs', {
      // The ALB writes access logs only to SSE-S3 buckets.
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
      lifecycleRules: [{ expiration: Duration.days(90) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    NagSuppressions.addResourceSuppressions(logsBucket, [
      { id: 'AwsSolutions-S1', reason: 'This is the access-log bucket itself; logging its own accesses into it would log the log writes.' },
    ]);

    // --- Uploads (INKWELL_STORAGE=s3): private; clients PUT to incoming/ and GET assets/
    // with URLs presigned by the task role.
    const uploads = new s3.Bucket(this, 'Uploads', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: logsBucket,
      serverAccessLogsPrefix: 'uploads/',
      // Browsers PUT the bytes straight to S3 from the app's origins.
      cors: corsOrigins.length > 0
        ? [{ allowedMethods: [s3.HttpMethods.PUT], allowedOrigins: corsOrigins, allowedHeaders: ['*'], maxAge: 600 }]
        : undefined,
      lifecycleRules: [
        { id: 'abort-incomplete-multipart', abortIncompleteMultipartUploadAfter: Duration.days(1) },
        {
          // An upload URL lives 15 minutes and an unused asset is deleted by Inkwell a day
          // later; what is still in incoming/ after 7 days was abandoned.
          id: 'expire-abandoned-incoming',
          prefix: 'incoming/',
          expiration: Duration.days(7),
        },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // --- Secrets. Passwords are alphanumeric so they go into URLs unescaped.
    const signingKey = new secretsmanager.Secret(this, 'SigningKey', {
      secretName: 'inkwell/signing-key',
      description: 'INKWELL_SIGNING_KEY: signs access tokens',
      generateSecretString: { passwordLength: 64, excludePunctuation: true },
    });
    const dbCredentials = new secretsmanager.Secret(this, 'DatabaseCredentials', {
      secretName: 'inkwell/database-credentials',
      description: 'PostgreSQL master user; DATABASE_URL is composed from it',
      generateSecretString: {
        secretStringTemplate: JSON.stringify({ username: 'inkwell' }),
        generateStringKey: 'password',
        passwordLength: 32,
        excludePunctuation: true,
      },
    });
    const redisAuth = new secretsmanager.Secret(this, 'RedisAuthToken', {
      secretName: 'inkwell/redis-auth-token',
      description: 'ElastiCache AUTH token; REDIS_URL is composed from it',
      generateSecretString: { passwordLength: 64, excludePunctuation: true },
    });

    // --- PostgreSQL.
    const engine = rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_15 });
    const maxConnections = 2 * s.maxTasks * DB_CONNS_PER_TASK + 30;
    const dbParameters = new rds.ParameterGroup(this, 'DatabaseParameters', {
      engine,
      description: 'Inkwell: TLS only, slow statements logged, connections sized for blue/green',
      parameters: {
        'rds.force_ssl': '1',
        // During a blue/green deployment both task sets hold their pools: 2 × the most
        // tasks × INKWELL_DB_MAX_CONNS, plus the migration task and operators.
        max_connections: String(maxConnections),
        // Statements past INKWELL_STATEMENT_TIMEOUT's tenth (5 s) are worth a look.
        log_min_duration_statement: '500',
        log_lock_waits: '1',
        // A session left idle in a transaction holds locks that migrations wait on.
        idle_in_transaction_session_timeout: '60000',
        // The unaccent extension (created by the migrations) needs no preload;
        // pg_stat_statements is RDS's default and kept.
        shared_preload_libraries: 'pg_stat_statements',
      },
    });
    const db = new rds.DatabaseInstance(this, 'Database', {
      engine,
      instanceType: new ec2.InstanceType(s.dbInstanceClass.replace(/^db\./, '')),
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      securityGroups: [dbSg],
      port: DB_PORT,
      credentials: rds.Credentials.fromSecret(dbCredentials),
      databaseName: 'inkwell',
      parameterGroup: dbParameters,
      multiAz: true,
      publiclyAccessible: false,
      storageEncrypted: true,
      storageType: rds.StorageType.GP3,
      allocatedStorage: 50,
      maxAllocatedStorage: 200,
      // Automated backups are what point-in-time recovery restores from.
      backupRetention: Duration.days(14),
      deletionProtection: true,
      removalPolicy: RemovalPolicy.SNAPSHOT,
      enablePerformanceInsights: true,
      instanceIdentifier: 'inkwell',
      cloudwatchLogsExports: ['postgresql'],
      autoMinorVersionUpgrade: true,
    });
    // RDS creates this group on first export; made here for its retention (instead of
    // the Lambda function that cloudwatchLogsRetention would add).
    const dbLogs = new logs.LogGroup(this, 'DatabaseLogs', {
      logGroupName: '/aws/rds/instance/inkwell/postgresql',
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    db.node.addDependency(dbLogs);
    // Composed by CloudFormation from dynamic references: the password never appears in
    // the template. sslmode=require encrypts (rds.force_ssl refuses anything else).
    const databaseUrl = new secretsmanager.Secret(this, 'DatabaseUrl', {
      secretName: 'inkwell/database-url',
      description: 'DATABASE_URL of the Inkwell tasks',
      secretStringValue: SecretValue.unsafePlainText(Fn.join('', [
        'postgres://inkwell:',
        dbCredentials.secretValueFromJson('password').unsafeUnwrap(),
        '@', db.dbInstanceEndpointAddress, ':', db.dbInstanceEndpointPort,
        '/inkwell?sslmode=require',
      ])),
    });

    // --- Redis, for rate limits shared by all tasks (REDIS_URL). Counters are
    // ephemeral: no snapshots.
    const redisSubnets = new elasticache.CfnSubnetGroup(this, 'RedisSubnets', {
      description: 'Inkwell Redis',
      subnetIds: vpc.selectSubnets({ subnetType: ec2.SubnetType.PRIVATE_ISOLATED }).subnetIds,
    });
    const redis = new elasticache.CfnReplicationGroup(this, 'Redis', {
      replicationGroupDescription: 'Inkwell shared rate limits',
      engine: 'redis',
      engineVersion: '7.1',
      cacheNodeType: s.redisNodeType,
      numCacheClusters: 2,
      automaticFailoverEnabled: true,
      multiAzEnabled: true,
      port: REDIS_PORT,
      transitEncryptionEnabled: true,
      atRestEncryptionEnabled: true,
      authToken: redisAuth.secretValue.unsafeUnwrap(),
      cacheSubnetGroupName: redisSubnets.ref,
      securityGroupIds: [redisSg.securityGroupId],
      snapshotRetentionLimit: 0,
    });
    redis.addResourceDependency(redisSubnets);
    const redisUrl = new secretsmanager.Secret(this, 'RedisUrl', {
      secretName: 'inkwell/redis-url',
      description: 'REDIS_URL of the Inkwell tasks (rediss: TLS)',
      secretStringValue: SecretValue.unsafePlainText(Fn.join('', [
        'rediss://:', redisAuth.secretValue.unsafeUnwrap(),
        '@', redis.attrPrimaryEndPointAddress, ':', redis.attrPrimaryEndPointPort, '/0',
      ])),
    });

    // --- Roles. The execution role pulls the image, writes logs and reads the task's
    // secrets (the grants below and in the container definitions); the task role may
    // only use the uploads' objects.
    const executionRole = new iam.Role(this, 'ExecutionRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: 'Inkwell task execution: ECR pull, logs, the task secrets',
    });
    const taskRole = new iam.Role(this, 'TaskRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: 'Inkwell tasks: the uploads bucket objects, nothing else',
    });
    const objectArns = ['incoming/*', 'assets/*'].map((p) => uploads.arnForObjects(p));
    taskRole.addToPolicy(new iam.PolicyStatement({
      sid: 'UploadObjects',
      actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'],
      resources: objectArns,
    }));
    taskRole.addToPolicy(new iam.PolicyStatement({
      // With it, S3 answers a missing key 404 (which Inkwell reports as an unknown
      // upload) instead of 403.
      sid: 'UploadsMissingKeys',
      actions: ['s3:ListBucket'],
      resources: [uploads.bucketArn],
    }));
    // Only the task role reads or writes objects, presigned URLs included (they act as
    // the role that signed them).
    uploads.addToResourcePolicy(new iam.PolicyStatement({
      sid: 'OnlyTheTaskRoleUsesObjects',
      effect: iam.Effect.DENY,
      principals: [new iam.AnyPrincipal()],
      actions: ['s3:GetObject', 's3:PutObject'],
      resources: [uploads.arnForObjects('*')],
      conditions: { ArnNotEquals: { 'aws:PrincipalArn': taskRole.roleArn } },
    }));

    // --- Tasks.
    const cluster = new ecs.Cluster(this, 'Cluster', {
      vpc,
      clusterName: 'inkwell',
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });
    const appLogs = new logs.LogGroup(this, 'AppLogs', {
      logGroupName: '/ecs/inkwell',
      retention: logs.RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const repository = ecr.Repository.fromRepositoryName(this, 'Repository', props.repositoryName);
    const image = ecs.ContainerImage.fromEcrRepository(repository, s.imageTag);
    const runtimePlatform = {
      cpuArchitecture: ecs.CpuArchitecture.ARM64,
      operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
    };
    const secrets = {
      DATABASE_URL: ecs.Secret.fromSecretsManager(databaseUrl),
      INKWELL_SIGNING_KEY: ecs.Secret.fromSecretsManager(signingKey),
    };

    const taskDefinition = new ecs.FargateTaskDefinition(this, 'TaskDefinition', {
      family: 'inkwell',
      cpu: 512,
      memoryLimitMiB: 1024,
      runtimePlatform,
      executionRole,
      taskRole,
    });
    taskDefinition.addContainer('inkwell', {
      containerName: 'inkwell',
      image,
      command: ['serve'],
      user: '65532',
      readonlyRootFilesystem: true,
      portMappings: [{ containerPort: APP_PORT }],
      environment: {
        INKWELL_ENV: 'production',
        INKWELL_ADDR: `:${APP_PORT}`,
        INKWELL_PUBLIC_URL: s.publicUrl,
        INKWELL_CORS_ORIGINS: corsOrigins.join(','),
        // Migrations are the one-off task's job, before traffic shifts.
        INKWELL_MIGRATE_ON_START: 'false',
        INKWELL_SHUTDOWN_DELAY: `${SHUTDOWN_DELAY_SECONDS}s`,
        INKWELL_SHUTDOWN_GRACE: `${SHUTDOWN_GRACE_SECONDS}s`,
        INKWELL_DB_MAX_CONNS: String(DB_CONNS_PER_TASK),
        // The ALB's addresses are in the VPC: only its X-Forwarded-For is believed.
        INKWELL_TRUSTED_PROXIES: vpc.vpcCidrBlock,
        INKWELL_STORAGE: 's3',
        INKWELL_S3_BUCKET: uploads.bucketName,
        INKWELL_S3_REGION: this.region,
        // Below the task's 1024 MiB, leaving room for the response cache (off-heap).
        GOMEMLIMIT: '800MiB',
      },
      secrets: { ...secrets, REDIS_URL: ecs.Secret.fromSecretsManager(redisUrl) },
      // Liveness only (/healthz): a database outage must not get every task replaced.
      healthCheck: {
        command: ['CMD', '/inkwell', 'healthcheck'],
        interval: Duration.seconds(10),
        timeout: Duration.seconds(3),
        retries: 3,
        startPeriod: Duration.seconds(30),
      },
      stopTimeout: Duration.seconds(STOP_TIMEOUT_SECONDS),
      logging: ecs.LogDrivers.awsLogs({ logGroup: appLogs, streamPrefix: 'inkwell' }),
    });

    // `inkwell migrate`, run once per release before traffic shifts (deploy/aws.md). It
    // needs the database and the production configuration's checks, not the bucket.
    const migrateTaskRole = new iam.Role(this, 'MigrateTaskRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: 'Inkwell migrations: no AWS permissions',
    });
    const migrateDefinition = new ecs.FargateTaskDefinition(this, 'MigrateTaskDefinition', {
      family: 'inkwell-migrate',
      cpu: 256,
      memoryLimitMiB: 512,
      runtimePlatform,
      executionRole,
      taskRole: migrateTaskRole,
    });
    migrateDefinition.addContainer('inkwell', {
      containerName: 'inkwell',
      image,
      command: ['migrate'],
      user: '65532',
      readonlyRootFilesystem: true,
      environment: { INKWELL_ENV: 'production' },
      secrets,
      logging: ecs.LogDrivers.awsLogs({ logGroup: appLogs, streamPrefix: 'migrate' }),
    });

    // --- Load balancer and blue/green target groups.
    const alb = new elbv2.ApplicationLoadBalancer(this, 'Alb', {
      vpc,
      internetFacing: true,
      securityGroup: albSg,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      http2Enabled: true,
      dropInvalidHeaderFields: true,
      // Above the server's 25 s WebSocket ping, with margin.
      idleTimeout: Duration.seconds(120),
      deletionProtection: true,
    });
    alb.logAccessLogs(logsBucket, 'alb');
    const targetGroup = (id: string) => new elbv2.ApplicationTargetGroup(this, id, {
      vpc,
      targetType: elbv2.TargetType.IP,
      protocol: elbv2.ApplicationProtocol.HTTP,
      port: APP_PORT,
      deregistrationDelay: Duration.seconds(DEREGISTRATION_DELAY_SECONDS),
      healthCheck: {
        path: '/readyz',
        healthyHttpCodes: '200',
        interval: Duration.seconds(10),
        timeout: Duration.seconds(5),
        healthyThresholdCount: 2,
        unhealthyThresholdCount: 2,
      },
    });
    const blue = targetGroup('BlueTargetGroup');
    const green = targetGroup('GreenTargetGroup');
    const certificates = [elbv2.ListenerCertificate.fromArn(s.certificateArn)];
    const sslPolicy = elbv2.SslPolicy.RECOMMENDED_TLS;
    const https = alb.addListener('Https', {
      port: 443,
      protocol: elbv2.ApplicationProtocol.HTTPS,
      certificates,
      sslPolicy,
      open: false,
      defaultTargetGroups: [blue],
    });
    alb.addListener('Http', {
      port: 80,
      protocol: elbv2.ApplicationProtocol.HTTP,
      open: false,
      defaultAction: elbv2.ListenerAction.redirect({ protocol: 'HTTPS', port: '443', permanent: true }),
    });
    // CodeDeploy routes the replacement task set here first; closed unless
    // testListenerCidr opens it.
    const testListener = alb.addListener('Test', {
      port: TEST_LISTENER_PORT,
      protocol: elbv2.ApplicationProtocol.HTTPS,
      certificates,
      sslPolicy,
      open: false,
      defaultTargetGroups: [green],
    });

    const service = new ecs.FargateService(this, 'Service', {
      cluster,
      serviceName: 'inkwell',
      taskDefinition,
      desiredCount: 2,
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      securityGroups: [serviceSg],
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      assignPublicIp: false,
      healthCheckGracePeriod: Duration.seconds(60),
      deploymentController: { type: ecs.DeploymentControllerType.CODE_DEPLOY },
    });
    service.attachToApplicationTargetGroup(blue);

    // --- Scaling: CPU, and requests per task. The ALB's per-target metric belongs to one
    // target group, and blue/green swaps them each release; the load balancer's request
    // count over the running task count is the same figure, whichever group is live.
    const scaling = service.autoScaleTaskCount({ minCapacity: 2, maxCapacity: s.maxTasks });
    scaling.scaleOnCpuUtilization('Cpu', {
      targetUtilizationPercent: 60,
      scaleInCooldown: Duration.minutes(5),
      scaleOutCooldown: Duration.minutes(1),
    });
    const scalableTarget = scaling.node.findChild('Target') as appscaling.ScalableTarget;
    new appscaling.CfnScalingPolicy(this, 'RequestsPerTaskScaling', {
      policyName: 'inkwell-requests-per-task',
      policyType: 'TargetTrackingScaling',
      scalingTargetId: scalableTarget.scalableTargetId,
      targetTrackingScalingPolicyConfiguration: {
        // Requests a minute per task; a starting point, to be set from the load benchmark.
        targetValue: 3000,
        scaleInCooldown: 300,
        scaleOutCooldown: 60,
        customizedMetricSpecification: {
          metrics: [
            {
              id: 'requests',
              returnData: false,
              metricStat: {
                stat: 'Sum',
                metric: {
                  namespace: 'AWS/ApplicationELB',
                  metricName: 'RequestCount',
                  dimensions: [{ name: 'LoadBalancer', value: alb.loadBalancerFullName }],
                },
              },
            },
            {
              id: 'tasks',
              returnData: false,
              metricStat: {
                stat: 'Average',
                metric: {
                  namespace: 'ECS/ContainerInsights',
                  metricName: 'RunningTaskCount',
                  dimensions: [
                    { name: 'ClusterName', value: cluster.clusterName },
                    { name: 'ServiceName', value: service.serviceName },
                  ],
                },
              },
            },
            { id: 'perTask', expression: 'requests / tasks', label: 'ALB requests per task', returnData: true },
          ],
        },
      },
    });

    // --- Alarms; the first three also roll a deployment back.
    const lbMetric = (metricName: string, statistic: string) => new cloudwatch.Metric({
      namespace: 'AWS/ApplicationELB',
      metricName,
      dimensionsMap: { LoadBalancer: alb.loadBalancerFullName },
      statistic,
      period: Duration.minutes(1),
    });
    const target5xx = lbMetric('HTTPCode_Target_5XX_Count', 'Sum');
    const elb5xx = lbMetric('HTTPCode_ELB_5XX_Count', 'Sum');
    const requests = lbMetric('RequestCount', 'Sum');
    const p99 = lbMetric('TargetResponseTime', 'p99');
    const errors5xx = new cloudwatch.MathExpression({
      expression: 'target5xx + elb5xx',
      usingMetrics: { target5xx, elb5xx },
      label: '5xx (targets and ALB)',
      period: Duration.minutes(1),
    });
    const alarm5xx = errors5xx.createAlarm(this, 'Alarm5xx', {
      alarmName: 'inkwell-5xx',
      alarmDescription: 'More than 20 5xx answers a minute, 2 minutes running',
      threshold: 20,
      evaluationPeriods: 2,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    const alarmLatency = p99.createAlarm(this, 'AlarmLatency', {
      alarmName: 'inkwell-p99-latency',
      alarmDescription: 'Target p99 response time above 1 s for 3 minutes',
      threshold: 1,
      evaluationPeriods: 3,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    // Shed rate. Inkwell's own counters are Prometheus metrics, and the ALB counts target
    // answers only by class (5XX), so this counts the access log's 503s on /graphql: the
    // requests shed as OVERLOADED (and DATABASE_UNAVAILABLE, which is worth an alarm too).
    const shedFilter = new logs.MetricFilter(this, 'ShedFilter', {
      logGroup: appLogs,
      filterPattern: logs.FilterPattern.literal('{ $.msg = "http request" && $.path = "/graphql" && $.status = 503 }'),
      metricNamespace: 'Inkwell',
      metricName: 'Shed',
      metricValue: '1',
      defaultValue: 0,
    });
    const shed = shedFilter.metric({ statistic: 'Sum', period: Duration.minutes(1) });
    const alarmShed = shed.createAlarm(this, 'AlarmShed', {
      alarmName: 'inkwell-shed',
      alarmDescription: 'More than 50 /graphql requests a minute answered 503 (shed or database unavailable), 2 minutes running',
      threshold: 50,
      evaluationPeriods: 2,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    const dbConnections = db.metricDatabaseConnections({ period: Duration.minutes(1), statistic: 'Maximum' });
    new cloudwatch.Alarm(this, 'AlarmDbConnections', {
      alarmName: 'inkwell-db-connections',
      alarmDescription: `Database connections above 80 % of max_connections (${maxConnections})`,
      metric: dbConnections,
      threshold: Math.floor(maxConnections * 0.8),
      evaluationPeriods: 3,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    });

    // --- Blue/green releases through CodeDeploy.
    const deployApplication = new codedeploy.EcsApplication(this, 'DeployApplication', { applicationName: 'inkwell' });
    const deploymentGroup = new codedeploy.EcsDeploymentGroup(this, 'DeploymentGroup', {
      application: deployApplication,
      deploymentGroupName: 'inkwell',
      service,
      blueGreenDeploymentConfig: {
        blueTargetGroup: blue,
        greenTargetGroup: green,
        listener: https,
        testListener,
        // The old task set stays up this long after the shift: a rollback is instant.
        terminationWaitTime: Duration.minutes(15),
      },
      deploymentConfig: codedeploy.EcsDeploymentConfig.CANARY_10PERCENT_5MINUTES,
      alarms: [alarm5xx, alarmLatency, alarmShed],
      autoRollback: { failedDeployment: true, stoppedDeployment: true, deploymentInAlarm: true },
    });

    // --- Dashboard.
    new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: 'inkwell',
      widgets: [
        [
          new cloudwatch.GraphWidget({ title: 'Requests a minute', left: [requests], width: 8 }),
          new cloudwatch.GraphWidget({ title: '5xx a minute', left: [target5xx, elb5xx], width: 8 }),
          new cloudwatch.GraphWidget({
            title: 'Target response time (s)',
            left: [lbMetric('TargetResponseTime', 'p50'), p99],
            leftAnnotations: [{ value: 1, label: 'p99 alarm' }],
            width: 8,
          }),
        ],
        [
          new cloudwatch.GraphWidget({ title: 'Shed (503 on /graphql) a minute', left: [shed], width: 8 }),
          new cloudwatch.GraphWidget({
            title: 'Tasks: CPU and memory (%)',
            left: [service.metricCpuUtilization(), service.metricMemoryUtilization()],
            width: 8,
          }),
          new cloudwatch.GraphWidget({
            title: 'Database connections',
            left: [dbConnections],
            leftAnnotations: [{ value: maxConnections, label: 'max_connections' }],
            width: 8,
          }),
        ],
        [
          new cloudwatch.GraphWidget({ title: 'Database CPU (%)', left: [db.metricCPUUtilization()], width: 8 }),
          new cloudwatch.GraphWidget({
            title: 'Redis CPU (%)',
            left: [new cloudwatch.Metric({
              namespace: 'AWS/ElastiCache',
              metricName: 'EngineCPUUtilization',
              dimensionsMap: { ReplicationGroupId: redis.ref },
            })],
            width: 8,
          }),
        ],
      ],
    });

    // Here rather than in the registry stack: its grants name this stack's roles,
    // cluster, service and deployment group, and it is first needed by a release, after
    // this stack exists.
    const deployRole = new GithubDeployRole(this, 'GithubDeploy', {
      githubRepository: s.githubRepository,
      githubOidcProviderArn: s.githubOidcProviderArn,
      repository,
      cluster,
      clusterName: 'inkwell',
      service,
      migrateDefinition,
      taskRoles: [executionRole, taskRole, migrateTaskRole],
      deploymentGroup,
    });

    // What the release steps need (deploy/aws.md), as `aws cloudformation describe-stacks`
    // shows them.
    const outputs: Record<string, string> = {
      LoadBalancerDns: alb.loadBalancerDnsName,
      ClusterName: cluster.clusterName,
      ServiceName: service.serviceName,
      MigrateTaskFamily: migrateDefinition.family,
      TaskSubnets: vpc.selectSubnets({ subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }).subnetIds.join(','),
      TaskSecurityGroup: serviceSg.securityGroupId,
      CodeDeployApplication: deployApplication.applicationName,
      DeploymentGroup: deploymentGroup.deploymentGroupName,
      UploadsBucket: uploads.bucketName,
      // AWS_ROLE_ARN of the staging and production environments (.github/workflows/deploy.yml).
      DeployRoleArn: deployRole.role.roleArn,
    };
    for (const [name, value] of Object.entries(outputs)) {
      new CfnOutput(this, `${name}Output`, { key: name, value });
    }

    this.suppress({ albSg, logsBucket, taskRole, executionRole, taskDefinition, migrateDefinition, db, redis, deploymentGroup, secrets: [signingKey, dbCredentials, databaseUrl, redisAuth, redisUrl] });
  }

  // Each cdk-nag finding left standing, with why.
  private suppress(r: {
    albSg: ec2.SecurityGroup;
    logsBucket: s3.Bucket;
    taskRole: iam.Role;
    executionRole: iam.Role;
    taskDefinition: ecs.TaskDefinition;
    migrateDefinition: ecs.TaskDefinition;
    db: rds.DatabaseInstance;
    redis: elasticache.CfnReplicationGroup;
    deploymentGroup: codedeploy.EcsDeploymentGroup;
    secrets: secretsmanager.Secret[];
  }): void {
    NagSuppressions.addResourceSuppressions(r.albSg, [
      { id: 'AwsSolutions-EC23', reason: 'The public ALB: 443, and 80 that only redirects to it, are open to the internet by design.' },
    ]);
    NagSuppressions.addResourceSuppressions(r.taskRole, [
      {
        id: 'AwsSolutions-IAM5',
        reason: 'Uploads have random keys under incoming/ (client PUTs) and assets/ (verified copies); the role may use objects under these two prefixes of this bucket only.',
        appliesTo: [
          { regex: '/^Resource::<Uploads[0-9A-F]+\\.Arn>\\/(incoming|assets)\\/\\*$/' },
        ],
      },
    ], true);
    NagSuppressions.addResourceSuppressions(r.executionRole, [
      {
        id: 'AwsSolutions-IAM5',
        reason: 'ecr:GetAuthorizationToken has no resource-level permissions; it must be granted on *. Image pulls themselves are scoped to the repository.',
        appliesTo: ['Resource::*'],
      },
    ], true);
    NagSuppressions.addResourceSuppressions(r.deploymentGroup, [
      {
        id: 'AwsSolutions-IAM4',
        reason: 'AWSCodeDeployRoleForECS is the policy CodeDeploy documents for ECS blue/green: it shifts listeners and task sets of the services it is given.',
        appliesTo: ['Policy::arn:<AWS::Partition>:iam::aws:policy/AWSCodeDeployRoleForECS'],
      },
    ], true);
    for (const td of [r.taskDefinition, r.migrateDefinition]) {
      NagSuppressions.addResourceSuppressions(td, [
        { id: 'AwsSolutions-ECS2', reason: 'The environment holds non-secret settings only; the database URL, signing key and Redis URL come from Secrets Manager as ECS secrets.' },
      ]);
    }
    NagSuppressions.addResourceSuppressions(r.db, [
      { id: 'AwsSolutions-RDS11', reason: 'Port 5432 is reachable from the tasks security group only; a non-default port hides nothing from them.' },
    ], true);
    NagSuppressions.addResourceSuppressions(r.redis, [
      { id: 'AwsSolutions-AEC5', reason: 'Port 6379 is reachable from the tasks security group only, over TLS with an AUTH token; a non-default port hides nothing from them.' },
    ]);
    for (const secret of r.secrets) {
      NagSuppressions.addResourceSuppressions(secret, [
        { id: 'AwsSolutions-SMG4', reason: 'No automatic rotation: the URLs are composed at deploy time from the credentials, and the signing key rotates by hand with INKWELL_PREVIOUS_SIGNING_KEYS (README.md), so that sessions survive it.' },
      ]);
    }
  }
}
