// Offline checks of the synthesized templates: no AWS account, no network, no lookups.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { App } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { buildApp } from '../lib/app';
import {
  DB_CONNS_PER_TASK,
  DEREGISTRATION_DELAY_SECONDS,
  SHUTDOWN_DELAY_SECONDS,
  SHUTDOWN_GRACE_SECONDS,
  STOP_TIMEOUT_SECONDS,
} from '../lib/inkwell-stack';
import { GITHUB_ENVIRONMENTS } from '../lib/github-deploy';

// The same context `cdk synth` uses (cdk.json), and nothing from the environment.
const cdkJson = JSON.parse(readFileSync(join(__dirname, '..', '..', 'cdk.json'), 'utf8'));
const app = new App({ context: cdkJson.context });
const { registry, inkwell } = buildApp(app);
const t = Template.fromStack(inkwell);
const reg = Template.fromStack(registry);

type Resource = { Type: string; Properties: Record<string, any>; Metadata?: Record<string, any> };
const all = (type: string): Record<string, Resource> => t.findResources(type) as Record<string, Resource>;
const only = (type: string): [string, Resource] => {
  const found = Object.entries(all(type));
  assert.equal(found.length, 1, `one ${type}`);
  return found[0];
};
const logicalId = (type: string, props: object): string => {
  const ids = Object.keys(t.findResources(type, { Properties: props }));
  assert.equal(ids.length, 1, `one ${type} with ${JSON.stringify(props)}`);
  return ids[0];
};
const sgId = (description: string) => logicalId('AWS::EC2::SecurityGroup', { GroupDescription: description });
const albSg = sgId('Inkwell ALB: HTTPS and HTTP (redirected) from the internet');
const serviceSg = sgId('Inkwell tasks (service and migrations): port 8080 from the ALB only');
const dbSg = sgId('Inkwell PostgreSQL: 5432 from the tasks only');
const redisSg = sgId('Inkwell Redis: 6379 from the tasks only');
const actionsOf = (stmt: any): string[] => [stmt.Action].flat();
const statementsOfRole = (roleId: string): any[] => Object.values(all('AWS::IAM::Policy'))
  .filter((p) => p.Properties.Roles.some((r: any) => r.Ref === roleId))
  .flatMap((p) => p.Properties.PolicyDocument.Statement);
const roleId = (description: string) => logicalId('AWS::IAM::Role', { Description: description });
const container = (family: string) =>
  only2('AWS::ECS::TaskDefinition', { Family: family }).Properties.ContainerDefinitions[0];
const only2 = (type: string, props: object): Resource => all(type)[logicalId(type, props)];

describe('synth', () => {
  test('needs no lookups (no credentials, no network)', () => {
    const assembly = app.synth();
    assert.equal(assembly.manifest.missing, undefined);
    assert.equal(inkwell.account, '123456789012');
    assert.equal(inkwell.region, 'us-east-1');
  });
});

describe('cdk-nag AwsSolutions', () => {
  for (const stack of [registry, inkwell]) {
    test(`${stack.stackName}: no unsuppressed errors or warnings`, () => {
      const a = Annotations.fromStack(stack);
      const nag = Match.stringLikeRegexp('AwsSolutions-.*');
      const found = [...a.findError('*', nag), ...a.findWarning('*', nag)]
        .map((m) => `${m.id}: ${String(m.entry.data).split(':')[0]}`);
      assert.deepEqual(found, []);
    });
  }
  test('no other warning or error either (the CDK\'s own)', () => {
    for (const stack of [registry, inkwell]) {
      const a = Annotations.fromStack(stack);
      const found = [...a.findError('*', Match.anyValue()), ...a.findWarning('*', Match.anyValue())]
        .map((m) => `${m.id}: ${String(m.entry.data).slice(0, 200)}`);
      assert.deepEqual(found, []);
    }
  });
  test('every suppression gives a specific reason', () => {
    const entries = Object.values(t.toJSON().Resources as Record<string, Resource>)
      .flatMap((r) => r.Metadata?.cdk_nag?.rules_to_suppress ?? []);
    assert.ok(entries.length > 0);
    for (const e of entries) {
      assert.match(e.id, /^AwsSolutions-/);
      assert.ok(typeof e.reason === 'string' && e.reason.length >= 60, `${e.id}: reason too short: ${e.reason}`);
    }
  });
});

