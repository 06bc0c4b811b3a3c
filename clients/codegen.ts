import type { CodegenConfig } from '@graphql-codegen/cli';

// Typed documents for every operation in src/operations, checked against the server's
// schema. `npm run check` regenerates in check mode, so a schema change that breaks an
// operation, or a forgotten regeneration, fails CI.
const config: CodegenConfig = {
  schema: '../schema.graphql',
  documents: 'src/operations/**/*.graphql',
  overwrite: true,
  generates: {
    'src/generated/graphql.ts': {
      // typescript-operations (v6) writes the input types operations use; the full
      // schema types of the typescript plugin are not needed by a client.
      plugins: ['typescript-operations', 'typed-document-node'],
      config: {
        useTypeImports: true,
        enumsAsTypes: true,
        strictScalars: true,
        scalars: { ID: 'string', String: 'string', Boolean: 'boolean', Int: 'number', Float: 'number', DateTime: 'string' },
      },
    },
  },
};

export default config;
