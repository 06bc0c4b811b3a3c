import { CfnOutput, RemovalPolicy, Stack, StackProps } from 'aws-cdk-lib';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import { Construct } from 'constructs';

// The image repository, a stack of its own: the first deploy creates it, an image is
// pushed, and only then does the service stack start tasks from it.
export class RegistryStack extends Stack {
  readonly repository: ecr.Repository;
  readonly repositoryName = 'inkwell';

  constructor(scope: Construct, id: string, props: StackProps) {
    super(scope, id, props);
    this.repository = new ecr.Repository(this, 'Repository', {
      repositoryName: this.repositoryName,
      // A tag names one image forever: what a task definition names is what runs.
      imageTagMutability: ecr.TagMutability.IMMUTABLE,
      imageScanOnPush: true,
      lifecycleRules: [{ description: 'keep the last 50 images', maxImageCount: 50 }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    new CfnOutput(this, 'RepositoryUri', { value: this.repository.repositoryUri });
  }
}