describe('registry', () => {
  test('ECR repository: immutable tags, scan on push', () => {
    reg.hasResourceProperties('AWS::ECR::Repository', {
      RepositoryName: 'inkwell',
      ImageTagMutability: 'IMMUTABLE',
      ImageScanningConfiguration: { ScanOnPush: true },
    });
  });
});

describe('network', () => {
  test('VPC over 2 AZs, a NAT gateway in each', () => {
    t.resourceCountIs('AWS::EC2::VPC', 1);
    const azs = new Set(Object.values(all('AWS::EC2::Subnet')).map((s) => s.Properties.AvailabilityZone));
    assert.deepEqual([...azs].sort(), ['us-east-1a', 'us-east-1b']);
    t.resourceCountIs('AWS::EC2::NatGateway', 2);
    t.resourceCountIs('AWS::EC2::FlowLog', 1);
  });

  test('ALB security group: 80 and 443 from anywhere, nothing else', () => {
    const sg = all('AWS::EC2::SecurityGroup')[albSg].Properties;
    const ingress = sg.SecurityGroupIngress.map((r: any) => [r.CidrIp, r.FromPort, r.ToPort]);
    assert.deepEqual(ingress.sort(), [['0.0.0.0/0', 443, 443], ['0.0.0.0/0', 80, 80]]);
    const standalone = Object.values(all('AWS::EC2::SecurityGroupIngress'))
      .filter((r) => r.Properties.GroupId['Fn::GetAtt']?.[0] === albSg);
    assert.deepEqual(standalone, []);
    // Out only to the tasks.
    const egress = Object.values(all('AWS::EC2::SecurityGroupEgress')).map((r) => r.Properties)
      .filter((p) => p.GroupId['Fn::GetAtt'][0] === albSg);
    assert.deepEqual(egress.map((p) => [p.DestinationSecurityGroupId['Fn::GetAtt'][0], p.FromPort, p.ToPort]),
      [[serviceSg, 8080, 8080]]);
  });

  // Each rule that lets something in, as [source security group, from port, to port].
  const ingressOf = (group: string) => {
    const inline = all('AWS::EC2::SecurityGroup')[group].Properties.SecurityGroupIngress ?? [];
    const standalone = Object.values(all('AWS::EC2::SecurityGroupIngress')).map((r) => r.Properties)
      .filter((p) => p.GroupId['Fn::GetAtt'][0] === group);
    return [...inline, ...standalone].map((p: any) =>
      [p.SourceSecurityGroupId?.['Fn::GetAtt']?.[0] ?? p.CidrIp ?? p.CidrIpv6, p.FromPort, p.ToPort]);
  };

  test('tasks: 8080 from the ALB only', () => {
    assert.deepEqual(ingressOf(serviceSg), [[albSg, 8080, 8080]]);
  });
  test('database: 5432 from the tasks only', () => {
    assert.deepEqual(ingressOf(dbSg), [[serviceSg, 5432, 5432]]);
  });
  test('Redis: 6379 from the tasks only', () => {
    assert.deepEqual(ingressOf(redisSg), [[serviceSg, 6379, 6379]]);
  });
});

describe('load balancer', () => {
  test('internet-facing, invalid headers dropped, idle timeout above the WebSocket ping', () => {
    const [, lb] = only('AWS::ElasticLoadBalancingV2::LoadBalancer');
    assert.equal(lb.Properties.Scheme, 'internet-facing');
    const attrs = Object.fromEntries(lb.Properties.LoadBalancerAttributes.map((a: any) => [a.Key, a.Value]));
    assert.equal(attrs['routing.http.drop_invalid_header_fields.enabled'], 'true');
    assert.equal(attrs['idle_timeout.timeout_seconds'], '120');
    assert.equal(attrs['access_logs.s3.enabled'], 'true');
  });

  test('HTTPS on 443 with the certificate; 80 redirects to it; a test listener', () => {
    t.resourceCountIs('AWS::ElasticLoadBalancingV2::Listener', 3);
    t.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 443,
      Protocol: 'HTTPS',
      Certificates: [{ CertificateArn: cdkJson.context.certificateArn }],
    });
    t.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 80,
      Protocol: 'HTTP',
      DefaultActions: [{ Type: 'redirect', RedirectConfig: Match.objectLike({ Protocol: 'HTTPS', Port: '443', StatusCode: 'HTTP_301' }) }],
    });
    t.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', { Port: 8443, Protocol: 'HTTPS' });
  });

  test('two target groups checking /readyz, deregistration delay above INKWELL_SHUTDOWN_DELAY', () => {
    const groups = Object.values(all('AWS::ElasticLoadBalancingV2::TargetGroup')).map((g) => g.Properties);
    assert.equal(groups.length, 2);
    for (const g of groups) {
      assert.equal(g.TargetType, 'ip');
      assert.equal(g.Port, 8080);
      assert.equal(g.HealthCheckPath, '/readyz');
      assert.deepEqual(g.Matcher, { HttpCode: '200' });
      const delay = g.TargetGroupAttributes.find((a: any) => a.Key === 'deregistration_delay.timeout_seconds');
      assert.equal(Number(delay.Value), DEREGISTRATION_DELAY_SECONDS);
    }
    const env = container('inkwell').Environment;
    const shutdownDelay = env.find((e: any) => e.Name === 'INKWELL_SHUTDOWN_DELAY').Value;
    assert.ok(DEREGISTRATION_DELAY_SECONDS > parseInt(shutdownDelay, 10));
  });
});

