import { App, Aspects } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { InkwellStack } from './inkwell-stack';
import { RegistryStack } from './registry-stack';

// Settings come from CDK context (cdk.json, or `-c key=value`): account and region are
// fixed so that synth needs no credentials and looks nothing up.
export interface Settings {
  account: string;
  region: string;
  // ACM certificate of the API's host name, in the stack's region.
  certificateArn: string;
  // INKWELL_PUBLIC_URL: the API's external base URL.
  publicUrl: string;
  // INKWELL_CORS_ORIGINS, and the origins the upload bucket lets browsers PUT from.
  corsOrigins: string;
  // The tag in the ECR repository that the first deploy starts; later releases are
  // CodeDeploy deployments of new task definition revisions (deploy/aws.md).
  imageTag: string;
  availabilityZones: string[];
  // Upper bound of the service's task count.
  maxTasks: number;
  dbInstanceClass: string;
  redisNodeType: string;
  // Optional CIDR allowed to reach the test listener (8443) during a deployment.
  testListenerCidr?: string;
  // "owner/name" of the GitHub repository whose deploy workflow may assume the deploy role.
  githubRepository: string;
  // An existing token.actions.githubusercontent.com provider of the account, imported
  // instead of created (an account holds one per issuer).
  githubOidcProviderArn?: string;
}

export function settingsFrom(app: App): Settings {
  const get = (key: string): string | undefined => {
    const v = app.node.tryGetContext(key);
    return v === undefined || v === null || v === '' ? undefined : String(v);
  };
  const need = (key: string): string => {
    const v = get(key);
    if (v === undefined) {
      throw new Error(`context '${key}' is required (cdk.json, or -c ${key}=…)`);
    }
    return v;
  };
  const region = need('region');
  return {
    account: need('account'),
    region,
    certificateArn: need('certificateArn'),
    publicUrl: need('publicUrl'),
    corsOrigins: get('corsOrigins') ?? '',
    imageTag: need('imageTag'),
    availabilityZones: (get('availabilityZones') ?? `${region}a,${region}b`).split(','),
    maxTasks: Number(get('maxTasks') ?? '8'),
    dbInstanceClass: get('dbInstanceClass') ?? 'db.t4g.medium',
    redisNodeType: get('redisNodeType') ?? 'cache.t4g.micro',
    testListenerCidr: get('testListenerCidr'),
    githubRepository: need('githubRepository'),
    githubOidcProviderArn: get('githubOidcProviderArn'),
  };
}

// buildApp is the whole app, for bin/inkwell.ts and the tests alike.
export function buildApp(app: App): { registry: RegistryStack; inkwell: InkwellStack } {
  const s = settingsFrom(app);
  const env = { account: s.account, region: s.region };
  const registry = new RegistryStack(app, 'InkwellRegistry', { env });
  const inkwell = new InkwellStack(app, 'Inkwell', { env, settings: s, repositoryName: registry.repositoryName });
  Aspects.of(app).add(new AwsSolutionsChecks({ verbose: true }));
  return { registry, inkwell };
}
