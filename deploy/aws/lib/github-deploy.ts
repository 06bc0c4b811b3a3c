import { ArnFormat, Stack } from 'aws-cdk-lib';
import * as codedeploy from 'aws-cdk-lib/aws-codedeploy';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';

export const GITHUB_OIDC_HOST = 'token.actions.githubusercontent.com';
export const GITHUB_OIDC_AUDIENCE = 'sts.amazonaws.com';
// The GitHub environments of .github/workflows/deploy.yml; only their jobs get the role.
export const GITHUB_ENVIRONMENTS = ['staging', 'production'];

export interface GithubDeployRoleProps {
  // "owner/name", exactly: it becomes part of the token's subject.
  githubRepository: string;
  // An account has one provider per issuer URL; when another stack made it, import it.
  githubOidcProviderArn?: string;
  repository: ecr.IRepository;
  cluster: ecs.ICluster;
  // The cluster's name as written, for task ARNs (clusterName is a token).
  clusterName: string;
  service: ecs.BaseService;
  migrateDefinition: ecs.TaskDefinition;
  // The roles the task definitions name, which registering and running them passes.
  taskRoles: iam.IRole[];
  deploymentGroup: codedeploy.IEcsDeploymentGroup;
}

// The role .github/workflows/deploy-ecs.yml assumes through GitHub's OIDC provider: no
// AWS keys are stored in GitHub. It may do what that workflow does, on this stack's
// resources, and nothing else.
export class GithubDeployRole extends Construct {
  readonly role: iam.Role;
  readonly providerArn: string;

  constructor(scope: Construct, id: string, props: GithubDeployRoleProps) {
    super(scope, id);
    if (!/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/.test(props.githubRepository)) {
      throw new Error(`githubRepository must be "owner/name", got '${props.githubRepository}'`);
    }
    const stack = Stack.of(this);

    this.providerArn = props.githubOidcProviderArn
      ?? new iam.OidcProviderNative(this, 'Provider', {
        url: `https://${GITHUB_OIDC_HOST}`,
        clientIds: [GITHUB_OIDC_AUDIENCE],
      }).oidcProviderArn;

    this.role = new iam.Role(this, 'Role', {
      description: `GitHub Actions deployments of ${props.githubRepository} (environments ${GITHUB_ENVIRONMENTS.join(', ')})`,
      // StringEquals, not StringLike: the subjects are exact, so no wildcard can widen them.
      assumedBy: new iam.WebIdentityPrincipal(this.providerArn, {
        StringEquals: {
          [`${GITHUB_OIDC_HOST}:aud`]: GITHUB_OIDC_AUDIENCE,
          [`${GITHUB_OIDC_HOST}:sub`]: GITHUB_ENVIRONMENTS.map((e) => `repo:${props.githubRepository}:environment:${e}`),
        },
      }),
    });

    const add = (sid: string, actions: string[], resources: string[], conditions?: Record<string, unknown>) =>
      this.role.addToPolicy(new iam.PolicyStatement({ sid, actions, resources, conditions }));

    // The image copy: `aws ecr get-login-password`, then `docker buildx imagetools create`
    // pushing to the one repository, and describe-repositories/-images around it.
    add('EcrLogin', ['ecr:GetAuthorizationToken'], ['*']);
    add('EcrPush', [
      'ecr:DescribeRepositories',
      'ecr:DescribeImages',
      'ecr:BatchGetImage',
      'ecr:BatchCheckLayerAvailability',
      'ecr:InitiateLayerUpload',
      'ecr:UploadLayerPart',
      'ecr:CompleteLayerUpload',
      'ecr:PutImage',
    ], [props.repository.repositoryArn]);

    // New revisions of both families (the migration step and the deploy action), read by
    // describe-task-definition and the render action. AWS has no resource-level
    // permissions for these two actions: the resource must be *.
    add('TaskDefinitions', ['ecs:RegisterTaskDefinition', 'ecs:DescribeTaskDefinition'], ['*']);
    // The migration task: any revision of its family, in this cluster only.
    add('RunMigrations', ['ecs:RunTask'], [
      stack.formatArn({
        service: 'ecs',
        resource: 'task-definition',
        resourceName: `${props.migrateDefinition.family}:*`,
        arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
      }),
    ], { ArnEquals: { 'ecs:cluster': props.cluster.clusterArn } });
    // `aws ecs wait tasks-stopped` and the exit code: task ids are random, the cluster is not.
    add('WatchMigrations', ['ecs:DescribeTasks'], [
      stack.formatArn({
        service: 'ecs',
        resource: 'task',
        resourceName: `${props.clusterName}/*`,
        arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
      }),
    ]);
    add('PassTaskRoles', ['iam:PassRole'], props.taskRoles.map((r) => r.roleArn),
      { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } });

    // amazon-ecs-deploy-task-definition with the CODE_DEPLOY controller: it reads the
    // service and the deployment group, creates the deployment from the appspec, and
    // waits for it.
    add('DescribeService', ['ecs:DescribeServices'], [props.service.serviceArn]);
    add('BlueGreenDeployment', [
      'codedeploy:GetDeploymentGroup',
      'codedeploy:CreateDeployment',
      'codedeploy:GetDeployment',
    ], [props.deploymentGroup.deploymentGroupArn]);
    add('DeploymentRevision', ['codedeploy:RegisterApplicationRevision'], [props.deploymentGroup.application.applicationArn]);
    add('DeploymentConfig', ['codedeploy:GetDeploymentConfig'], [props.deploymentGroup.deploymentConfig.deploymentConfigArn]);

    NagSuppressions.addResourceSuppressions(this.role, [
      {
        id: 'AwsSolutions-IAM5',
        reason: 'ecr:GetAuthorizationToken, ecs:RegisterTaskDefinition and ecs:DescribeTaskDefinition have no resource-level permissions in IAM; AWS requires * for them. Every other statement names this stack\'s resources.',
        appliesTo: ['Resource::*'],
      },
      {
        id: 'AwsSolutions-IAM5',
        reason: 'Each release registers a new revision of the migration family, so RunTask names the family with any revision; the ecs:cluster condition keeps it to this cluster.',
        appliesTo: [{ regex: `/^Resource::arn:<AWS::Partition>:ecs:.*:task-definition\\/${props.migrateDefinition.family}:\\*$/` }],
      },
      {
        id: 'AwsSolutions-IAM5',
        reason: 'Task ids are assigned by ECS when the migration task starts; DescribeTasks is limited to tasks of this one cluster.',
        appliesTo: [{ regex: `/^Resource::arn:<AWS::Partition>:ecs:.*:task\\/${props.clusterName}\\/\\*$/` }],
      },
    ], true);
  }
}