describe('service', () => {
  test('Fargate, ARM64, at least 2 tasks, blue/green by CodeDeploy', () => {
    t.hasResourceProperties('AWS::ECS::Service', {
      LaunchType: 'FARGATE',
      DesiredCount: 2,
      DeploymentController: { Type: 'CODE_DEPLOY' },
      NetworkConfiguration: { AwsvpcConfiguration: Match.objectLike({ AssignPublicIp: 'DISABLED' }) },
    });
    t.hasResourceProperties('AWS::ECS::TaskDefinition', {
      Family: 'inkwell',
      RuntimePlatform: { CpuArchitecture: 'ARM64', OperatingSystemFamily: 'LINUX' },
      RequiresCompatibilities: ['FARGATE'],
    });
  });

  test('container: serve, non-root, read-only, liveness health check, timings that nest', () => {
    const c = container('inkwell');
    assert.deepEqual(c.Command, ['serve']);
    assert.equal(c.User, '65532');
    assert.equal(c.ReadonlyRootFilesystem, true);
    assert.deepEqual(c.HealthCheck.Command, ['CMD', '/inkwell', 'healthcheck']);
    assert.equal(c.StopTimeout, STOP_TIMEOUT_SECONDS);
    assert.ok(SHUTDOWN_DELAY_SECONDS + SHUTDOWN_GRACE_SECONDS < STOP_TIMEOUT_SECONDS);
    const env = Object.fromEntries(c.Environment.map((e: any) => [e.Name, e.Value]));
    assert.equal(env.INKWELL_ENV, 'production');
    assert.equal(env.INKWELL_MIGRATE_ON_START, 'false');
    assert.equal(env.INKWELL_STORAGE, 's3');
    assert.deepEqual(env.INKWELL_S3_BUCKET, { Ref: logicalId('AWS::S3::Bucket', { LifecycleConfiguration: Match.objectLike({ Rules: Match.arrayWith([Match.objectLike({ Prefix: 'incoming/' })]) }) }) });
    assert.equal(env.INKWELL_S3_REGION, 'us-east-1');
    assert.equal(env.INKWELL_SHUTDOWN_GRACE, `${SHUTDOWN_GRACE_SECONDS}s`);
    assert.equal(env.INKWELL_DB_MAX_CONNS, String(DB_CONNS_PER_TASK));
    // The ALB's X-Forwarded-For is believed: it lives in the VPC.
    assert.deepEqual(env.INKWELL_TRUSTED_PROXIES, { 'Fn::GetAtt': [only('AWS::EC2::VPC')[0], 'CidrBlock'] });
    // Secrets never in the environment.
    for (const name of ['DATABASE_URL', 'INKWELL_SIGNING_KEY', 'REDIS_URL']) {
      assert.equal(env[name], undefined, name);
    }
    assert.deepEqual(c.Secrets.map((x: any) => x.Name).sort(), ['DATABASE_URL', 'INKWELL_SIGNING_KEY', 'REDIS_URL']);
  });

  test('migrations: a one-off task definition running `inkwell migrate`', () => {
    const c = container('inkwell-migrate');
    assert.deepEqual(c.Command, ['migrate']);
    assert.deepEqual(c.Secrets.map((x: any) => x.Name).sort(), ['DATABASE_URL', 'INKWELL_SIGNING_KEY']);
    assert.deepEqual(c.PortMappings ?? [], []);
  });

  test('autoscaling: 2 or more tasks, on CPU and on requests per task', () => {
    t.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', {
      MinCapacity: 2,
      MaxCapacity: Number(cdkJson.context.maxTasks ?? 8),
      ScalableDimension: 'ecs:service:DesiredCount',
    });
    t.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
      TargetTrackingScalingPolicyConfiguration: Match.objectLike({
        PredefinedMetricSpecification: { PredefinedMetricType: 'ECSServiceAverageCPUUtilization' },
      }),
    });
    t.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
      TargetTrackingScalingPolicyConfiguration: Match.objectLike({
        CustomizedMetricSpecification: {
          Metrics: Match.arrayWith([
            Match.objectLike({ Id: 'requests', MetricStat: Match.objectLike({ Metric: Match.objectLike({ MetricName: 'RequestCount' }) }) }),
            Match.objectLike({ Id: 'perTask', ReturnData: true }),
          ]),
        },
      }),
    });
  });

  test('CodeDeploy: two target groups, test listener, rollback on failure and on alarms', () => {
    const [, group] = only('AWS::CodeDeploy::DeploymentGroup');
    const p = group.Properties;
    assert.deepEqual(p.DeploymentStyle, { DeploymentOption: 'WITH_TRAFFIC_CONTROL', DeploymentType: 'BLUE_GREEN' });
    assert.equal(p.AutoRollbackConfiguration.Enabled, true);
    for (const event of ['DEPLOYMENT_FAILURE', 'DEPLOYMENT_STOP_ON_ALARM']) {
      assert.ok(p.AutoRollbackConfiguration.Events.includes(event), event);
    }
    assert.equal(p.AlarmConfiguration.Enabled, true);
    assert.equal(p.AlarmConfiguration.Alarms.length, 3);
    const info = p.LoadBalancerInfo.TargetGroupPairInfoList[0];
    assert.equal(info.TargetGroups.length, 2);
    assert.equal(info.ProdTrafficRoute.ListenerArns.length, 1);
    assert.equal(info.TestTrafficRoute.ListenerArns.length, 1);
  });
});

describe('data', () => {
  test('PostgreSQL 15, Multi-AZ, encrypted, backed up, protected, private', () => {
    const [, db] = only('AWS::RDS::DBInstance');
    const p = db.Properties;
    assert.equal(p.Engine, 'postgres');
    assert.match(p.EngineVersion, /^15(\.|$)/);
    assert.equal(p.MultiAZ, true);
    assert.equal(p.StorageEncrypted, true);
    assert.equal(p.PubliclyAccessible, false);
    assert.equal(p.DeletionProtection, true);
    assert.ok(p.BackupRetentionPeriod >= 7);
    assert.deepEqual(p.VPCSecurityGroups, [{ 'Fn::GetAtt': [dbSg, 'GroupId'] }]);
    assert.equal(db.Properties.MasterUserPassword['Fn::Join'][1].some((x: any) => typeof x === 'string' && x.includes('{{resolve:secretsmanager:')), true);
  });

  test('parameter group: TLS only, slow statements logged, connections for blue/green', () => {
    const [, pg] = only('AWS::RDS::DBParameterGroup');
    const params = pg.Properties.Parameters;
    assert.equal(pg.Properties.Family, 'postgres15');
    assert.equal(params['rds.force_ssl'], '1');
    assert.ok(Number(params.log_min_duration_statement) > 0);
    const maxTasks = Number(cdkJson.context.maxTasks ?? 8);
    assert.ok(Number(params.max_connections) > 2 * maxTasks * DB_CONNS_PER_TASK);
  });

  test('Redis: encrypted in transit and at rest, AUTH from Secrets Manager, Multi-AZ', () => {
    const [, rg] = only('AWS::ElastiCache::ReplicationGroup');
    const p = rg.Properties;
    assert.equal(p.TransitEncryptionEnabled, true);
    assert.equal(p.AtRestEncryptionEnabled, true);
    assert.equal(p.MultiAZEnabled, true);
    assert.match(JSON.stringify(p.AuthToken), /\{\{resolve:secretsmanager:/);
    assert.deepEqual(p.SecurityGroupIds, [{ 'Fn::GetAtt': [redisSg, 'GroupId'] }]);
  });

  test('uploads bucket: private, TLS only, lifecycle for abandoned uploads', () => {
    t.hasResourceProperties('AWS::S3::Bucket', {
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true,
      },
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 }, Status: 'Enabled' }),
          Match.objectLike({ Prefix: 'incoming/', ExpirationInDays: 7, Status: 'Enabled' }),
        ]),
      },
    });
    for (const [, policy] of Object.entries(all('AWS::S3::BucketPolicy'))) {
      assert.ok(policy.Properties.PolicyDocument.Statement.some((s: any) =>
        s.Effect === 'Deny' && s.Condition?.Bool?.['aws:SecureTransport'] === 'false'), 'TLS enforced');
    }
  });

  test('only the task role reads or writes upload objects', () => {
    const taskRole = roleId('Inkwell tasks: the uploads bucket objects, nothing else');
    t.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({
          Effect: 'Deny',
          Action: ['s3:GetObject', 's3:PutObject'],
          Condition: { ArnNotEquals: { 'aws:PrincipalArn': { 'Fn::GetAtt': [taskRole, 'Arn'] } } },
        })]),
      },
    });
  });

  test('secrets: signing key, database URL, Redis URL in Secrets Manager', () => {
    for (const name of ['inkwell/signing-key', 'inkwell/database-url', 'inkwell/redis-url']) {
      t.hasResourceProperties('AWS::SecretsManager::Secret', { Name: name });
    }
    // The URL is assembled by CloudFormation from the credentials secret: no password in
    // the template.
    const url = only2('AWS::SecretsManager::Secret', { Name: 'inkwell/database-url' }).Properties.SecretString;
    assert.match(JSON.stringify(url), /postgres:\/\/inkwell:\{\{resolve:secretsmanager:/);
    assert.match(JSON.stringify(url), /sslmode=require/);
  });
});

describe('IAM: least privilege', () => {
  const taskRole = roleId('Inkwell tasks: the uploads bucket objects, nothing else');
  const executionRole = roleId('Inkwell task execution: ECR pull, logs, the task secrets');
  const migrateRole = roleId('Inkwell migrations: no AWS permissions');

  test('the Inkwell roles have no managed policies', () => {
    for (const id of [taskRole, executionRole, migrateRole]) {
      assert.equal(all('AWS::IAM::Role')[id].Properties.ManagedPolicyArns, undefined, id);
    }
  });

  test('task role: object actions on the uploads bucket, nothing else', () => {
    const stmts = statementsOfRole(taskRole);
    assert.ok(stmts.length > 0);
    for (const s of stmts) {
      assert.equal(s.Effect, 'Allow');
      for (const a of actionsOf(s)) {
        assert.match(a, /^s3:(GetObject|PutObject|DeleteObject|ListBucket)$/);
      }
      for (const r of [s.Resource].flat()) {
        assert.notEqual(r, '*');
        assert.match(JSON.stringify(r), /Uploads[0-9A-F]+/);
      }
    }
  });

  test('execution role: ECR pull, its log group, the task secrets', () => {
    const secretIds = ['inkwell/signing-key', 'inkwell/database-url', 'inkwell/redis-url']
      .map((name) => logicalId('AWS::SecretsManager::Secret', { Name: name }));
    const appLogs = logicalId('AWS::Logs::LogGroup', { LogGroupName: '/ecs/inkwell' });
    const seenSecrets = new Set<string>();
    for (const s of statementsOfRole(executionRole)) {
      const actions = actionsOf(s);
      for (const a of actions) {
        assert.ok(!a.includes('*'), `wildcard action ${a}`);
      }
      const service = actions[0].split(':')[0];
      assert.ok(actions.every((a) => a.startsWith(`${service}:`)));
      if (s.Resource === '*') {
        // The only action AWS grants on * alone.
        assert.deepEqual(actions, ['ecr:GetAuthorizationToken']);
        continue;
      }
      switch (service) {
        case 'ecr':
          assert.match(JSON.stringify(s.Resource), /:ecr:us-east-1:123456789012:repository\/inkwell"/);
          break;
        case 'logs':
          assert.deepEqual(s.Resource, { 'Fn::GetAtt': [appLogs, 'Arn'] });
          break;
        case 'secretsmanager':
          assert.ok(secretIds.includes(s.Resource.Ref), JSON.stringify(s.Resource));
          seenSecrets.add(s.Resource.Ref);
          break;
        default:
          assert.fail(`unexpected service ${service}`);
      }
    }
    assert.equal(seenSecrets.size, secretIds.length);
  });

  test('migration task role: no permissions', () => {
    assert.deepEqual(statementsOfRole(migrateRole), []);
  });
});

describe('GitHub deploy role', () => {
  const repo = cdkJson.context.githubRepository as string;
  const deployRoleId = roleId(`GitHub Actions deployments of ${repo} (environments staging, production)`);
  const deployRole = all('AWS::IAM::Role')[deployRoleId].Properties;
  const stmts = statementsOfRole(deployRoleId);
  const stmt = (sid: string) => {
    const found = stmts.filter((x) => x.Sid === sid);
    assert.equal(found.length, 1, sid);
    return found[0];
  };
  const taskRoles = [
    'Inkwell task execution: ECR pull, logs, the task secrets',
    'Inkwell tasks: the uploads bucket objects, nothing else',
    'Inkwell migrations: no AWS permissions',
  ].map(roleId);

  test('the OIDC provider of GitHub Actions, for the STS audience', () => {
    const [providerId, provider] = only('AWS::IAM::OIDCProvider');
    assert.equal(provider.Properties.Url, 'https://token.actions.githubusercontent.com');
    assert.deepEqual(provider.Properties.ClientIdList, ['sts.amazonaws.com']);
    const [trust] = deployRole.AssumeRolePolicyDocument.Statement;
    assert.deepEqual(trust.Principal, { Federated: { Ref: providerId } });
  });

  test('an existing provider is imported, not created', () => {
    const arn = 'arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com';
    const other = new App({ context: { ...cdkJson.context, githubOidcProviderArn: arn } });
    const ot = Template.fromStack(buildApp(other).inkwell);
    ot.resourceCountIs('AWS::IAM::OIDCProvider', 0);
    ot.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: { Statement: [Match.objectLike({ Principal: { Federated: arn } })] },
    });
  });

  test('the repository is required and exact', () => {
    for (const bad of [undefined, 'inkwell', 'example-org/*', 'example-org/ink*']) {
      const ctx: Record<string, unknown> = { ...cdkJson.context, githubRepository: bad };
      assert.throws(() => buildApp(new App({ context: ctx })), /githubRepository/, String(bad));
    }
  });

  test('trust: web identity from the provider, audience STS, the two environments of the repository only', () => {
    const trust = deployRole.AssumeRolePolicyDocument.Statement;
    assert.equal(trust.length, 1);
    assert.equal(trust[0].Effect, 'Allow');
    assert.equal(trust[0].Action, 'sts:AssumeRoleWithWebIdentity');
    assert.deepEqual(Object.keys(trust[0].Condition), ['StringEquals']);
    const cond = trust[0].Condition.StringEquals;
    assert.equal(cond['token.actions.githubusercontent.com:aud'], 'sts.amazonaws.com');
    const subs = [cond['token.actions.githubusercontent.com:sub']].flat();
    assert.deepEqual(GITHUB_ENVIRONMENTS, ['staging', 'production']);
    assert.deepEqual(subs, [`repo:${repo}:environment:staging`, `repo:${repo}:environment:production`]);
    for (const sub of subs) {
      const [, repository] = /^repo:([^:]+):environment:[a-z]+$/.exec(sub) ?? [];
      assert.equal(repository, repo, sub);
      assert.ok(!sub.includes('*') && !sub.includes('?'), sub);
    }
  });

  test('permissions: what deploy-ecs.yml does, nothing more', () => {
    const actions = stmts.flatMap(actionsOf).sort();
    assert.deepEqual(actions, [
      'codedeploy:CreateDeployment',
      'codedeploy:GetDeployment',
      'codedeploy:GetDeploymentConfig',
      'codedeploy:GetDeploymentGroup',
      'codedeploy:RegisterApplicationRevision',
      'ecr:BatchCheckLayerAvailability',
      'ecr:BatchGetImage',
      'ecr:CompleteLayerUpload',
      'ecr:DescribeImages',
      'ecr:DescribeRepositories',
      'ecr:GetAuthorizationToken',
      'ecr:InitiateLayerUpload',
      'ecr:PutImage',
      'ecr:UploadLayerPart',
      'ecs:DescribeServices',
      'ecs:DescribeTaskDefinition',
      'ecs:DescribeTasks',
      'ecs:RegisterTaskDefinition',
      'ecs:RunTask',
      'iam:PassRole',
    ]);
    for (const x of stmts) {
      assert.equal(x.Effect, 'Allow');
      for (const a of actionsOf(x)) {
        assert.ok(!a.includes('*'), `wildcard action ${a}`);
      }
    }
    assert.equal(all('AWS::IAM::Role')[deployRoleId].Properties.ManagedPolicyArns, undefined);
  });

  test('Resource "*" only for the actions AWS grants on nothing narrower', () => {
    const onStar = stmts.filter((x) => [x.Resource].flat().includes('*'));
    assert.deepEqual(onStar.flatMap(actionsOf).sort(),
      ['ecr:GetAuthorizationToken', 'ecs:DescribeTaskDefinition', 'ecs:RegisterTaskDefinition']);
    for (const x of onStar) {
      assert.deepEqual([x.Resource].flat(), ['*']);
    }
  });

  test('resources: this stack\'s repository, migration family, cluster, service and deployment', () => {
    const cluster = logicalId('AWS::ECS::Cluster', { ClusterName: 'inkwell' });
    const json = (sid: string) => JSON.stringify(stmt(sid).Resource);
    assert.match(json('EcrPush'), /:ecr:us-east-1:123456789012:repository\/inkwell"/);
    assert.match(json('RunMigrations'), /:ecs:us-east-1:123456789012:task-definition\/inkwell-migrate:\*"/);
    assert.deepEqual(stmt('RunMigrations').Condition, { ArnEquals: { 'ecs:cluster': { 'Fn::GetAtt': [cluster, 'Arn'] } } });
    assert.match(json('WatchMigrations'), /:ecs:us-east-1:123456789012:task\/inkwell\/\*"/);
    assert.deepEqual(stmt('DescribeService').Resource, { Ref: only('AWS::ECS::Service')[0] });
    const app = only('AWS::CodeDeploy::Application')[0];
    const group = only('AWS::CodeDeploy::DeploymentGroup')[0];
    assert.match(json('BlueGreenDeployment'), new RegExp(`:deploymentgroup:",\\{"Ref":"${app}"\\},"/",\\{"Ref":"${group}"\\}`));
    assert.match(json('DeploymentRevision'), new RegExp(`:application:",\\{"Ref":"${app}"\\}\\]`));
    assert.match(json('DeploymentConfig'), /:deploymentconfig:CodeDeployDefault\.ECSCanary10Percent5Minutes"/);
  });

  test('iam:PassRole: the task definitions\' roles, to ECS tasks only', () => {
    const pass = stmts.filter((x) => actionsOf(x).includes('iam:PassRole'));
    assert.equal(pass.length, 1);
    assert.deepEqual(actionsOf(pass[0]), ['iam:PassRole']);
    assert.deepEqual(pass[0].Resource.map((r: any) => r['Fn::GetAtt'][0]).sort(), [...taskRoles].sort());
    assert.deepEqual(pass[0].Condition, { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } });
  });

  test('the role\'s ARN is an output', () => {
    t.hasOutput('DeployRoleArn', { Value: { 'Fn::GetAtt': [deployRoleId, 'Arn'] } });
  });
});

describe('outputs', () => {
  test('what the release steps read from the stacks', () => {
    const names = Object.keys(t.findOutputs('*'));
    for (const name of ['LoadBalancerDns', 'ClusterName', 'ServiceName', 'MigrateTaskFamily', 'TaskSubnets',
      'TaskSecurityGroup', 'CodeDeployApplication', 'DeploymentGroup', 'UploadsBucket', 'DeployRoleArn']) {
      assert.ok(names.includes(name), name);
    }
    reg.hasOutput('RepositoryUri', {});
  });
});

describe('monitoring', () => {
  test('alarms: 5xx, p99 latency, shed rate, database connections', () => {
    for (const name of ['inkwell-5xx', 'inkwell-p99-latency', 'inkwell-shed', 'inkwell-db-connections']) {
      t.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: name });
    }
    t.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: 'inkwell-p99-latency', ExtendedStatistic: 'p99' });
    t.hasResourceProperties('AWS::Logs::MetricFilter', {
      FilterPattern: Match.stringLikeRegexp('status = 503'),
      MetricTransformations: [Match.objectLike({ MetricNamespace: 'Inkwell', MetricName: 'Shed' })],
    });
    t.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: 'inkwell-db-connections', MetricName: 'DatabaseConnections' });
  });

  test('dashboard', () => {
    t.hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: 'inkwell' });
  });
});
